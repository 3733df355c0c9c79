"""Paired comparisons of two models on one test set: the paired bootstrap and DeLong's test.

The bootstrap comparison evaluates both models on the *same* resamples, so the spread of
the difference reflects only how the models disagree, not test-set sampling twice over;
its p-value never claims more resolution than ``B`` replicates give. DeLong's test (the
fast midrank algorithm of Sun & Xu, IEEE SPL 2014) is the analytic cross-check for AUROC.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm, rankdata

from bench.statistics.inputs import check_binary_inputs
from bench.statistics.intervals import DEFAULT_LEVEL, percentile_ci


def paired_bootstrap(
    values_a: np.ndarray,
    values_b: np.ndarray,
    point_a: float,
    point_b: float,
    level: float = DEFAULT_LEVEL,
) -> dict[str, Any]:
    """Compare two models from their metric values on the same resamples (``a − b``).

    Returns ``metric_a``, ``metric_b``, ``diff`` with ``diff_ci``, ``relative_diff``
    (``(a − b) / b``, as the HeartBEiT paper reports improvements) with
    ``relative_diff_ci``, the two-sided bootstrap ``p_value`` and the replicate counts.
    The p-value inverts the percentile interval, ``p = 2 · min(P*(d ≤ 0), P*(d ≥ 0))``
    with the ``(count + 1) / (B + 1)`` correction, so a 95 % CI excluding 0 goes with
    ``p < 0.05``. Replicates where either value is not finite are left out.
    """
    values_a, values_b = np.asarray(values_a, float), np.asarray(values_b, float)
    valid = np.isfinite(values_a) & np.isfinite(values_b)
    diffs = values_a[valid] - values_b[valid]
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = diffs / values_b[valid]
    point_relative = (point_a - point_b) / point_b if point_b else float("nan")
    n_valid = int(valid.sum())
    tail = min(np.count_nonzero(diffs <= 0), np.count_nonzero(diffs >= 0))
    return {
        "metric_a": point_a,
        "metric_b": point_b,
        "diff": point_a - point_b,
        "diff_ci": percentile_ci(diffs, level),
        "relative_diff": point_relative,
        "relative_diff_ci": percentile_ci(relative, level),
        "p_value": min(1.0, 2 * (tail + 1) / (n_valid + 1)),
        "valid_replicates": n_valid,
        "replicates": len(values_a),
        "level": level,
    }


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
