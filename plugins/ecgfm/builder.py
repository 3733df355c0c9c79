"""``ModelSpec.build`` of ECG-FM: the released architecture (``paper``) or a CPU-size one
(``quick``), initialised from a file, the harness's own ECG-FM-style pretraining, or random.

``weights``:

- a path: a fairseq-signals ``.pt`` (pretrained or fine-tuned), a converted
  ``.safetensors`` or a ``bench pretrain --model ecg-fm`` checkpoint. The architecture is
  the file's; the head is always new; ``init`` is ``"file"`` (the runner records the
  file's SHA-256);
- ``None``: :func:`default_weights` — the harness's own pretraining checkpoint for the
  profile when it exists in the cache (``bench pretrain --model ecg-fm --as-default``
  writes it; ``init="wcr"``), else a file in ``$BENCH_WEIGHTS_DIR``, else random init with
  a loud warning;
- ``"random"``: random init on purpose.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Literal

from bench.plugins.ecgfm import ECGFM_SEGMENTS
from bench.plugins.ecgfm.model import EcgFmClassifier, EcgFmConfig, count_parameters

from bench.api import (
    BuiltModel,
    PretrainingFacts,
    RecordRule,
    SegmentAggregation,
    default_cache_dir,
)

RANDOM = "random"
#: Segment length (5 s at 500 Hz) of every ECG-FM input.
SEGMENT_SAMPLES = 2500

#: model profile → architecture. ``paper`` is the released ECG-FM.
PROFILES: dict[str, EcgFmConfig] = {
    "paper": EcgFmConfig(),
    "quick": EcgFmConfig(
        conv_layers=((64, 2, 2),) * 5,
        embed_dim=96,
        layers=3,
        heads=4,
        ffn_dim=192,
        conv_pos=16,
        conv_pos_groups=4,
    ),
}


def profile_config(profile: str) -> EcgFmConfig:
    """The architecture of ``profile``; unknown profiles are an error naming the choices."""
    try:
        return PROFILES[profile]
    except KeyError:
        raise ValueError(
            f"ecg-fm: unknown profile {profile!r}; expected one of {sorted(PROFILES)}"
        ) from None


def default_checkpoint_path(profile: str) -> Path:
    """Where the harness's own ECG-FM-style pretraining checkpoint of ``profile`` lives."""
    return default_cache_dir() / "ecgfm" / f"wcr-{profile}.safetensors"


#: Checkpoint metadata a ``bench pretrain --model ecg-fm`` file declares, recorded as the
#: cell's ``pretraining`` budget (:class:`PretrainingFacts`; the runner checks ``corpus``
#: against the evaluation sets).
PRETRAINING_KEYS = ("corpus", "steps", "segments", "loss")


def pretraining_facts(path: Path) -> PretrainingFacts | None:
    """What the safetensors metadata of ``path`` declares about its pretraining (the
    corpus, steps, segments and final loss of the harness's own pretraining); ``None``
    otherwise (a released fairseq-signals file declares none)."""
    from bench.api import read_metadata

    if path.suffix != ".safetensors":
        return None
    metadata = read_metadata(path)
    facts = {key: metadata[key] for key in PRETRAINING_KEYS if key in metadata}
    return PretrainingFacts(**facts) if facts else None


def default_weights(profile: str, input_size: int) -> str | None:
    """What ``weights=None`` means: the cached default checkpoint of ``profile``, else
    ``$BENCH_WEIGHTS_DIR/ecg-fm.{safetensors,pt}`` (``ecg-fm-quick.*`` for the quick
    profile), else ``None`` (random init)."""
    from bench.api import find_weights

    path = default_checkpoint_path(profile)
    if path.is_file():
        return str(path)
    found = find_weights("ecg-fm" if profile == "paper" else f"ecg-fm-{profile}", None)
    return str(found) if found else None


def build_ecgfm(
    *,
    num_classes: int,
    profile: str,
    input_size: int,
    weights: str | None,
    segments: SegmentAggregation = ECGFM_SEGMENTS,
) -> BuiltModel:
    """Build the ECG-FM segment classifier (see the module docstring); its head combines
    windows as ``segments`` says for a binary task until the harness sets the task's."""
    from bench.plugins.ecgfm.loader import merge_training_fields, read_checkpoint

    from bench.api import CheckpointError, load_into, warn_random_init

    config = profile_config(profile)
    init: Literal["random", "wcr", "file"] = "random"
    path, pretraining = None, None
    if weights is None:
        weights = default_weights(profile, input_size)
    if weights is None:
        warn_random_init(
            "ecg-fm",
            "no ECG-FM checkpoint: pass --weights mimic_iv_ecg_physionet_pretrained.pt or "
            f"pretrain one with `bench pretrain --model ecg-fm --profile {profile} --as-default`",
        )
    elif weights != RANDOM:
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"ecg-fm weights file not found: {path}")
    info: dict[str, object] = {"profile": profile}
    rule = RecordRule.for_task(segments, ())
    if path is None:
        module = EcgFmClassifier(config, num_classes, SEGMENT_SAMPLES, rule)
    else:
        loaded = read_checkpoint(path)
        config = merge_training_fields(loaded.config, config)
        module = EcgFmClassifier(config, num_classes, SEGMENT_SAMPLES, rule)
        try:
            load_into(module.encoder, loaded.encoder, ignore=())
        except CheckpointError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
        init = "wcr" if path == default_checkpoint_path(profile) else "file"
        info.update(source_model=loaded.model_name, dropped_keys=len(loaded.dropped))
        pretraining = pretraining_facts(path)
    info.update(
        architecture=asdict(config),
        segment_samples=SEGMENT_SAMPLES,
        params_m=round(count_parameters(module) / 1e6, 3),
    )
    arch = (
        "ECG-FM"
        if config.embed_dim == 768 and config.layers == 12
        else f"ECG-FM (width {config.embed_dim}, {config.layers} layers)"
    )
    return BuiltModel(
        module=module,
        init=init,
        weights=str(path) if path else None,
        config=info,
        arch=arch,
        pretraining=pretraining,
    )
