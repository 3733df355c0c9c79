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

from dataclasses import asdict, replace
from pathlib import Path

from bench.plugins.hubert_ecg.loader import NOT_ENCODER, read_checkpoint
from bench.plugins.hubert_ecg.model import WINDOW_SAMPLES, HubertEcg, HubertEcgConfig

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


def load_checkpoint(path: Path, size: str, num_classes: int, segments: SegmentAggregation):
    """A :class:`HubertEcg` of ``path``'s architecture with its encoder loaded strictly and a
    new ``num_classes`` head; a file of another released size than ``size`` is refused."""
    from bench.api import RecordRule, load_into

    state, config = read_checkpoint(path)
    found = released_size(config)
    if found not in (None, size):
        raise CheckpointError(
            f"{path}: a HuBERT-ECG {found} checkpoint, but {NAMES[size]} is the {size} size; "
            f"use --model {NAMES[found]}"
        )
    module = HubertEcg(config, num_classes, RecordRule.for_task(segments, ()))
    try:
        load_into(module.hubert_ecg, state, ignore=NOT_ENCODER)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return module


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
    from bench.api import RANDOM, RecordRule, released_weights

    if profile not in PROFILES:
        raise ValueError(f"{name}: unknown profile {profile!r}; expected one of {list(PROFILES)}")
    if input_size != WINDOW_SAMPLES:
        raise ValueError(
            f"{name}: the encoder takes {WINDOW_SAMPLES}-sample windows (5 s at 500 Hz), the "
            f"input contract gives {input_size}"
        )
    path = released_weights(
        name,
        weights,
        f"no HuBERT-ECG checkpoint: download model.safetensors and config.json from "
        f"{WEIGHTS_URL.format(size=size)} and pass --weights FOLDER/model.safetensors",
    )
    if path is None:
        config = SIZES[size] if profile == "paper" else QUICK
        module = HubertEcg(config, num_classes, RecordRule.for_task(segments, ()))
    else:
        module = load_checkpoint(path, size, num_classes, segments)
    config = module.config
    found = released_size(config)
    return BuiltModel(
        module=module,
        init=RANDOM if path is None else "file",
        weights=None if path is None else str(path),
        config={
            "profile": profile,
            "architecture": asdict(config),
            "segment_samples": WINDOW_SAMPLES,
            "params_m": round(sum(p.numel() for p in module.parameters()) / 1e6, 3),
        },
        arch=f"HuBERT-ECG {found}"
        if found
        else f"HuBERT-ECG (width {config.hidden_size}, {config.num_hidden_layers} layers)",
    )
