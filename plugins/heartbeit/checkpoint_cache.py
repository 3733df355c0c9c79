"""The default HeartBEiT weights: a MIM-pretrained checkpoint per profile and input size,
kept in the cache directory and created (quick recipe) the first time it is needed.

Cache: ``$BENCH_CACHE_DIR`` (default ``~/.cache/ecg-bench``) ``/heartbeit/``. A file lock
serialises concurrent creators and the checkpoint appears by atomic rename, so two
processes never see or write a half-written file. ``BENCH_PRETRAIN_STEPS`` overrides the
number of pretraining steps of :data:`DEFAULT_RECIPE`.
"""

from __future__ import annotations

import fcntl
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from bench.plugins.heartbeit.model import profile_config
from bench.plugins.heartbeit.pretrain import PretrainConfig
from bench.plugins.heartbeit.tokenizers.kmeans import DEFAULT_DOWNSAMPLE

from bench.api import CACHE_ENV, default_cache_dir

STEPS_ENV = "BENCH_PRETRAIN_STEPS"
#: Steps the reported masked-token loss is averaged over (one step's loss is noisy).
LOSS_WINDOW = 20

#: The optimisation settings of the current recipe (see :class:`Recipe`).
RECIPE_TRAINING = PretrainConfig(
    steps=600, batch_size=64, lr=2e-3, warmup_steps=30, min_lr_ratio=0.01, mask_ratio=0.4
)


@dataclass(frozen=True)
class Recipe:
    """How the default checkpoint is made. ``version`` is part of the file name, so a
    checkpoint cached under an older recipe is never reused for a newer one.

    r2 (measured with ``benchmarks/mim_recipe_search.py``, docs/pretraining.md): 600 steps
    of batch 64 at peak lr 2e-3 on 2×-pooled k-means codes, with the paper-centred patch
    embedding of :mod:`plugins.heartbeit.mim`; ~5 minutes on 2 cores, masked-token loss
    2.71 (r1: 400 steps of batch 32 at 1.5e-3 on raw patches, ~3 minutes, loss ~4.0).
    """

    version: str = "r2"
    #: k-means codes of the tokenizer (fitted on the pool).
    codes: int = 512
    #: Average-pooling of each patch before it is coded (1: raw 16×16 pixels).
    downsample: int = DEFAULT_DOWNSAMPLE
    #: Synthetic images rendered once and cycled over (rendering is slower than training).
    pool: int = 2048
    #: The optimisation; every setting not named in it keeps its :class:`PretrainConfig` default.
    training: PretrainConfig = RECIPE_TRAINING

    @property
    def steps(self) -> int:
        """Pretraining steps (part of the checkpoint's file name)."""
        return self.training.steps

    def with_steps(self, steps: int) -> Recipe:
        """This recipe trained for ``steps`` steps."""
        return replace(self, training=replace(self.training, steps=steps))

    def uniform_loss(self) -> float:
        """The masked-token loss of a uniform guess over the codes, ``ln(codes)``."""
        return math.log(self.codes)

    def pool_size(self, num_patches: int) -> int:
        """Images to render: enough for the steps (up to :attr:`pool`) and >= 2 patches
        per code for the tokenizer."""
        needed = -(-2 * self.codes // num_patches)
        return min(self.pool, max(self.steps * self.training.batch_size, needed))

    def pretrain_config(self) -> PretrainConfig:
        """The optimisation settings, the warm-up no longer than the run."""
        return replace(self.training, warmup_steps=min(self.training.warmup_steps, self.steps))


DEFAULT_RECIPE = Recipe()


def default_steps() -> int:
    """Pretraining steps of the default checkpoint (``BENCH_PRETRAIN_STEPS`` overrides)."""
    value = os.environ.get(STEPS_ENV)
    if value is None:
        return DEFAULT_RECIPE.steps
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{STEPS_ENV} must be a positive integer, got {value!r}")
    return int(value)


def default_recipe() -> Recipe:
    """:data:`DEFAULT_RECIPE` with the steps ``BENCH_PRETRAIN_STEPS`` may set."""
    return DEFAULT_RECIPE.with_steps(default_steps())


def default_checkpoint_path(profile: str, input_size: int) -> Path:
    """Where the default checkpoint of ``profile`` at ``input_size`` lives."""
    r = default_recipe()
    name = f"mim-{profile}-{input_size}px-kmeans{r.codes}-{r.version}-s{r.steps}.safetensors"
    return default_cache_dir() / "heartbeit" / name


def planned_weights(profile: str, input_size: int) -> str:
    """HeartBEiT's ``ModelSpec.planned_weights``: where :func:`default_weights` keeps the
    default checkpoint, without creating it (a dry run)."""
    return str(default_checkpoint_path(profile, input_size))


def default_weights(profile: str, input_size: int) -> str:
    """HeartBEiT's ``ModelSpec.default_weights``: the cached default MIM checkpoint of
    ``profile`` at ``input_size`` (created, by a short seeded pretraining on the synthetic
    stream, the first time it is needed)."""
    return str(ensure_default_checkpoint(profile, input_size))


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

    recipe = default_recipe()
    beit = profile_config(profile, input_size)
    print(
        f"heartbeit: no pretrained checkpoint for profile {profile!r} at {input_size}px; "
        f"creating one now: k-means tokenizer ({recipe.codes} codes) + {recipe.steps} steps "
        f"of MIM pretraining on the synthetic ECG corpus. It will be cached at {path} "
        f"(set {STEPS_ENV} to change the steps, {CACHE_ENV} to move the cache).",
        file=sys.stderr,
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix=".mim-", dir=path.parent))
    try:
        pool = synthetic_pool(recipe.pool_size(beit.num_patches), beit.img_size)
        tokenizer = fit_kmeans_tokenizer(
            pool, image_size=beit.img_size, patch_size=beit.patch_size, codes=recipe.codes,
            downsample=recipe.downsample, images=len(pool),
        )  # fmt: skip
        result = run_pretraining(
            source="synthetic",
            beit=beit,
            tokenizer=tokenizer,
            config=recipe.pretrain_config(),
            output_dir=work,
            profile=profile,
            pool=pool,
        )
        assert result.checkpoint is not None
        os.replace(result.checkpoint, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    from bench.api import read_metadata

    window = result.losses[-LOSS_WINDOW:]
    loss = sum(window) / len(window)
    entropy = float(read_metadata(path)["code_unigram_entropy"])
    print(
        f"heartbeit: wrote {path} (masked-token loss {loss:.2f}, the mean of the last "
        f"{len(window)} steps: {entropy - loss:.2f} nats per masked patch recovered beyond "
        f"the codes' unigram entropy {entropy:.2f}; {recipe.uniform_loss():.2f} for a uniform "
        "guess)",
        file=sys.stderr,
        flush=True,
    )
