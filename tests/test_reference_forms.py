"""The verifier's replicate-loop forms (AUROC, average precision, Brier, MAE, RMSE) equal
scikit-learn's (they replace it inside the bootstrap loop only, for speed); its ECE, which
scikit-learn lacks, equals one built from ``calibration_curve`` and bins as the metric does."""

from __future__ import annotations

import numpy as np
from bench.plugins.metrics.calibration import ece_replicates
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

from bench.submission.reference import (
    point_value,
    reference_score,
    replicate_counts,
    replicate_value,
)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(2, 300),
    levels=st.integers(1, 40),  # few distinct scores: many ties
    seed=st.integers(0, 2**32 - 1),
)
def test_replicate_forms_equal_scikit_learn(n: int, levels: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(float)
    s = rng.integers(0, levels, n) / levels
    # defined on one class too
    assert abs(replicate_value("brier", y, s) - brier_score_loss(y, s, pos_label=1)) < 1e-12
    assert abs(replicate_value("mae", y, s) - mean_absolute_error(y, s)) < 1e-12
    assert abs(replicate_value("rmse", y, s) - root_mean_squared_error(y, s)) < 1e-12
    if len(np.unique(y)) < 2:
        assert np.isnan(replicate_value("auroc", y, s))
        assert np.isnan(replicate_value("auprc", y, s))
        return
    assert abs(replicate_value("auroc", y, s) - roc_auc_score(y, s)) < 1e-12
    assert abs(replicate_value("auprc", y, s) - average_precision_score(y, s)) < 1e-12


def test_a_metric_without_a_form_uses_the_point_definition() -> None:
    y, s = np.array([0.0, 1.0, 3.0]), np.array([0.2, 0.4, 2.9])
    assert replicate_value("r2", y, s) == r2_score(y, s)


def test_records_of_one_evaluation_set_share_the_replicates_they_resample() -> None:
    rng = np.random.default_rng(7)
    groups = np.repeat([f"p{i}" for i in range(40)], 2)
    y = np.repeat(rng.integers(0, 2, 40), 2).astype(float)
    s = rng.random(80)
    counts = replicate_counts(groups, 200, seed=3)
    for metric in ("auroc", "brier"):
        by_hand = [replicate_value(metric, np.repeat(y, c), np.repeat(s, c)) for c in counts]
        expected = np.quantile([v for v in by_hand if np.isfinite(v)], [0.025, 0.975])
        for _ in range(2):  # the second call reuses the first's replicates
            got = reference_score(metric, y, s, groups, replicates=200, seed=3)
            assert (got.ci_low, got.ci_high) == tuple(expected)
    seed_3, seed_4 = (
        reference_score("auroc", y, s, groups, replicates=200, seed=seed) for seed in (3, 4)
    )
    assert (seed_3.ci_low, seed_3.ci_high) != (seed_4.ci_low, seed_4.ci_high)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 300), seed=st.integers(0, 2**32 - 1))
def test_the_reference_ece_equals_one_built_from_scikit_learn(n: int, seed: int) -> None:
    """ECE from ``calibration_curve``'s per-bin rates weighted by the bins' counts (on
    continuous scores, where no score sits on a bin edge, which the two assign apart)."""
    rng = np.random.default_rng(seed)
    y, s = rng.integers(0, 2, n).astype(float), rng.random(n)
    observed, predicted = calibration_curve(y, s, n_bins=15, strategy="uniform")
    counts = np.histogram(s, bins=np.linspace(0, 1, 16))[0]
    by_sklearn = np.sum(counts[counts > 0] * np.abs(observed - predicted)) / n
    assert abs(point_value("ece", y, s) - by_sklearn) < 1e-12
    assert abs(replicate_value("ece", y, s) - by_sklearn) < 1e-12


@given(levels=st.sampled_from([5, 15, 30]), seed=st.integers(0, 2**32 - 1))
def test_the_reference_ece_bins_edges_as_the_metric_does(levels: int, seed: int) -> None:
    """Scores on the bin edges (k/15, and 1.0 in the last bin) fall where the ``ece`` metric
    puts them; a score outside [0, 1] has no ECE."""
    rng = np.random.default_rng(seed)
    y, s = rng.integers(0, 2, 90).astype(float), rng.integers(0, levels + 1, 90) / levels
    harness = ece_replicates(y, s, np.ones((1, 90)))[0]
    assert abs(point_value("ece", y, s) - harness) < 1e-12
    assert abs(replicate_value("ece", y, s) - harness) < 1e-12
    assert np.isnan(point_value("ece", y, s + 1.5))
    assert np.isnan(replicate_value("ece", y, s + 1.5))
