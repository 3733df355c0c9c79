"""The example metric: balanced accuracy with a CI on the harness's shared resamples.

``replicates`` evaluates the metric on every row of a multiplicity matrix at once (the
leaderboard's paired test uses it); ``compute`` takes the point value from the all-ones
row and the 95 % CI from ``data.replicate_indices`` with :func:`bench.api.percentile_ci`.
"""

from __future__ import annotations

import numpy as np

from bench.api import DEFAULT_REPLICATES, MetricValue, ScoreData, bootstrap_indices, percentile_ci

THRESHOLD = 0.5


def replicates(y_true: np.ndarray, y_score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Balanced accuracy on each row of ``weights`` ``(R, n)``; NaN where a class is absent."""
    positive = np.asarray(y_true) == 1
    predicted = np.asarray(y_score) >= THRESHOLD
    weights = np.asarray(weights, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        sensitivity = weights @ (positive & predicted) / (weights @ positive)
        specificity = weights @ (~positive & ~predicted) / (weights @ ~positive)
    return (sensitivity + specificity) / 2


def compute(data: ScoreData) -> MetricValue:
    """Point value on the whole test set, CI over the shared bootstrap resamples."""
    resamples = data.replicate_indices
    if resamples is None:
        resamples = bootstrap_indices(data.groups, replicates=DEFAULT_REPLICATES, seed=0)
    whole = np.ones((1, len(data.y_true)), dtype=np.int32)
    values = replicates(data.y_true, data.y_score, resamples)
    low, high = percentile_ci(values)
    point = float(replicates(data.y_true, data.y_score, whole)[0])
    return MetricValue(point, low, high, {"valid_replicates": int(np.isfinite(values).sum())})
