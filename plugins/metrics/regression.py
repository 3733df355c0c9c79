"""Regression metrics — MAE, RMSE, R², Pearson's r — on many bootstrap replicates at once.

A replicate is a row of record multiplicities ``weights[r, i]`` (see
:func:`plugins.metrics.bootstrap.bootstrap_indices`); its metric is the metric with those
multiplicities as sample weights, which equals the metric on the materialised resample
(``np.repeat(index, weights[r])``). With ``W = Σ w``, ``e = y_score − y_true`` and weighted
means ``ȳ = Σ w·y / W`` and ``ŝ = Σ w·y_score / W``:

- ``mae`` = Σ w·|e| / W; ``rmse`` = √(Σ w·e² / W);
- ``r2`` = 1 − Σ w·e² / Σ w·(y − ȳ)² (scikit-learn's ``r2_score`` with ``sample_weight``);
- ``pearson`` = Σ w·(y − ȳ)(s − ŝ) / √(Σ w·(y − ȳ)² · Σ w·(s − ŝ)²).

The sums are matrix–vector products over the ``(R, n)`` matrix, on values centred at their
full-set means (so the weighted moments lose no precision to cancellation). A replicate
on which a metric is undefined — no records, a constant target for ``r2``/``pearson``, or
constant predictions for ``pearson`` (constancy checked exactly over the records it
holds) — gives NaN; on the full set the metric is then NaN with the reason in
``details["undefined"]``, as a one-class test set leaves AUROC NaN.
"""

from __future__ import annotations

import numpy as np
from bench.plugins.metrics.bootstrap import kernel_bootstrap, resamples_of
from bench.plugins.metrics.ranking import integer_weights

from bench.api import MetricValue, ScoreData, Unit

#: Every regression metric :func:`regression_replicates` computes.
REGRESSION_METRICS: tuple[str, ...] = ("mae", "rmse", "r2", "pearson")


def check_regression_inputs(
    y_true: np.ndarray, y_score: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Validate finite 1-D targets and predictions of equal length; return float arrays."""
    y = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(y_score, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1 or len(y) != len(s):
        raise ValueError(
            f"y_true and y_score must be 1-D of equal length, got shapes {y.shape} and {s.shape}"
        )
    for name, values in (("y_true", y), ("y_score", s)):
        if not np.isfinite(values).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    return y, s


def _constant(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Per row of ``present`` ``(R, n)`` with records: whether ``values`` is one value over
    its records (exactly: its lowest and highest present values are equal)."""
    if not len(values):
        return np.zeros(len(present), dtype=bool)
    order = np.argsort(values, kind="stable")
    ascending = values[order]
    present = present[:, order]
    lowest = ascending[present.argmax(axis=1)]
    highest = ascending[len(values) - 1 - present[:, ::-1].argmax(axis=1)]
    return lowest == highest


def _moments(values: np.ndarray, w: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per row of ``w``: the values centred at their full-set mean, their weighted mean,
    and Σ w·(v − v̄)²."""
    centred = values - values.mean() if len(values) else values
    mean = (w @ centred) / total
    return centred, mean, w @ centred**2 - total * mean**2


def regression_replicates(
    name: str, y_true: np.ndarray, y_score: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Metric ``name`` (one of :data:`REGRESSION_METRICS`) on every row of the
    multiplicity matrix ``weights`` ``(R, n)``; NaN where it is undefined (see the module
    docstring)."""
    if name not in REGRESSION_METRICS:
        raise ValueError(f"unknown regression metric {name!r}; choose from {REGRESSION_METRICS}")
    y, s = check_regression_inputs(y_true, y_score)
    counts = integer_weights(weights, len(y))
    w = counts.astype(np.float64)
    total = w.sum(axis=1)
    undefined = total == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "mae":
            values = (w @ np.abs(s - y)) / total
        elif name == "rmse":
            values = np.sqrt((w @ (s - y) ** 2) / total)
        else:
            yc, y_mean, y_spread = _moments(y, w, total)
            undefined |= _constant(y, counts > 0)
            if name == "r2":
                values = 1.0 - (w @ (s - y) ** 2) / y_spread
            else:
                sc, s_mean, s_spread = _moments(s, w, total)
                undefined |= _constant(s, counts > 0)
                covariance = w @ (yc * sc) - total * y_mean * s_mean
                values = np.clip(covariance / np.sqrt(y_spread * s_spread), -1.0, 1.0)
    values[undefined] = np.nan
    return values


def undefined_reason(name: str, y_true: np.ndarray, y_score: np.ndarray) -> str | None:
    """Why metric ``name`` is undefined on the full set, or ``None`` when it is defined."""
    y, s = check_regression_inputs(y_true, y_score)
    if not len(y):
        return "no records"
    if name in ("r2", "pearson") and (y == y[0]).all():
        return f"the target is constant ({y[0]:g}): {name} needs its variance"
    if name == "pearson" and (s == s[0]).all():
        return f"the predictions are constant ({s[0]:g}): pearson needs their variance"
    return None


def regression_metric(
    name: str,
    data: ScoreData,
    replicates: int | None = None,
    seed: int = 0,
    unit: Unit = "patient",
) -> MetricValue:
    """Regression metric ``name`` on one test set with its percentile CI on the bootstrap
    resamples (the shared ``data.replicate_indices``, see
    :func:`plugins.metrics.bootstrap.resamples_of`); NaN with ``details["undefined"]``
    where the test set cannot be scored."""
    resamples = resamples_of(data, replicates, seed, unit)

    def kernel(weights: np.ndarray) -> np.ndarray:
        return regression_replicates(name, data.y_true, data.y_score, weights)

    result = kernel_bootstrap(kernel, len(data.y_true), resamples)
    reason = undefined_reason(name, data.y_true, data.y_score)
    return result.metric_value(unit, seed, **({"undefined": reason} if reason else {}))
