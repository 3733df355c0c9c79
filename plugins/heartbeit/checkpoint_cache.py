"""The default HeartBEiT weights: a MIM-pretrained checkpoint per profile and input size,
kept in the cache directory and created (quick recipe) the first time it is needed.

Cache: ``$BENCH_CACHE_DIR`` (default ``~/.cache/ecg-bench``) ``/heartbeit/``. A file lock
serialises concurrent creators and the checkpoint appears by atomic rename, so two
processes never see or write a half-written file. ``BENCH_PRETRAIN_STEPS`` overrides the
number of pretraining steps (the default is budgeted at ~3 minutes on 2 CPU cores).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.plugins.heartbeit.model import profile_config
from bench.plugins.heartbeit.pretrain import PretrainConfig

from bench.config import CACHE_ENV, default_cache_dir

STEPS_ENV = "BENCH_PRETRAIN_STEPS"
#: ~3 minutes at the quick size on 2 CPU cores (batch 32, 112 px).
DEFAULT_STEPS = 400
DEFAULT_BATCH = 32
#: Synthetic images rendered once and cycled over (rendering is slower than training).
DEFAULT_POOL = 2048
CODES = 512


def default_steps() -> int:
    """Pretraining steps of the default checkpoint (``BENCH_PRETRAIN_STEPS`` overrides)."""
    value = os.environ.get(STEPS_ENV)
    if value is None:
        return DEFAULT_STEPS
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{STEPS_ENV} must be a positive integer, got {value!r}")
    return int(value)


def default_checkpoint_path(profile: str, input_size: int) -> Path:
    """Where the default checkpoint of ``profile`` at ``input_size`` lives."""
    name = f"mim-{profile}-{input_size}px-kmeans{CODES}-s{default_steps()}.safetensors"
    return default_cache_dir() / "heartbeit" / name


def ensure_default_checkpoint(profile: str, input_size: int) -> Path:
    """The default checkpoint, pretraining it on the synthetic corpus if it is missing."""
    path = default_checkpoint_path(profile, input_size)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.is_file():  # another process may have finished it meanwhile
            _create(path, profile, input_size)
    return path


def _create(path: Path, profile: str, input_size: int) -> None:
    from bench.plugins.heartbeit.recipe import fit_kmeans_tokenizer, run_pretraining, synthetic_pool

    steps = default_steps()
    beit = profile_config(profile, input_size)
    print(
        f"heartbeit: no pretrained checkpoint for profile {profile!r} at {input_size}px; "
        f"creating one now: k-means tokenizer (512 codes) + {steps} steps of MIM pretraining "
        f"on the synthetic ECG corpus. It will be cached at {path} "
        f"(set {STEPS_ENV} to change the steps, {CACHE_ENV} to move the cache).",
        file=sys.stderr,
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix=".mim-", dir=path.parent))
    try:
        # enough images for the steps (up to DEFAULT_POOL) and >= 2 patches per code
        needed = -(-2 * CODES // beit.num_patches)
        pool = synthetic_pool(min(DEFAULT_POOL, max(steps * DEFAULT_BATCH, needed)), beit.img_size)
        tokenizer = fit_kmeans_tokenizer(
            pool, image_size=beit.img_size, patch_size=beit.patch_size, codes=CODES,
            images=len(pool),
        )  # fmt: skip
        config = PretrainConfig(steps=steps, batch_size=DEFAULT_BATCH, warmup_steps=min(20, steps))
        result = run_pretraining(
            source="synthetic",
            beit=beit,
            tokenizer=tokenizer,
            config=config,
            output_dir=work,
            profile=profile,
            pool=pool,
        )
        assert result.checkpoint is not None
        os.replace(result.checkpoint, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"heartbeit: wrote {path}", file=sys.stderr, flush=True)
