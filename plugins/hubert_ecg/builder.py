"""``ModelSpec.build`` of HuBERT-ECG: the pure-PyTorch port (:mod:`bench.plugins.hubert_ecg.model`)
from a released checkpoint or random initialisation, at one of the three released sizes.

``weights``:

- a path: the Hugging Face ``model.safetensors`` with its ``config.json`` beside it, a
  ``bench convert-weights hubert-ecg`` file, or the authors' legacy ``.pt``
  (:mod:`bench.plugins.hubert_ecg.loader`). The architecture is the file's; every encoder
  key must load (strict: missing, unexpected and mis-shaped keys are listed); the head is
  the task's. A file of another released size than the registered name's is refused,
  naming the model to use. ``init="file"``;
- ``None``: ``$BENCH_WEIGHTS_DIR/<model name>.safetensors`` (a converted file) when present,
  else random init with a loud warning (nothing is downloaded);
- ``"random"``: random init on purpose, the released size (``paper``) or a CPU-size
  encoder of the same code path (``quick``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bench.plugins.hubert_ecg.loader import NOT_ENCODER, read_checkpoint
from bench.plugins.hubert_ecg.model import WINDOW_SAMPLES, HubertEcg, HubertEcgConfig
from torch import Tensor

from bench.api import BuiltModel, CheckpointError, SegmentAggregation

#: The released sizes (``pretrain.py``'s ``largeness``; conv stem of ``downsampling_factor=5``).
SIZES: dict[str, HubertEcgConfig] = {
    "small": HubertEcgConfig(
        hidden_size=512, num_hidden_layers=8, num_attention_heads=8, intermediate_size=2048
    ),
    "base": HubertEcgConfig(),
    "large": HubertEcgConfig(
        hidden_size=960, num_hidden_layers=16, num_attention_heads=12, intermediate_size=3840
    ),
}
#: A CPU-size encoder of the same code path (the ``quick`` profile of every size).
QUICK = HubertEcgConfig(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=128,
    conv_dim=(64,) * 5,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=4,
)
PROFILES = ("paper", "quick")
WEIGHTS_URL = "https://huggingface.co/Edoardo-BS/hubert-ecg-{size}"
#: The name registered for each released size.
NAMES = {"small": "hubert-ecg-small", "base": "hubert-ecg", "large": "hubert-ecg-large"}


def released_size(config: HubertEcgConfig) -> str | None:
    """The released size ``config`` is (ignoring ``layer_norm_eps``), else ``None``."""
    for size, released in SIZES.items():
        if replace(config, layer_norm_eps=released.layer_norm_eps) == released:
            return size
    return None


def read_sized(path: Path, size: str) -> tuple[dict[str, Tensor], HubertEcgConfig]:
    """The encoder state in ``path`` and its architecture (:func:`read_checkpoint`); a file
    of another released size than ``size`` is refused, naming the model to use."""
    state, config = read_checkpoint(path)
    found = released_size(config)
    if found not in (None, size):
        raise CheckpointError(
            f"{path}: a HuBERT-ECG {found} checkpoint, but {NAMES[size]} is the {size} size; "
            f"use --model {NAMES[found]}"
        )
    return state, config


def arch_label(config: HubertEcgConfig) -> str:
    """``BuiltModel.arch`` of ``config``: its released size, else its width and depth."""
    found = released_size(config)
    if found:
        return f"HuBERT-ECG {found}"
    return f"HuBERT-ECG (width {config.hidden_size}, {config.num_hidden_layers} layers)"


def build_hubert_ecg(
    *,
    num_classes: int,
    profile: str,
    input_size: int,
    weights: str | None,
    name: str,
    size: str,
    segments: SegmentAggregation,
) -> BuiltModel:
    """Build the HuBERT-ECG ``size`` registered as ``name`` (see the module docstring); its
    head averages window scores as ``segments`` says until the harness sets the task's."""
    from bench.api import RecordRule, build_released

    if profile in PROFILES and input_size != WINDOW_SAMPLES:
        raise ValueError(
            f"{name}: the encoder takes {WINDOW_SAMPLES}-sample windows (5 s at 500 Hz), the "
            f"input contract gives {input_size}"
        )
    return build_released(
        name,
        profile=profile,
        weights=weights,
        profiles={"paper": SIZES[size], "quick": QUICK},
        download_hint="no HuBERT-ECG checkpoint: download model.safetensors and config.json "
        f"from {WEIGHTS_URL.format(size=size)} and pass --weights FOLDER/model.safetensors",
        read=lambda path: read_sized(path, size),
        make=lambda config: HubertEcg(config, num_classes, RecordRule.for_task(segments, ())),
        ignore=NOT_ENCODER,
        encoder=lambda module: module.hubert_ecg,
        details={"segment_samples": WINDOW_SAMPLES},
        arch=arch_label,
    )
