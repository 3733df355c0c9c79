"""Wasserstein distances between image sets (and embedding sets) with POT.

- **Pixel-intensity W1** (the HeartBEiT paper's measure): the 1-D W1 between the grey-level
  (0–255) distributions of two images. With 256-bin histograms ``h`` and CDFs ``C``,
  W1 = Σ_k |C_a[k] − C_b[k]| (bin width 1), so all pairs of two sets are one L1 distance
  matrix between CDF rows (``scipy.spatial.distance.cdist``, chunked by rows).
- **Spatial 2-D EMD**: images downsampled to ``size × size`` grey mass distributions,
  ground cost = Euclidean distance between pixel centres (grid units), POT's exact
  network-simplex solver ``ot.emd2``, on a random sample of pairs.
- **Sliced Wasserstein** between two embedding sets ``(N, D)``/``(M, D)`` from an encoder.

Grey level = ITU-R 601 luma rounded to an integer, ``(299 R + 587 G + 114 B + 500) // 1000``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import ot
from PIL import Image
from scipy.spatial.distance import cdist

LEVELS = 256
#: Rows of one chunk of the distance matrix.
ROW_CHUNK = 1024
#: Images converted and histogrammed per batch.
IMAGE_CHUNK = 64


def to_grey(images: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` or ``(N, H, W, 3)`` uint8 images → ``(N, H, W)`` uint8 grey levels."""
    x = np.asarray(images)
    if x.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0–255 grey levels), got dtype {x.dtype}")
    if x.ndim == 3:
        return x
    if x.ndim == 4 and x.shape[-1] == 3:
        r, g, b = (x[..., c].astype(np.uint32) for c in range(3))
        return ((299 * r + 587 * g + 114 * b + 500) // 1000).astype(np.uint8)
    raise ValueError(f"images must have shape (N, H, W) or (N, H, W, 3), got {x.shape}")


def grey_cdfs(images: np.ndarray) -> np.ndarray:
    """Cumulative grey-level distribution of each image: ``(N, 256)`` float64.

    Computed in batches of :data:`IMAGE_CHUNK` images to bound memory.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(
            f"an image set must be a non-empty (N, H, W[, 3]) array, got {images.shape}"
        )
    counts = np.empty((len(images), LEVELS), dtype=np.int64)
    for start in range(0, len(images), IMAGE_CHUNK):
        grey = to_grey(images[start : start + IMAGE_CHUNK])
        n = len(grey)
        flat = grey.reshape(n, -1).astype(np.intp) + (np.arange(n) * LEVELS)[:, None]
        counts[start : start + n] = np.bincount(flat.ravel(), minlength=n * LEVELS).reshape(
            n, LEVELS
        )
    return np.cumsum(counts, axis=1) / counts.sum(axis=1, keepdims=True)


def _cdf_rows(cdf_a: np.ndarray, cdf_b: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Row chunks ``(start, block)`` of the W1 matrix between two CDF sets."""
    for start in range(0, len(cdf_a), ROW_CHUNK):
        yield start, cdist(cdf_a[start : start + ROW_CHUNK], cdf_b, metric="cityblock")


def pairwise_w1(set_a: np.ndarray, set_b: np.ndarray | None = None) -> np.ndarray:
    """Pixel-intensity W1 between every image of ``set_a`` and every image of ``set_b``.

    ``set_b=None`` means ``set_a`` against itself. Returns an ``(N_a, N_b)`` matrix.
    """
    cdf_a = grey_cdfs(set_a)
    cdf_b = cdf_a if set_b is None else grey_cdfs(set_b)
    out = np.empty((len(cdf_a), len(cdf_b)))
    for start, block in _cdf_rows(cdf_a, cdf_b):
        out[start : start + len(block)] = block
    return out


def _summary(cdf_a: np.ndarray, cdf_b: np.ndarray, within: bool) -> dict[str, float]:
    """Mean/std over all pairs (distinct unordered pairs when ``within``), chunked."""
    total = total_sq = 0.0
    pairs = 0
    for start, block in _cdf_rows(cdf_a, cdf_b):
        if within:  # keep j > i only
            cols = np.arange(block.shape[1])
            block = block[cols[None, :] > (start + np.arange(len(block)))[:, None]]
        total += float(block.sum())
        total_sq += float((block**2).sum())
        pairs += block.size
    if pairs == 0:
        return {"mean": float("nan"), "std": float("nan"), "n_pairs": 0}
    mean = total / pairs
    return {"mean": mean, "std": float(np.sqrt(max(total_sq / pairs - mean**2, 0.0))),
            "n_pairs": pairs}  # fmt: skip


def _stats(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(values.mean()), "std": float(values.std()), "n_pairs": len(values)}


def w1_summary(set_a: np.ndarray, set_b: np.ndarray) -> dict[str, dict[str, float]]:
    """The paper's three numbers: W1 mean/std/n_pairs within A, within B and across A–B.

    Within a set, every distinct unordered pair counts once; across sets, every pair.
    """
    cdf_a, cdf_b = grey_cdfs(set_a), grey_cdfs(set_b)
    return {
        "within_a": _summary(cdf_a, cdf_a, within=True),
        "within_b": _summary(cdf_b, cdf_b, within=True),
        "across": _summary(cdf_a, cdf_b, within=False),
    }


def grey_masses(images: np.ndarray, size: int) -> np.ndarray:
    """Grey images box-downsampled to ``size × size`` and normalised to unit mass."""
    grey = to_grey(images)
    small = np.stack(
        [np.asarray(Image.fromarray(g).resize((size, size), Image.Resampling.BOX)) for g in grey]
    ).reshape(len(grey), -1)
    mass = small.astype(np.float64)
    sums = mass.sum(axis=1, keepdims=True)
    if (sums == 0).any():
        raise ValueError("an all-black image has no mass for the spatial EMD")
    return mass / sums


def spatial_emd(
    set_a: np.ndarray,
    set_b: np.ndarray | None = None,
    *,
    size: int = 16,
    pairs: int = 200,
    seed: int = 0,
) -> np.ndarray:
    """Exact 2-D EMD (``ot.emd2``) on ``pairs`` random image pairs, downsampled to ``size``.

    Ground cost is the Euclidean distance between pixel centres of the ``size × size``
    grid. ``set_b=None`` samples distinct pairs within ``set_a``.
    """
    mass_a = grey_masses(set_a, size)
    mass_b = mass_a if set_b is None else grey_masses(set_b, size)
    if set_b is None and len(mass_a) < 2:
        raise ValueError("spatial_emd within one set needs at least 2 images")
    yy, xx = np.mgrid[0:size, 0:size]
    coords = np.stack([yy.ravel(), xx.ravel()], axis=1).astype(np.float64)
    cost = ot.dist(coords, coords, metric="euclidean")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(mass_a), pairs)
    j = rng.integers(0, len(mass_b), pairs)
    if set_b is None:  # distinct pairs: shift j off i
        j = (i + rng.integers(1, len(mass_a), pairs)) % len(mass_a)
    return np.array([ot.emd2(mass_a[p], mass_b[q], cost) for p, q in zip(i, j, strict=True)])


def emd2d_summary(
    set_a: np.ndarray, set_b: np.ndarray, *, size: int = 16, pairs: int = 200, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Spatial EMD mean/std over ``pairs`` sampled pairs within A, within B and across."""
    return {
        "within_a": _stats(spatial_emd(set_a, size=size, pairs=pairs, seed=seed)),
        "within_b": _stats(spatial_emd(set_b, size=size, pairs=pairs, seed=seed + 1)),
        "across": _stats(spatial_emd(set_a, set_b, size=size, pairs=pairs, seed=seed + 2)),
    }


def sliced_wasserstein(
    embeddings_a: np.ndarray, embeddings_b: np.ndarray, projections: int = 256, seed: int = 0
) -> float:
    """Sliced W2 between two embedding sets ``(N, D)`` and ``(M, D)`` (POT)."""
    a = np.asarray(embeddings_a, dtype=np.float64)
    b = np.asarray(embeddings_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(
            f"embeddings must be (N, D) and (M, D) with equal D, got {a.shape}, {b.shape}"
        )
    value: Any = ot.sliced_wasserstein_distance(a, b, n_projections=projections, seed=seed)
    return float(value)
