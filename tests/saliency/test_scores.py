"""Properties of the saliency scores (localisation, pointing game, entropy, Gini)."""

from __future__ import annotations

import numpy as np
import pytest
from bench.plugins.metrics.saliency.metrics import (
    SaliencyData,
    compute_saliency_metric,
    mean_with_ci,
)
from bench.plugins.metrics.saliency.scores import entropy, gini, localisation, pointing_game
from hypothesis import given, settings
from hypothesis import strategies as st


@st.composite
def map_and_mask(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """A random non-negative map and a random column-band mask (as the renderer builds)."""
    h = draw(st.integers(4, 24))
    w = draw(st.integers(4, 24))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    start = draw(st.integers(0, w - 2))
    stop = draw(st.integers(start + 1, w - 1))
    mask = np.zeros((h, w), dtype=bool)
    mask[:, start:stop] = True
    return rng.random((h, w)), mask


@given(map_and_mask(), st.floats(1e-3, 1e3))
@settings(max_examples=60, deadline=None)
def test_scores_are_invariant_to_scaling_the_map(case, scale) -> None:
    saliency, mask = case
    maps = np.stack([saliency, saliency * scale])
    for score in (localisation(maps, mask), pointing_game(maps, mask)):
        assert score[0] == pytest.approx(score[1], rel=1e-9)
    assert entropy(maps)[0] == pytest.approx(entropy(maps)[1], rel=1e-9)
    assert gini(maps)[0] == pytest.approx(gini(maps)[1], rel=1e-9, abs=1e-12)


@given(map_and_mask())
@settings(max_examples=60, deadline=None)
def test_map_inside_the_mask_scores_one_over_the_mask_share(case) -> None:
    saliency, mask = case
    inside = np.where(mask, saliency + 0.1, 0.0)[None]
    assert localisation(inside, mask)[0] == pytest.approx(1 / mask.mean())
    assert pointing_game(inside, mask)[0] == 1.0
    outside = np.where(mask, 0.0, saliency + 0.1)[None]
    assert localisation(outside, mask)[0] == 0.0
    assert pointing_game(outside, mask)[0] == 0.0


@given(map_and_mask(), st.floats(0.01, 100))
@settings(max_examples=40, deadline=None)
def test_uniform_map_is_chance_and_maximally_diffuse(case, level) -> None:
    _, mask = case
    uniform = np.full((1, *mask.shape), level)
    assert localisation(uniform, mask)[0] == pytest.approx(1.0)
    assert entropy(uniform)[0] == pytest.approx(1.0)
    assert gini(uniform)[0] == pytest.approx(0.0, abs=1e-12)


@given(st.integers(2, 30), st.integers(2, 30), st.data())
@settings(max_examples=40, deadline=None)
def test_single_pixel_map_is_maximally_focused(h, w, data) -> None:
    spike = np.zeros((1, h, w))
    spike[0, data.draw(st.integers(0, h - 1)), data.draw(st.integers(0, w - 1))] = 3.0
    assert entropy(spike)[0] == pytest.approx(0.0, abs=1e-12)
    assert gini(spike)[0] == pytest.approx(1 - 1 / (h * w))


@given(map_and_mask())
@settings(max_examples=40, deadline=None)
def test_entropy_and_gini_stay_in_their_ranges(case) -> None:
    saliency, _ = case
    maps = saliency[None] ** 4  # sharpen: a range of focus levels
    assert 0.0 <= entropy(maps)[0] <= 1.0 + 1e-12
    assert 0.0 <= gini(maps)[0] <= 1.0


def test_zero_map_has_no_score_and_is_skipped_by_the_mean() -> None:
    mask = np.zeros((4, 4), dtype=bool)
    mask[:, :2] = True
    maps = np.stack([np.zeros((4, 4)), np.where(mask, 1.0, 0.0)])
    assert np.isnan(localisation(maps, mask)[0]) and localisation(maps, mask)[1] == 2.0
    assert np.isnan(entropy(maps)[0]) and np.isnan(gini(maps)[0])
    assert np.isnan(pointing_game(maps, mask)[0])
    value = compute_saliency_metric("saliency_localisation", SaliencyData(maps, mask[None]))
    assert value.value == 2.0 and value.details["n_scored"] == 1


def test_bad_inputs_are_rejected_with_a_reason() -> None:
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        entropy(np.ones((4, 4)))
    with pytest.raises(ValueError, match="non-negative"):
        entropy(-np.ones((1, 4, 4)))
    with pytest.raises(ValueError, match="at least one pixel"):
        localisation(np.ones((1, 4, 4)), np.zeros((4, 4), dtype=bool))
    with pytest.raises(ValueError, match="no faithfulness"):
        compute_saliency_metric("saliency_faithfulness", SaliencyData(np.ones((1, 2, 2)), None))


def test_bootstrap_ci_brackets_the_mean_and_narrows_with_more_images() -> None:
    rng = np.random.default_rng(0)
    small = mean_with_ci(rng.normal(2.0, 1.0, 20))
    large = mean_with_ci(rng.normal(2.0, 1.0, 2000))
    assert small.ci_low < small.value < small.ci_high
    assert large.ci_low < 2.0 < large.ci_high
    assert (large.ci_high - large.ci_low) < (small.ci_high - small.ci_low) / 4
