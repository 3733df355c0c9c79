"""Paired bootstrap comparisons and DeLong's test."""

from __future__ import annotations

import numpy as np
import pytest
from bench.plugins.metrics.bootstrap import bootstrap_indices
from bench.plugins.metrics.paired import delong_covariance, delong_test, paired_difference
from sklearn.metrics import roc_auc_score


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
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0])
    scores = np.array(
        [
            [0.9, 0.3, 0.6, 0.6, 0.6, 0.1, 0.8, 0.35, 0.2, 0.3, 0.5],
            [0.7, 0.2, 0.2, 0.9, 0.4, 0.4, 0.5, 0.6, 0.1, 0.8, 0.5],
        ]
    )
    aucs, cov = delong_covariance(y, scores)
    assert aucs == pytest.approx([roc_auc_score(y, s) for s in scores], abs=1e-12)
    assert cov == pytest.approx(_naive_delong_covariance(y, scores), abs=1e-12)


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
