"""The unlabelled image stream MIM pretraining reads.

Sources:

- ``"synthetic"``: the built-in synthetic ECG generator
  (:func:`bench.data.synthetic.stream_unlabelled`), put through the paper's preprocessing
  and the fast renderer on the fly; an endless stream.
- a folder of PNG/JPEG images (e.g. ECGs rendered elsewhere), read in a seeded shuffled
  order, epoch after epoch, resized to the model's input size.

Both shard across distributed ranks: the synthetic stream draws a different seed per rank
(and per resumed start step), a folder gives every rank a disjoint slice of the files.
Batches are ``(B, size, size, 3)`` uint8 arrays; :func:`to_tensor` turns them into model input.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SYNTHETIC = "synthetic"


@dataclass(frozen=True)
class Shard:
    """Which part of the corpus this process reads: ``rank`` of ``world_size``."""

    rank: int = 0
    world_size: int = 1


def describe(source: str) -> str:
    """The corpus declaration recorded in checkpoints (:class:`bench.weights.contamination.Corpus`)."""
    from bench.api import SYNTHETIC_STREAM, Corpus

    corpus = SYNTHETIC_STREAM if source == SYNTHETIC else Corpus(f"folder:{Path(source).name}")
    return corpus.to_metadata()


def render_hash(source: str, image_size: int) -> str:
    """Hash of the image recipe: the render config for synthetic data, ``"external"`` else."""
    if source != SYNTHETIC:
        return "external"
    from bench.api import RenderConfig

    return RenderConfig(size=image_size).hash()


def _synthetic_batches(
    image_size: int, batch_size: int, seed: int, shard: Shard
) -> Iterator[np.ndarray]:
    from bench.api import (
        STANDARD_LEADS,
        ECGSignal,
        RenderConfig,
        preprocess_batch,
        render_batch,
        stream_unlabelled,
    )

    config = RenderConfig(size=image_size)
    stream_seed = int(np.random.SeedSequence([seed, shard.rank]).generate_state(1)[0])
    for raw in stream_unlabelled(seed=stream_seed, batch_size=batch_size):
        signals = [ECGSignal(data=r, fs=500.0, leads=STANDARD_LEADS) for r in raw]
        yield render_batch(preprocess_batch(signals), config)


def _load_image(path: Path, image_size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise ValueError(f"{path}: cannot read image ({exc})") from exc
    if rgb.size != (image_size, image_size):
        rgb = rgb.resize((image_size, image_size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def list_images(folder: Path) -> list[Path]:
    """Image files directly or recursively under ``folder``, sorted; error when none."""
    if not folder.is_dir():
        raise ValueError(f"pretraining data {str(folder)!r} is neither 'synthetic' nor a folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
    return files


def _folder_batches(
    folder: Path, image_size: int, batch_size: int, seed: int, shard: Shard
) -> Iterator[np.ndarray]:
    files = list_images(folder)[shard.rank :: shard.world_size]
    if len(files) < batch_size:
        raise ValueError(
            f"{folder}: {len(files)} images for rank {shard.rank} of {shard.world_size} are "
            f"fewer than one batch of {batch_size}"
        )
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(files))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield np.stack(
                [_load_image(files[i], image_size) for i in order[start : start + batch_size]]
            )


def image_batches(
    source: str, *, image_size: int, batch_size: int, seed: int = 0, shard: Shard = Shard()
) -> Iterator[np.ndarray]:
    """Endless ``(B, image_size, image_size, 3)`` uint8 batches from ``source``."""
    if source == SYNTHETIC:
        return _synthetic_batches(image_size, batch_size, seed, shard)
    return _folder_batches(Path(source), image_size, batch_size, seed, shard)


def take(batches: Iterator[np.ndarray], n: int) -> np.ndarray:
    """The first ``n`` images of a batch stream, as one array (a reusable pool)."""
    chunks, total = [], 0
    while total < n:
        batch = next(batches)
        chunks.append(batch)
        total += len(batch)
    return np.concatenate(chunks)[:n]


def pool_batches(
    pool: np.ndarray, *, batch_size: int, seed: int = 0, shard: Shard = Shard()
) -> Iterator[np.ndarray]:
    """Endless shuffled batches from an in-memory ``pool`` (this rank's slice of it).

    Rendering the synthetic corpus costs more CPU than a quick-size training step, so CPU
    runs pre-render a pool once and make several passes over it.
    """
    part = pool[shard.rank :: shard.world_size]
    if len(part) < batch_size:
        raise ValueError(
            f"image pool of {len(part)} per rank is smaller than a batch ({batch_size})"
        )
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(part))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield part[np.sort(order[start : start + batch_size])]


def to_tensor(batch: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` → float ``(B, 3, H, W)`` in [0, 1] on ``device``."""
    images = torch.from_numpy(np.ascontiguousarray(batch)).to(device)
    return images.permute(0, 3, 1, 2).float().div_(255)
