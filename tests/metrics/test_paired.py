"""Paired bootstrap comparisons and DeLong's test."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from bench.plugins.metrics.bootstrap import bootstrap_indices, paired_difference
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from bench.api import (
    MetricSpec,
    MetricValue,
    ScoreData,
    delong_covariance,
    delong_test,
    metric_replicates,
    paired_bootstrap,
    percentile_ci,
)


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


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(-10, 10) | st.sampled_from([np.nan, np.inf, -np.inf]), max_size=40),
    level=st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.99]),
)
def test_percentile_ci_is_numpys_percentile_interval_of_the_finite_values(
    values: list[float], level: float
) -> None:
    finite = [v for v in values if math.isfinite(v)]
    low, high = percentile_ci(np.array(values), level)
    if not finite:
        assert math.isnan(low) and math.isnan(high)
        return
    tail = 100 * (1 - level) / 2
    assert (low, high) == pytest.approx(
        (np.percentile(finite, tail), np.percentile(finite, 100 - tail)), abs=1e-12
    )
    assert isinstance(low, float) and isinstance(high, float)


def test_percentile_ci_hand_worked_on_eleven_values() -> None:
    """0, 1, …, 10 with linear interpolation: the default 95 % interval runs from the
    2.5th percentile (position 0.25, value 0.25) to the 97.5th (9.75); the 80 % interval
    from the 10th (1) to the 90th (9)."""
    values = np.arange(11.0)
    assert percentile_ci(values) == pytest.approx((0.25, 9.75), abs=1e-12)
    assert percentile_ci(values, 0.8) == pytest.approx((1.0, 9.0), abs=1e-12)
    assert percentile_ci([1, 2, 3]) == pytest.approx((1.05, 2.95), abs=1e-12)  # ints welcome
    # a missing value (None, as JSON null reads) is not finite and is left out
    assert percentile_ci([1.0, None, 2.0, 3.0]) == pytest.approx((1.05, 2.95), abs=1e-12)


@pytest.mark.parametrize("level", [0.0, 1.0, -0.5, 1.5, 95])
def test_percentile_ci_rejects_a_level_outside_zero_one_naming_it(level: float) -> None:
    with pytest.raises(ValueError, match=rf"^confidence level must be in \(0, 1\), got {level}$"):
        percentile_ci(np.arange(5.0), level)


def _mean_metric(data: ScoreData) -> MetricValue:
    """Mean score of the positives; raises on a resample without positives, as AUROC does
    without both classes. Checks it is handed one identity replicate, not asked to
    bootstrap."""
    assert data.replicate_indices is not None
    assert data.replicate_indices.shape == (1, len(data.y_true))
    assert np.all(data.replicate_indices == 1)
    assert np.issubdtype(data.replicate_indices.dtype, np.integer)  # usable as counts
    assert len(data.groups) == len(data.y_true) == len(data.y_score)
    positives = data.y_score[data.y_true == 1]
    if positives.size == 0:
        raise ValueError("no positives")
    return MetricValue(float(positives.mean() + 10 * data.groups.sum()))


def test_metric_replicates_computes_the_metric_on_each_expanded_resample() -> None:
    spec = MetricSpec(name="mean-pos", kind="scores", compute=_mean_metric)
    y_true = np.array([1, 0, 1, 1])
    y_score = np.array([0.2, 0.9, 0.4, 0.8])
    groups = np.array([0, 0, 0, 1])
    weights = np.array(
        [
            [1, 1, 1, 1],  # positives 0.2, 0.4, 0.8 (group 1 once): 1.4 / 3 + 10
            [2, 0, 1, 0],  # 0.2, 0.2, 0.4: 0.8 / 3
            [0, 3, 0, 0],  # no positive: NaN
            [0, 0, 0, 2],  # 0.8 twice, group 1 twice: 0.8 + 20
        ]
    )
    got = metric_replicates(spec, y_true, y_score, groups, weights)
    assert got.dtype == np.float64 and got.shape == (4,)
    np.testing.assert_allclose(got, [1.4 / 3 + 10, 0.8 / 3, np.nan, 20.8], rtol=1e-12)


def test_metric_replicates_uses_the_vectorised_replicates_as_float64() -> None:
    def replicates(y_true: np.ndarray, y_score: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return (weights @ (y_score * y_true)).astype(np.float32)  # weighted sum of positives

    def compute(data: ScoreData) -> MetricValue:
        raise AssertionError("compute must not run when replicates is given")

    spec = MetricSpec(name="wsum", kind="scores", compute=compute, replicates=replicates)
    y_true, y_score = np.array([1, 0, 1]), np.array([0.5, 0.25, 2.0])
    got = metric_replicates(spec, y_true, y_score, np.zeros(3), [[1, 1, 1], [0, 2, 3]])
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, [2.5, 6.0])


def test_metric_replicates_refuses_a_metric_that_is_not_a_score_metric_naming_it() -> None:
    spec = MetricSpec(name="wasserstein", kind="images", compute=_mean_metric)
    with pytest.raises(
        ValueError, match=r"^metric 'wasserstein' is of kind 'images', not 'scores'$"
    ):
        metric_replicates(spec, np.ones(2), np.ones(2), np.zeros(2), np.ones((1, 2), int))


def test_paired_bootstrap_hand_worked_differences_intervals_and_counts() -> None:
    """a − b on 11 replicates is 0, 0.1, …, 1.0 (b = 2, relative (a − b) / b = half of it);
    one more replicate with b = NaN is left out. Intervals are numpy percentiles."""
    diffs = np.arange(11) / 10
    a = np.r_[2.0 + diffs, 5.0]
    b = np.r_[np.full(11, 2.0), np.nan]
    result = paired_bootstrap(a, b, 0.9, 0.6, level=0.8)
    assert result["metric_a"] == 0.9 and result["metric_b"] == 0.6
    assert result["diff"] == pytest.approx(0.3, abs=1e-12)
    assert result["relative_diff"] == pytest.approx(0.5, abs=1e-12)
    assert result["diff_ci"] == pytest.approx(tuple(np.percentile(diffs, [10, 90])), abs=1e-12)
    assert result["diff_ci"] == pytest.approx((0.1, 0.9), abs=1e-12)
    assert result["relative_diff_ci"] == pytest.approx((0.05, 0.45), abs=1e-12)
    # one replicate at 0, ten above: 2 (1 + 1) / (11 + 1)
    assert result["p_value"] == pytest.approx(4 / 12, rel=1e-12)
    assert result["valid_replicates"] == 11 and result["replicates"] == 12
    assert result["level"] == 0.8
    assert paired_bootstrap(a, b, 0.9, 0.6)["diff_ci"] == pytest.approx((0.025, 0.975))
    assert paired_bootstrap(a, b, 0.9, 0.6)["level"] == 0.95


def test_paired_bootstrap_relative_difference_is_nan_against_a_zero_baseline_silently() -> None:
    """x / 0 and 0 / 0 give ±inf and NaN, left out of the relative interval without a
    numpy warning (which a strict run would turn into an error)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = paired_bootstrap(np.array([0.5, 0.7, 0.0]), np.zeros(3), 0.6, 0.0)
    assert math.isnan(result["relative_diff"])
    assert all(math.isnan(v) for v in result["relative_diff_ci"])
    assert result["diff_ci"] == pytest.approx(tuple(np.percentile([0.5, 0.7, 0], [2.5, 97.5])))


def test_paired_bootstrap_takes_lists_with_missing_values_as_json_reads_them() -> None:
    """None (JSON null) in either list leaves that replicate out, like NaN."""
    result = paired_bootstrap([0.9, None, 0.7, 0.8], [0.5, 0.5, None, 0.6], 0.8, 0.5)
    assert result["valid_replicates"] == 2 and result["replicates"] == 4
    assert result["diff_ci"] == pytest.approx(
        tuple(np.percentile([0.4, 0.2], [2.5, 97.5])), abs=1e-12
    )
