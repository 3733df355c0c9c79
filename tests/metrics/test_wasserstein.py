"""Pixel-intensity W1, spatial EMD and sliced Wasserstein against scipy and POT."""

from __future__ import annotations

import numpy as np
import ot
import pytest
from bench.plugins.metrics.wasserstein import (
    grey_cdfs,
    pairwise_w1,
    sliced_wasserstein,
    spatial_emd,
    to_grey,
    w1_summary,
)
from scipy.stats import wasserstein_distance


def _images(rng: np.random.Generator, n: int, size: int, power: float) -> np.ndarray:
    return (rng.random((n, size, size, 3)) ** power * 255).astype(np.uint8)


def test_w1_equals_scipy_on_pixel_values():
    rng = np.random.default_rng(0)
    a, b = _images(rng, 6, 20, 1.0), _images(rng, 5, 13, 3.0)  # different image sizes
    dist = pairwise_w1(a, b)
    grey_a, grey_b = to_grey(a), to_grey(b)
    for i, j in [(0, 0), (2, 4), (5, 1), (3, 3)]:
        expected = wasserstein_distance(grey_a[i].ravel(), grey_b[j].ravel())
        assert dist[i, j] == pytest.approx(expected, abs=1e-9)
    within = pairwise_w1(a)
    assert within[1, 4] == pytest.approx(wasserstein_distance(grey_a[1].ravel(), grey_a[4].ravel()))
    assert np.allclose(np.diag(within), 0)


def test_w1_equals_pot_on_histograms():
    rng = np.random.default_rng(1)
    a, b = _images(rng, 2, 16, 0.5), _images(rng, 2, 16, 2.0)
    levels = np.arange(256, dtype=np.float64)
    hist = np.diff(grey_cdfs(np.concatenate([a, b])), axis=1, prepend=0)
    cost = np.abs(levels[:, None] - levels[None, :])
    dist = pairwise_w1(a, b)
    assert dist[0, 1] == pytest.approx(
        ot.wasserstein_1d(levels, levels, hist[0], hist[3]), abs=1e-9
    )
    assert dist[1, 0] == pytest.approx(ot.emd2(hist[1], hist[2], cost), abs=1e-9)


def test_summary_counts_distinct_pairs_and_matches_the_matrix():
    rng = np.random.default_rng(2)
    a, b = _images(rng, 7, 8, 1.0), _images(rng, 4, 8, 4.0)
    summary = w1_summary(a, b)
    within = pairwise_w1(a)[np.triu_indices(7, k=1)]
    assert summary["within_a"]["n_pairs"] == 21
    assert summary["within_a"]["mean"] == pytest.approx(within.mean())
    assert summary["within_a"]["std"] == pytest.approx(within.std())
    across = pairwise_w1(a, b)
    assert summary["across"]["n_pairs"] == 28
    assert summary["across"]["mean"] == pytest.approx(across.mean())
    assert summary["within_b"]["n_pairs"] == 6


def test_grey_conversion_and_bad_images():
    pixel = np.array([[[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 10, 10]]]], dtype=np.uint8)
    assert to_grey(pixel).tolist() == [[[76, 150, 29, 10]]]
    with pytest.raises(ValueError, match="uint8"):
        to_grey(np.zeros((1, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        to_grey(np.zeros((1, 4, 4, 2), dtype=np.uint8))


def test_spatial_emd_moves_mass_by_the_pixel_distance():
    img = np.zeros((2, 16, 16), dtype=np.uint8)
    img[0, 2, 2] = 255
    img[1, 2, 5] = 255  # 3 px to the right
    img[1, 6, 2] = 255  # and 4 px down
    moved = spatial_emd(img[:1], img[1:], size=16, pairs=3, seed=0)
    assert moved == pytest.approx([0.5 * 3 + 0.5 * 4] * 3)  # half the mass to each target
    assert spatial_emd(img[:1], img[:1], size=16, pairs=2).max() == pytest.approx(0)


def test_sliced_wasserstein_of_a_shift():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 4))
    shift = np.array([2.0, 0.0, 0.0, 0.0])
    assert sliced_wasserstein(x, x) == pytest.approx(0, abs=1e-12)
    # Sliced W2 of a pure translation c is sqrt(E[(theta . c)^2]) = |c| / sqrt(D).
    expected = np.linalg.norm(shift) / 2
    assert sliced_wasserstein(x, x + shift, projections=2000) == pytest.approx(expected, rel=0.1)
    with pytest.raises(ValueError, match="equal D"):
        sliced_wasserstein(x, x[:, :3])
