"""``ModelSpec.build`` of MERL: the authors' ResNet18-1D (its per-record min-max is the input
contract's), from a released checkpoint or random initialisation.

``weights``:

- a path: the released ``*_encoder.pth`` (the encoder's bare ``state_dict``, what the
  authors' linear probing loads), the whole pretrained model ``*_ckpt.pth`` (its
  ``ecg_encoder.`` keys are taken, the text encoder and projection heads left), a
  DataParallel ``module.`` prefix, a dict nesting the weights under ``state_dict``, or a
  ``.safetensors`` of any of these. The architecture is the file's
  (:func:`~bench.plugins.merl.resnet1d.config_from_state`); every encoder key must load
  (strict: missing, unexpected and mis-shaped keys are listed); the ``linear`` head the
  file may hold is replaced by the task's. ``init="file"``;
- ``None``: ``$BENCH_WEIGHTS_DIR/merl.{safetensors,pth,…}`` when present, else random init
  with a loud warning (nothing is downloaded);
- ``"random"``: random init on purpose, the released architecture (``paper``) or a CPU-size
  one (``quick``).

``bench convert-weights merl SRC DST`` writes the encoder state of any of these files as
safetensors (:func:`converted`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from bench.plugins.merl.resnet1d import ResNet1d, ResNetConfig, config_from_state
from torch import Tensor

from bench.api import BuiltModel, CheckpointError

#: The released ResNet18 (``paper``) and a CPU-size one of the same code path (``quick``).
PROFILES: dict[str, ResNetConfig] = {
    "paper": ResNetConfig(),
    "quick": ResNetConfig(widths=(16, 32, 64, 128)),
}
WEIGHTS_URL = "https://drive.google.com/drive/folders/13wb4DppUciMn-Y_qC2JRWTbZdz3xX0w2"
#: The head the authors' encoder file may hold (``ResNet.linear``, 10 classes by default).
HEAD_PREFIX = "linear."
#: Where the encoder sits in the authors' whole pretrained model (``ECGCLIP.ecg_encoder``).
ENCODER_PREFIX = "ecg_encoder."


class Merl(ResNet1d):
    """ResNet18-1D on windows ``(leads, 5000)`` as its input contract makes them: scaled
    to ``[0, 1]`` as a whole by the harness (``SignalRecipe(normalise="minmax-record")``,
    ``finetune_dataset.py``'s scaling)."""

    def tokens(self, x: Tensor) -> Tensor:
        """The last stage's map as time tokens ``(B, T', C)`` (the features contract; their
        mean over ``T'`` is the pooled feature the authors' linear probe classifies)."""
        return self.feature_map(x).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of the embedding."""
        return self.linear(self.tokens(x).mean(1))


def read_state(path: Path, trusted: bool = False) -> dict[str, Tensor]:
    """The encoder ``state_dict`` in ``path`` (the layouts of the module docstring), read
    with ``torch.load(weights_only=True)`` unless ``trusted``. Raises
    :class:`CheckpointError` naming the file, in one line
    (:func:`bench.api.load_state_dict_file`)."""
    from bench.api import load_state_dict_file, without_dataparallel

    state = without_dataparallel(load_state_dict_file(path, trusted))
    if any(key.startswith(ENCODER_PREFIX) for key in state):
        state = {
            key.removeprefix(ENCODER_PREFIX): value
            for key, value in state.items()
            if key.startswith(ENCODER_PREFIX)
        }
    return state


def read_encoder(path: Path, trusted: bool = False) -> tuple[dict[str, Tensor], ResNetConfig]:
    """The encoder state in ``path`` (:func:`read_state`) and its architecture; refuses a
    file that is no 12-lead MERL ResNet."""
    state = read_state(path, trusted)
    try:
        config = config_from_state(state)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a MERL ResNet state_dict ({exc})") from None
    if config.in_channels != 12:
        raise CheckpointError(
            f"{path}: a {config.in_channels}-lead checkpoint, but merl takes the 12 leads"
        )
    return state, config


def converted(src: str, trusted: bool = False) -> tuple[dict[str, Tensor], dict[str, str]]:
    """MERL's ``ModelSpec.convert_weights``: the encoder state of a released ``*_encoder.pth``
    (its ``linear`` head kept) or of the whole pretrained model's ``ecg_encoder``, checked by
    reading its architecture from it."""
    state, _ = read_encoder(Path(src), trusted)
    return state, {"source": Path(src).name}


def build_merl(
    *, num_classes: int, profile: str, input_size: int, weights: str | None, name: str
) -> BuiltModel:
    """Build MERL's encoder registered as ``name`` (see the module docstring)."""
    from bench.api import build_released

    return build_released(
        name,
        profile=profile,
        weights=weights,
        profiles=PROFILES,
        download_hint="no MERL checkpoint: download the ResNet18 encoder file (*_encoder.pth) "
        f"from {WEIGHTS_URL} and pass --weights PATH",
        read=read_encoder,
        make=lambda config: Merl(config, num_classes),
        ignore=(HEAD_PREFIX,),
        arch=lambda config: f"ResNet-1D (widths {list(config.widths)})",
        paper_arch="ResNet18-1D (MERL)",
    )


def saliency_layers(module: Merl) -> list[torch.nn.Module]:
    """Grad-CAM target: the last block (temporal map ``(B, C, T')``)."""
    return [module.stages[-1][-1]]
