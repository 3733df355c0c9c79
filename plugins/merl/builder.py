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
"""

from __future__ import annotations

from dataclasses import asdict
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


def read_state(path: Path) -> dict[str, Tensor]:
    """The encoder ``state_dict`` in ``path`` (the layouts of the module docstring), read
    with ``torch.load(weights_only=True)``. Raises :class:`CheckpointError` naming the file,
    in one line (:func:`bench.api.load_state_dict_file`)."""
    from bench.api import load_state_dict_file

    state = load_state_dict_file(path)
    if state and all(key.startswith("module.") for key in state):
        state = {key.removeprefix("module."): value for key, value in state.items()}
    if any(key.startswith(ENCODER_PREFIX) for key in state):
        state = {
            key.removeprefix(ENCODER_PREFIX): value
            for key, value in state.items()
            if key.startswith(ENCODER_PREFIX)
        }
    return state


def load_checkpoint(path: Path, num_classes: int) -> Merl:
    """A :class:`Merl` of ``path``'s architecture with its encoder loaded strictly and a new
    ``num_classes`` head."""
    from bench.api import load_into

    state = read_state(path)
    try:
        config = config_from_state(state)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a MERL ResNet state_dict ({exc})") from None
    if config.in_channels != 12:
        raise CheckpointError(
            f"{path}: a {config.in_channels}-lead checkpoint, but merl takes the 12 leads"
        )
    module = Merl(config, num_classes)
    try:
        load_into(module, state, ignore=(HEAD_PREFIX,))
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return module


def build_merl(
    *, num_classes: int, profile: str, input_size: int, weights: str | None, name: str
) -> BuiltModel:
    """Build MERL's encoder registered as ``name`` (see the module docstring)."""
    from bench.api import RANDOM, released_weights

    if profile not in PROFILES:
        raise ValueError(f"{name}: unknown profile {profile!r}; expected {sorted(PROFILES)}")
    path = released_weights(
        name,
        weights,
        f"no MERL checkpoint: download the ResNet18 encoder file (*_encoder.pth) from "
        f"{WEIGHTS_URL} and pass --weights PATH",
    )
    module = (
        Merl(PROFILES[profile], num_classes) if path is None else load_checkpoint(path, num_classes)
    )
    config = module.config
    released = config == PROFILES["paper"]
    info = {
        "profile": profile,
        "architecture": asdict(config),
        "params_m": round(sum(p.numel() for p in module.parameters()) / 1e6, 3),
    }
    return BuiltModel(
        module=module,
        init=RANDOM if path is None else "file",
        weights=None if path is None else str(path),
        config=info,
        arch="ResNet18-1D (MERL)" if released else f"ResNet-1D (widths {list(config.widths)})",
    )


def saliency_layers(module: Merl) -> list[torch.nn.Module]:
    """Grad-CAM target: the last block (temporal map ``(B, C, T')``)."""
    return [module.stages[-1][-1]]
