"""Fixtures for the HeartBEiT tests: tiny configurations and image batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from bench.plugins.heartbeit.model import BeitConfig

TINY = BeitConfig(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)


@pytest.fixture
def tiny_config() -> BeitConfig:
    """A 2-layer, 32-wide Beit on 32 px images (4×4 patch grid)."""
    return TINY


def striped_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """uint8 (n, size, size, 3) images with a few random horizontal traces (ECG-like)."""
    rng = np.random.default_rng(seed)
    images = np.full((n, size, size, 3), 255, dtype=np.uint8)
    cols = np.arange(size)
    for i in range(n):
        for _ in range(3):
            row = rng.integers(2, size - 2) + np.round(
                2 * np.sin(cols / rng.uniform(1, 4) + rng.uniform(0, 6))
            ).astype(int)
            images[i, np.clip(row, 0, size - 1), cols] = 0
    return images


@pytest.fixture
def images32() -> torch.Tensor:
    """(8, 3, 32, 32) float images in [0, 1]."""
    from bench.plugins.heartbeit.corpus import to_tensor

    return to_tensor(striped_images(8, 32))
