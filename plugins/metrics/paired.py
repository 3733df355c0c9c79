"""Paired model comparisons on one test set: bootstrap differences and DeLong's test.

The bootstrap comparison evaluates both models on the *same* resamples, so the spread of
the difference reflects only how the models disagree, not test-set sampling twice over.
The two-sided p-value inverts the percentile interval: ``p = 2 · min(P*(d ≤ 0), P*(d ≥ 0))``
with the ``(count + 1) / (B + 1)`` correction, so a 95 % CI excluding 0 goes with
``p < 0.05`` and p never claims more resolution than ``B`` replicates give.
DeLong's test (fast midrank algorithm of Sun & Xu, IEEE SPL 2014) is the analytic
cross-check for AUROC.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from bench.plugins.metrics.bootstrap import bootstrap_metric
from bench.plugins.metrics.ranking import check_binary_inputs
from scipy.stats import norm, rankdata

from bench.api import DEFAULT_LEVEL, paired_bootstrap


def paired_difference(
    metric: str,
    y_true: np.ndarray,
    score_a: np.ndarray,
    score_b: np.ndarray,
    resamples: np.ndarray,
    level: float = DEFAULT_LEVEL,
) -> dict[str, Any]:
    """Difference ``a − b`` of ``metric`` between two models' scores on shared resamples.

    Returns ``metric_a``, ``metric_b``, ``diff`` with ``diff_ci``, ``relative_diff``
    (``(a − b) / b``, as the HeartBEiT paper reports improvements) with
    ``relative_diff_ci``, the two-sided bootstrap ``p_value`` and the replicate counts.
    """
    result_a = bootstrap_metric(metric, y_true, score_a, resamples, level)
    result_b = bootstrap_metric(metric, y_true, score_b, resamples, level)
    comparison = paired_bootstrap(
        result_a.values, result_b.values, result_a.point, result_b.point, level
    )
    return {"metric": metric, **comparison}


def delong_covariance(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUROCs of ``k`` score rows ``(k, n)`` and DeLong's ``(k, k)`` covariance (Sun & Xu)."""
    y, _ = check_binary_inputs(y_true, np.asarray(scores, dtype=np.float64)[0])
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    m, n = int(y.sum()), int((~y).sum())
    if m == 0 or n == 0:
        raise ValueError("DeLong's test needs both classes in y_true")
    pos, neg = s[:, y], s[:, ~y]
    tx = rankdata(pos, axis=1)
    ty = rankdata(neg, axis=1)
    tz = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    aucs = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v01 = (tz[:, :m] - tx) / n  # structural components of the positives
    v10 = 1.0 - (tz[:, m:] - ty) / m  # … and of the negatives
    cov = np.atleast_2d(np.cov(v01)) / m + np.atleast_2d(np.cov(v10)) / n
    return aucs, cov


def delong_test(
    y_true: np.ndarray, score_a: np.ndarray, score_b: np.ndarray
) -> tuple[float, float, float, float]:
    """DeLong's test of equal AUROC for two correlated score sets: ``(auc_a, auc_b, z, p)``.

    ``z = (auc_a − auc_b) / sd``; identical scores give ``z = 0, p = 1``.
    """
    a, b = np.asarray(score_a, dtype=np.float64), np.asarray(score_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"score_a and score_b differ in shape: {a.shape} vs {b.shape}")
    aucs, cov = delong_covariance(y_true, np.stack([a, b]))
    diff = aucs[0] - aucs[1]
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    if var <= 1e-300:
        z = 0.0 if diff == 0 else float(np.copysign(np.inf, diff))
    else:
        z = float(diff / np.sqrt(var))
    p_value = float(2 * norm.sf(abs(z)))
    return float(aucs[0]), float(aucs[1]), z, p_value
