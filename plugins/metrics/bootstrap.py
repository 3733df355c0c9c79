"""Bootstrap resamples shared by every model on a test set, and percentile CIs.

Representation: a resample is a row of **multiplicities** — ``counts[r, i]`` is how many
times record ``i`` appears in replicate ``r`` — so ``bootstrap_indices`` returns an int
``(replicates, n)`` matrix. This keeps one fixed shape for both units (a patient-level
cluster bootstrap gives replicates of different lengths), makes every metric a weighted
computation over the same sorted scores, and materialises losslessly:
``np.repeat(np.arange(n), counts[r])`` is replicate ``r`` as an index array. Create it once
per test set and reuse it for every model so that comparisons are paired.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from bench.plugins.metrics.calibration import brier_replicates, ece_replicates
from bench.plugins.metrics.ranking import RANKING_METRICS, ranking_replicates

from bench.api import (
    DEFAULT_LEVEL,
    DEFAULT_REPLICATES,
    MetricValue,
    ScoreData,
    Unit,
    bootstrap_indices,
    paired_bootstrap,
    percentile_ci,
)

#: Calibration metrics: kernel(y_true, y_prob, weights (R, n)) -> (R,) values.
CALIBRATION_KERNELS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "brier": brier_replicates,
    "ece": ece_replicates,
}
#: Every metric name the bootstrap understands.
METRICS: tuple[str, ...] = (*RANKING_METRICS, *CALIBRATION_KERNELS)

__all__ = [
    "METRICS",
    "BootstrapResult",
    "bootstrap_indices",
    "bootstrap_metric",
    "bootstrap_metrics",
    "kernel_bootstrap",
    "resamples_of",
]


@dataclass(frozen=True)
class BootstrapResult:
    """Point estimate on the full set with a percentile CI over bootstrap replicates.

    ``values`` has one entry per replicate (NaN where a replicate lacked a class), in the
    order of the resample matrix, so two models' values pair up replicate by replicate.
    """

    point: float
    ci_low: float
    ci_high: float
    values: np.ndarray
    valid_replicates: int
    replicates: int

    @classmethod
    def of(cls, point: float, values: np.ndarray, level: float = DEFAULT_LEVEL) -> BootstrapResult:
        """The result of a point value and its replicate ``values`` (percentile CI at
        ``level``)."""
        low, high = percentile_ci(values, level)
        return cls(
            point=float(point),
            ci_low=low,
            ci_high=high,
            values=values,
            valid_replicates=int(np.isfinite(values).sum()),
            replicates=len(values),
        )

    def metric_value(self, unit: Unit, seed: int, **details: Any) -> MetricValue:
        """As a score metric's :class:`MetricValue`: the replicate counts, the resamples'
        ``unit`` and ``seed``, and ``details``."""
        return MetricValue(
            value=self.point,
            ci_low=self.ci_low,
            ci_high=self.ci_high,
            details={
                "valid_replicates": self.valid_replicates,
                "replicates": self.replicates,
                "unit": unit,
                "seed": seed,
                **details,
            },
        )


def resamples_of(
    data: ScoreData, replicates: int | None = None, seed: int = 0, unit: Unit = "patient"
) -> np.ndarray:
    """The multiplicity matrix a score metric bootstraps ``data`` on: the shared
    ``data.replicate_indices`` when present (the caller then passes the ``seed``/``unit`` it
    was built with, since they go into the record), else one drawn from ``data.groups``."""
    if data.replicate_indices is not None:
        return data.replicate_indices
    return bootstrap_indices(
        data.groups, replicates=replicates or DEFAULT_REPLICATES, seed=seed, unit=unit
    )


def replicate_values(
    metrics: tuple[str, ...], y_true: np.ndarray, y_score: np.ndarray, weights: np.ndarray
) -> dict[str, np.ndarray]:
    """Values of each metric on every row of ``weights`` (ranking metrics share one pass)."""
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown bootstrap metrics {unknown}; choose from {list(METRICS)}")
    ranking = tuple(m for m in metrics if m in RANKING_METRICS)
    values = ranking_replicates(y_true, y_score, weights, ranking) if ranking else {}
    for name in metrics:
        if name in CALIBRATION_KERNELS:
            values[name] = CALIBRATION_KERNELS[name](y_true, y_score, weights)
    return values


def bootstrap_metrics(
    metrics: tuple[str, ...],
    y_true: np.ndarray,
    y_score: np.ndarray,
    resamples: np.ndarray,
    level: float = DEFAULT_LEVEL,
) -> dict[str, BootstrapResult]:
    """Several metrics (names in :data:`METRICS`) with bootstrap percentile CIs.

    ``resamples`` is the matrix from :func:`bootstrap_indices` for this test set.
    """
    ones = np.ones((1, len(np.asarray(y_true))), dtype=np.int32)
    points = replicate_values(metrics, y_true, y_score, ones)
    replicated = replicate_values(metrics, y_true, y_score, resamples)
    return {name: BootstrapResult.of(points[name][0], replicated[name], level) for name in metrics}


def kernel_bootstrap(
    kernel: Callable[[np.ndarray], np.ndarray],
    n: int,
    resamples: np.ndarray,
    level: float = DEFAULT_LEVEL,
) -> BootstrapResult:
    """A metric given as ``kernel(weights) -> values`` (its value on every row of an
    ``(R, n)`` multiplicity matrix) on the full set of ``n`` records (a row of ones), with
    the percentile CI over ``resamples``."""
    point = kernel(np.ones((1, n), dtype=np.int32))[0]
    return BootstrapResult.of(point, kernel(resamples), level)


def bootstrap_metric(
    name: str,
    y_true: np.ndarray,
    y_score: np.ndarray,
    resamples: np.ndarray,
    level: float = DEFAULT_LEVEL,
) -> BootstrapResult:
    """One metric ``name`` (see :data:`METRICS`) with its bootstrap percentile CI."""
    return bootstrap_metrics((name,), y_true, y_score, resamples, level)[name]


def paired_difference(
    metric: str,
    y_true: np.ndarray,
    score_a: np.ndarray,
    score_b: np.ndarray,
    resamples: np.ndarray,
    level: float = DEFAULT_LEVEL,
) -> dict[str, Any]:
    """Difference ``a − b`` of ``metric`` between two models' scores on shared resamples:
    ``metric`` and what :func:`bench.api.paired_bootstrap` returns for the two."""
    result_a = bootstrap_metric(metric, y_true, score_a, resamples, level)
    result_b = bootstrap_metric(metric, y_true, score_b, resamples, level)
    comparison = paired_bootstrap(
        result_a.values, result_b.values, result_a.point, result_b.point, level
    )
    return {"metric": metric, **comparison}
