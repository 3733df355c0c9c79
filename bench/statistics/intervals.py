"""Shared statistics for metric plugins and the leaderboard: percentile CIs, per-replicate
metric values on the shared bootstrap resamples, and the paired bootstrap comparison.

Resamples are multiplicity matrices from :func:`bench.statistics.resampling.bootstrap_indices`
(``counts[r, i]`` = how often record ``i`` is in replicate ``r``), created once per test
set, so two models' values pair up replicate by replicate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from bench.host.specs import MetricSpec

#: Bootstrap replicates of the paper (500) and the confidence level of every CI.
DEFAULT_REPLICATES = 500
DEFAULT_LEVEL = 0.95


def percentile_ci(values: np.ndarray, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """Percentile interval of the finite ``values`` (NaN, NaN when there are none)."""
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    alpha = (1 - level) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return float(low), float(high)


def metric_replicates(
    spec: MetricSpec,
    y_true: np.ndarray,
    y_score: np.ndarray,
    groups: np.ndarray,
    weights: np.ndarray,
) -> np.ndarray:
    """Values of score metric ``spec`` on every row of the multiplicity matrix ``weights``.

    Uses ``spec.replicates`` (vectorised) when the metric provides it; otherwise calls
    ``spec.compute`` once per row on the expanded resample (``replicate_indices`` set to
    a single identity replicate, so the metric does not bootstrap again). A row on which
    the metric raises ``ValueError`` (e.g. one class only) gives NaN, as in the built-ins.
    """
    from bench.host.specs import ScoreData

    if spec.kind != "scores":
        raise ValueError(f"metric {spec.name!r} is of kind {spec.kind!r}, not 'scores'")
    weights = np.asarray(weights)
    if spec.replicates is not None:
        return np.asarray(spec.replicates(y_true, y_score, weights), dtype=np.float64)
    out = np.full(len(weights), np.nan)
    positions = np.arange(weights.shape[1])
    for r, counts in enumerate(weights):
        idx = np.repeat(positions, counts)
        data = ScoreData(
            y_true=y_true[idx],
            y_score=y_score[idx],
            groups=groups[idx],
            replicate_indices=np.ones((1, idx.size), dtype=np.int32),
        )
        try:
            out[r] = float(spec.compute(data).value)
        except ValueError:
            continue
    return out


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
