"""Paired bootstrap comparisons and DeLong's test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from bench.plugins.metrics.bootstrap import bootstrap_indices
from bench.plugins.metrics.paired import delong_covariance, delong_test, paired_difference
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from bench.statistics import paired_bootstrap


def _two_models(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    strong = rng.normal(size=n) + 1.5 * y
    weak = rng.normal(size=n) + 0.3 * y
    return y, strong, weak


def _naive_delong_covariance(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """DeLong et al. (1988) structural components by explicit pair loops."""
    pos, neg = scores[:, y == 1], scores[:, y == 0]

    def psi(a: float, b: float) -> float:
        return 1.0 if a > b else 0.5 if a == b else 0.0

    k, m, n = len(scores), pos.shape[1], neg.shape[1]
    v10 = np.array([[np.mean([psi(pos[r, i], neg[r, j]) for j in range(n)]) for i in range(m)]
                    for r in range(k)])  # fmt: skip
    v01 = np.array([[np.mean([psi(pos[r, i], neg[r, j]) for i in range(m)]) for j in range(n)]
                    for r in range(k)])  # fmt: skip
    return np.cov(v10) / m + np.cov(v01) / n


def test_delong_covariance_matches_naive_definition_with_ties():
    y, scores = _ties_example()
    aucs, cov = delong_covariance(y, scores)
    assert aucs == pytest.approx([roc_auc_score(y, s) for s in scores], abs=1e-12)
    assert cov == pytest.approx(_naive_delong_covariance(y, scores), abs=1e-12)


def _ties_example() -> tuple[np.ndarray, np.ndarray]:
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0])
    scores = np.array(
        [
            [0.9, 0.3, 0.6, 0.6, 0.6, 0.1, 0.8, 0.35, 0.2, 0.3, 0.5],
            [0.7, 0.2, 0.2, 0.9, 0.4, 0.4, 0.5, 0.6, 0.1, 0.8, 0.5],
        ]
    )
    return y, scores


@pytest.mark.parametrize("example", ["ties", "clear"])
def test_delong_p_value_is_the_two_sided_normal_tail_of_z(example: str) -> None:
    """``z`` from the naive covariance, ``p = P(|Z| >= |z|) = erfc(|z| / sqrt 2)``."""
    if example == "ties":
        y, scores = _ties_example()
    else:
        y, strong, weak = _two_models(120, seed=4)
        scores = np.stack([strong, 0.6 * strong + weak])  # correlated, a moderate difference
    cov = _naive_delong_covariance(y, scores)
    diff = roc_auc_score(y, scores[0]) - roc_auc_score(y, scores[1])
    z = diff / math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    _, _, got_z, got_p = delong_test(y, scores[0], scores[1])
    assert got_z == pytest.approx(z, rel=1e-9)
    assert got_p == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-9)
    assert 0.001 < got_p < 0.9  # neither end of the scale, where a factor of 2 would hide


@pytest.mark.parametrize(
    ("diffs", "p_value"),
    [
        # 9 replicates, 2 at or below 0, 8 at or above: 2 (2 + 1) / (9 + 1)
        ([0.3, 0.1, -0.2, 0.4, 0.0, 0.2, 0.5, 0.1, 0.3], 0.6),
        # 19 replicates all above 0: the smallest p 19 replicates can give, 2 (0 + 1) / 20
        ([0.1] * 19, 0.1),
        # 39 below 0: 2 (0 + 1) / 40
        ([-0.25] * 39, 0.05),
        # a tie at 0 counts in both tails: 2 (2 + 1) / (3 + 1) > 1, capped
        ([-0.5, 0.0, 0.5], 1.0),
        # 4 of 19 below: 2 (4 + 1) / 20
        ([-0.1] * 4 + [0.2] * 15, 0.5),
    ],
)
def test_bootstrap_p_value_hand_worked(diffs: list[float], p_value: float) -> None:
    """``p = 2 (min(#(d ≤ 0), #(d ≥ 0)) + 1) / (B + 1)``, worked out by hand; a replicate
    where either value is not finite is left out of ``B``."""
    b = np.full(len(diffs), 0.5)
    a = b + np.array(diffs)
    assert paired_bootstrap(a, b, 0.7, 0.5)["p_value"] == pytest.approx(p_value, rel=1e-12)
    with_nan = paired_bootstrap(np.r_[a, np.nan, 0.9], np.r_[b, 0.1, np.inf], 0.7, 0.5)
    assert with_nan["p_value"] == pytest.approx(p_value, rel=1e-12)
    assert with_nan["valid_replicates"] == len(diffs) and with_nan["replicates"] == len(diffs) + 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.integers(-3, 3), st.just(None)), min_size=1, max_size=60))
def test_bootstrap_p_value_counts_the_smaller_tail(steps: list[int | None]) -> None:
    """Against a replicate-by-replicate count (None: a replicate where model a has no
    value): the share of differences on the far side of 0, doubled, +1-corrected."""
    a = np.array([np.nan if d is None else 0.5 + 0.125 * d for d in steps])
    b = np.full(len(steps), 0.5)
    kept = [d for d in steps if d is not None]
    at_or_below = sum(1 for d in kept if d <= 0)
    at_or_above = sum(1 for d in kept if d >= 0)
    expected = min(1.0, 2 * (min(at_or_below, at_or_above) + 1) / (len(kept) + 1))
    assert paired_bootstrap(a, b, 0.6, 0.5)["p_value"] == pytest.approx(expected, rel=1e-12)


def test_identical_models_are_not_different():
    y, strong, _ = _two_models()
    assert delong_test(y, strong, strong)[2:] == (0.0, 1.0)
    resamples = bootstrap_indices(np.arange(len(y)), replicates=100, seed=0, unit="record")
    result = paired_difference("auroc", y, strong, strong, resamples)
    assert result["diff"] == 0.0
    assert result["diff_ci"] == (0.0, 0.0)
    assert result["p_value"] == 1.0


def test_bootstrap_and_delong_agree_on_a_clear_difference():
    y, strong, weak = _two_models()
    resamples = bootstrap_indices(np.repeat(np.arange(200), 2), replicates=300, seed=0)
    result = paired_difference("auroc", y, strong, weak, resamples)
    auc_a, auc_b, z, p = delong_test(y, strong, weak)
    assert result["metric_a"] == pytest.approx(auc_a, abs=1e-12)
    assert result["metric_b"] == pytest.approx(auc_b, abs=1e-12)
    assert np.sign(result["diff"]) == np.sign(z) == 1
    assert result["diff_ci"][0] > 0
    assert result["p_value"] < 0.01 and p < 0.01
    assert result["relative_diff"] == pytest.approx(result["diff"] / auc_b)
    low, high = result["relative_diff_ci"]
    assert low < result["relative_diff"] < high
    swapped = paired_difference("auroc", y, weak, strong, resamples)
    assert swapped["diff"] == pytest.approx(-result["diff"])
    assert delong_test(y, weak, strong)[2] == pytest.approx(-z)


def test_delong_needs_both_classes_and_matching_shapes():
    with pytest.raises(ValueError, match="both classes"):
        delong_test(np.ones(4), np.arange(4.0), np.arange(4.0))
    with pytest.raises(ValueError, match="differ in shape"):
        delong_test(np.array([0, 1]), np.arange(2.0), np.arange(3.0))
