"""End-to-end pretraining recipes shared by ``bench pretrain``, ``bench pretrain-tokenizer``
and the default-checkpoint cache: corpus + tokenizer + model + loop.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench.plugins.heartbeit import corpus
from bench.plugins.heartbeit.mim import BeitMIM
from bench.plugins.heartbeit.model import BeitConfig
from bench.plugins.heartbeit.pretrain import PretrainConfig, PretrainResult, pretrain
from bench.plugins.heartbeit.tokenizers import VisualTokenizer
from bench.plugins.heartbeit.tokenizers.kmeans import KMeansTokenizer, fit_kmeans

#: Images the k-means tokenizer is fitted on by default (49 patches each at 112 px).
KMEANS_FIT_IMAGES = 2048


def current_shard() -> corpus.Shard:
    """This process's shard under an initialised process group, else the whole corpus."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return corpus.Shard(dist.get_rank(), dist.get_world_size())
    return corpus.Shard()


def _tensors(batches: Iterator[np.ndarray]) -> Iterator[torch.Tensor]:
    return (corpus.to_tensor(b) for b in batches)


def synthetic_pool(n: int, image_size: int, seed: int = 0) -> np.ndarray:
    """``n`` rendered synthetic ECG images (the same on every rank)."""
    batches = corpus.image_batches(
        corpus.SYNTHETIC, image_size=image_size, batch_size=64, seed=seed
    )
    return corpus.take(batches, n)


def fit_kmeans_tokenizer(
    source: str | np.ndarray,
    *,
    image_size: int,
    patch_size: int,
    codes: int = 512,
    downsample: int = 1,
    images: int = KMEANS_FIT_IMAGES,
    seed: int = 0,
) -> KMeansTokenizer:
    """Fit a k-means codebook on ``images`` images of ``source`` (a corpus name or an image
    pool), patches average-pooled ``downsample`` × ``downsample``; every rank sees the same
    images, so every rank gets the same codebook.
    """
    batch = min(64, images)
    if isinstance(source, np.ndarray):
        batches = iter(np.array_split(source, max(1, len(source) // batch)))
    else:
        batches = corpus.image_batches(source, image_size=image_size, batch_size=batch, seed=seed)
    return fit_kmeans(
        _tensors(batches),
        patch_size=patch_size,
        codes=codes,
        downsample=downsample,
        seed=seed,
        max_patches=images * (image_size // patch_size) ** 2,
    )


#: Images whose codes estimate the unigram entropy of a tokenizer's codes on a corpus.
ENTROPY_IMAGES = 1024


@torch.no_grad()
def code_unigram_entropy(tokenizer: VisualTokenizer, images: np.ndarray, batch: int = 128) -> float:
    """The entropy (nats) of the code frequencies of ``images`` (uint8 ``(N, H, W, 3)``)
    under ``tokenizer``: the masked-token loss of a model that predicts every patch's code
    from the corpus's code frequencies alone. A MIM checkpoint recovers ``entropy - loss``
    nats per masked patch beyond it (``docs/pretraining.md``)."""
    counts = torch.zeros(tokenizer.vocab_size, dtype=torch.float64)
    for start in range(0, len(images), batch):
        codes = tokenizer.tokens(corpus.to_tensor(images[start : start + batch]))
        counts += torch.bincount(codes.flatten().cpu(), minlength=tokenizer.vocab_size)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log()).sum())


def tokenizer_options(path: str | None, beit: BeitConfig) -> dict[str, Any]:
    """The options a :class:`bench.host.specs.TokenizerSpec` ``build`` receives."""
    return {"path": path, "patch_size": beit.patch_size, "image_size": beit.img_size}


def build_tokenizer(name: str, options: Mapping[str, Any]) -> VisualTokenizer:
    """A registered tokenizer by name (``bench_register_tokenizers``)."""
    from bench.api import get_host

    spec = get_host().registries.tokenizers.get(name)
    tokenizer: VisualTokenizer = spec.build(options)
    return tokenizer


def run_pretraining(
    *,
    source: str,
    beit: BeitConfig,
    tokenizer: VisualTokenizer,
    config: PretrainConfig,
    output_dir: str | Path,
    profile: str,
    resume: bool = False,
    progress: bool = True,
    pool: np.ndarray | None = None,
) -> PretrainResult:
    """Pretrain a fresh :class:`BeitMIM` of ``beit`` on ``source`` with ``tokenizer``.

    With ``pool`` (images pre-rendered from ``source``) training cycles over the pool
    instead of streaming fresh images.
    """
    torch.manual_seed(config.seed)
    model = BeitMIM(beit, tokenizer.vocab_size)
    shard = current_shard()

    def make_batches(start: int) -> Iterator[np.ndarray]:
        seed = int(np.random.SeedSequence([config.seed, start]).generate_state(1)[0])
        if pool is not None:
            return corpus.pool_batches(pool, batch_size=config.batch_size, seed=seed, shard=shard)
        return corpus.image_batches(
            source, image_size=beit.img_size, batch_size=config.batch_size, seed=seed, shard=shard
        )

    sample = pool if pool is not None else corpus.take(make_batches(0), ENTROPY_IMAGES)
    metadata = {
        "profile": profile,
        "corpus": corpus.describe(source),
        "render_hash": corpus.render_hash(source, beit.img_size),
        "code_unigram_entropy": f"{code_unigram_entropy(tokenizer, sample[:ENTROPY_IMAGES]):.4f}",
    }
    return pretrain(
        model,
        tokenizer,
        make_batches,
        config,
        output_dir,
        metadata=metadata,
        resume=resume,
        progress=progress,
    )
