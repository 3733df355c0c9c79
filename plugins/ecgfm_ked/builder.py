"""``ModelSpec.build`` of ECGFM-KED: the authors' ``xresnet1d101`` ECG encoder, from a
released checkpoint or random initialisation, with a linear head on its time-pooled map.

``weights``:

- a path: the released training checkpoint (``best_valid_all_increase_with_augment_
  epoch_3.pt``: ``main_mimiciv.py``'s ``save_obj``, a dict whose ``ecg_model`` is the
  encoder's ``state_dict`` beside ``model`` (the TQN decoder), ``text_encoder``,
  ``optimizer``, ``lr_scheduler``, ``config``, ``epoch``; only ``ecg_model`` is taken), the
  encoder's bare ``state_dict``, either with a DataParallel ``module.`` prefix, or a
  ``.safetensors`` of the encoder. Read with ``torch.load(weights_only=True)``. The
  architecture is the file's (:func:`~bench.plugins.ecgfm_ked.xresnet1d.config_from_
  state`); every encoder key must load (strict: missing, unexpected and mis-shaped keys
  are listed). ``init="file"``;
- ``None``: ``$BENCH_WEIGHTS_DIR/ecgfm-ked.{safetensors,pt,…}`` when present, else random
  init with a loud warning (nothing is downloaded);
- ``"random"``: random init on purpose, the released architecture (``paper``) or a
  CPU-size one of the same code path (``quick``, which ``--profile tiny`` builds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import torch
from bench.plugins.ecgfm_ked.xresnet1d import XResNet1d, XResNetConfig, config_from_state
from torch import Tensor, nn

from bench.api import BuiltModel, CheckpointError

#: The released xresnet1d101 (``paper``) and CPU-size ones of the same code path.
PROFILES: dict[str, XResNetConfig] = {
    "paper": XResNetConfig(),
    "quick": XResNetConfig(stem=(16, 16, 64), widths=(16, 32, 32, 48), blocks=(1, 1, 2, 1)),
}
WEIGHTS_URL = "https://zenodo.org/records/14881564"
#: Where the encoder sits in the authors' training checkpoint.
ENCODER_KEY = "ecg_model"


class EcgfmKed(nn.Module):
    """The encoder ``encoder`` (upstream's ``ecg_model``) and a task head ``head`` on the
    time-mean of its last map, the authors' ``ecg_features_pool``."""

    def __init__(self, config: XResNetConfig, num_classes: int) -> None:
        super().__init__()
        self.config = config
        self.encoder = XResNet1d(config)
        self.head = nn.Linear(config.out_channels, num_classes)

    def tokens(self, x: Tensor) -> Tensor:
        """The last map as time tokens ``(B, T', 768)`` of windows ``(B, 12, 1000)`` in mV
        (the features contract; their mean over ``T'`` is the authors' pooled feature)."""
        return self.encoder(x).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of the pooled feature."""
        return self.head(self.tokens(x).mean(1))


def read_state(path: Path, trusted: bool = False) -> dict[str, Tensor]:
    """The encoder ``state_dict`` in ``path`` (the layouts of the module docstring; full
    unpickling only when ``trusted``). Raises :class:`CheckpointError` naming the file, in
    one line."""
    from bench.api import load_state_dict_file, read_torch_file, tensor_state

    obj: Any = (
        load_state_dict_file(path)
        if path.suffix == ".safetensors"
        else read_torch_file(path, trusted)
    )
    if isinstance(obj, dict) and ENCODER_KEY in obj:
        obj = obj[ENCODER_KEY]
    expected = (
        f"the encoder's state_dict or a KED checkpoint with '{ENCODER_KEY}' (a mapping of "
        "parameter names to tensors)"
    )
    return tensor_state(obj, path, expected)


def architecture(path: Path, state: dict[str, Tensor]) -> XResNetConfig:
    """The :class:`XResNetConfig` of ``path``'s ``state``; refuses a file that is no
    xresnet1d encoder."""
    try:
        return config_from_state(state)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: not an ECGFM-KED xresnet1d state_dict ({exc})") from None


def read_encoder(path: Path) -> tuple[dict[str, Tensor], XResNetConfig]:
    """The encoder state in ``path`` and its architecture; refuses a file that is no 12-lead
    xresnet1d, or whose ``convs``/``convpath`` aliases (one tensor upstream) differ."""
    state = read_state(path)
    config = architecture(path, state)
    if config.in_channels != 12:
        raise CheckpointError(
            f"{path}: a {config.in_channels}-lead checkpoint, but ecgfm-ked takes the 12 leads"
        )
    for key, value in state.items():
        alias = key.replace(".convpath.0.", ".convs.", 1)
        if alias != key and alias in state and not torch.equal(value, state[alias]):
            raise CheckpointError(
                f"{path}: {key} differs from {alias}; upstream stores one tensor under both"
            )
    return state, config


def converted(src: str, trusted: bool = False) -> tuple[dict[str, Tensor], dict[str, str]]:
    """ECGFM-KED's ``ModelSpec.convert_weights``: the encoder state of a released training
    checkpoint (its ``ecg_model``), checked by reading its architecture from it; each
    tensor is copied, as safetensors cannot store the ``convs``/``convpath`` aliases as
    one."""
    state = read_state(Path(src), trusted)
    architecture(Path(src), state)
    return {k: v.clone() for k, v in state.items()}, {"source": Path(src).name}


def build_ecgfm_ked(
    *, num_classes: int, profile: str, input_size: int, weights: str | None, name: str
) -> BuiltModel:
    """Build ECGFM-KED's encoder registered as ``name`` (see the module docstring)."""
    from bench.api import build_released

    return build_released(
        name,
        profile=profile,
        weights=weights,
        profiles=PROFILES,
        download_hint="no ECGFM-KED checkpoint: download best_valid_all_increase_with_augment_"
        f"epoch_3.pt from {WEIGHTS_URL} and pass --weights PATH",
        read=read_encoder,
        make=lambda config: EcgfmKed(config, num_classes),
        ignore=(),
        encoder=lambda module: module.encoder,
        arch=lambda c: f"xresnet1d (widths {list(c.widths)}, blocks {list(c.blocks)})",
        paper_arch="xresnet1d101 (ECGFM-KED)",
    )


def saliency_layers(module: EcgfmKed) -> list[torch.nn.Module]:
    """Grad-CAM target: the last block (temporal map ``(B, C, T')``)."""
    return [cast(nn.Sequential, module.encoder[-1])[-1]]
