"""Shared statistics for metric plugins and the leaderboard: percentile CIs and
per-replicate metric values on the shared bootstrap resamples (paired comparisons of two
models are in :mod:`bench.statistics.paired`).

Resamples are multiplicity matrices from :func:`bench.statistics.resampling.bootstrap_indices`
(``counts[r, i]`` = how often record ``i`` is in replicate ``r``), created once per test
set, so two models' values pair up replicate by replicate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    times: np.ndarray | None = None,
    horizons: tuple[float, ...] = (),
) -> np.ndarray:
    """Values of score metric ``spec`` on every row of the multiplicity matrix ``weights``.

    Uses ``spec.replicates`` (vectorised) when the metric provides it (a survival task's
    follow-up ``times`` and ``horizons`` passed to it as keywords); otherwise calls
    ``spec.compute`` once per row on the expanded resample (``replicate_indices`` set to a
    single identity replicate, so the metric does not bootstrap again; ``times`` and
    ``horizons`` passed on). A row on which the metric raises ``ValueError`` (e.g. one class
    only) gives NaN, as in the built-ins.
    """
    from bench.host.specs import ScoreData

    if spec.kind != "scores":
        raise ValueError(f"metric {spec.name!r} is of kind {spec.kind!r}, not 'scores'")
    weights = np.asarray(weights)
    if spec.replicates is not None:
        survival = {} if times is None else {"times": times, "horizons": horizons}
        values = spec.replicates(y_true, y_score, weights, **survival)
        return np.asarray(values, dtype=np.float64)
    out = np.full(len(weights), np.nan)
    positions = np.arange(weights.shape[1])
    for r, counts in enumerate(weights):
        idx = np.repeat(positions, counts)
        data = ScoreData(
            y_true=y_true[idx],
            y_score=y_score[idx],
            groups=groups[idx],
            replicate_indices=np.ones((1, idx.size), dtype=np.int32),
            times=None if times is None else times[idx],
            horizons=horizons,
        )
        try:
            out[r] = float(spec.compute(data).value)
        except ValueError:
            continue
    return out
