"""An independent reference scorer: scikit-learn point estimates and a plain bootstrap.

Verification must not share the harness's kernels (a bug in a kernel would verify
itself), so nothing here imports :mod:`bench.statistics` or a metric plugin. Point
estimates come from scikit-learn (``roc_auc_score``, ``average_precision_score``,
``precision_recall_curve`` + ``auc``, ``brier_score_loss``, ``mean_absolute_error``,
``root_mean_squared_error``, ``r2_score``) and SciPy's ``pearsonr`` (the expected
calibration error, which scikit-learn lacks, from its definition); confidence intervals
from a bootstrap written as a plain loop over replicates, in which AUROC, average
precision, the Brier score, ECE, MAE and RMSE are computed from their definitions
(Mann–Whitney ranks; precision summed over recall steps; per-bin sums of ``y − s``; mean
squared or absolute errors), tested equal to scikit-learn, because scikit-learn's input validation costs about a millisecond per call
and a board has thousands of replicates per record.

The resampling definition is the harness's (docs: :mod:`bench.statistics.resampling`),
re-implemented from its statement, one replicate at a time:

- the units are the patients (``unit="patient"``; numbered in sorted order of their ids,
  as ``np.unique`` does) or the records (``unit="record"``);
- a replicate draws as many units as there are, with replacement:
  ``rng.integers(0, units, size=units, dtype=np.int32)`` from ``np.random.default_rng(seed)``,
  one generator for all replicates in turn; a drawn patient brings all of their records;
- stratified: positive units (a patient with any positive record), then negative units,
  each drawn from its own stratum with its own generator,
  ``np.random.SeedSequence(seed).spawn(k)`` for the ``k`` non-empty strata, positives first;
- a metric undefined on a replicate (one class only) is NaN and left out of the interval;
  the interval is the percentile interval ``np.quantile(values, [α/2, 1 − α/2])``.

A multi-label (or multi-target) score is the macro mean over the label columns that have
two classes and at least ``min_label_positives`` positives (any two values for
regression); on a replicate where a scored label is undefined it contributes its
full-sample value.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Confidence level of every interval the harness reports.
LEVEL = 0.95


class NotDerivable(ValueError):
    """The reference has no independent implementation of a metric."""


@dataclass(frozen=True)
class ReferenceValue:
    """A metric re-derived by the reference: the point value, its percentile CI and how
    many of the replicates gave a finite value."""

    point: float
    ci_low: float
    ci_high: float
    valid_replicates: int
    replicates: int


def _trapezoid_pr(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import auc, precision_recall_curve

    precision, recall, _ = precision_recall_curve(y, s)
    return float(auc(recall, precision))


def _brier(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import brier_score_loss

    return float(brier_score_loss(y, s, pos_label=1))


def _pearson(y: np.ndarray, s: np.ndarray) -> float:
    from scipy.stats import pearsonr

    if np.all(y == y[0]) or np.all(s == s[0]):
        return float("nan")
    return float(np.clip(pearsonr(y, s).statistic, -1.0, 1.0))


def _r2(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import r2_score

    return float("nan") if np.all(y == y[0]) else float(r2_score(y, s))


#: Equal-width probability bins of the expected calibration error (the ``ece`` metric's).
ECE_BINS = 15


def _ece_by_definition(y: np.ndarray, s: np.ndarray) -> float:
    """Expected calibration error of probabilities ``s``: ``Σ_k (n_k / n) |mean(y in k) −
    mean(s in k)|`` over :data:`ECE_BINS` equal-width bins, bin ``k`` holding
    ``[k/B, (k+1)/B)`` and the last also 1.0 (scikit-learn has no ECE; tested equal to one
    built from ``calibration_curve``); NaN for scores outside [0, 1]."""
    if len(s) and (s.min() < 0 or s.max() > 1):
        return float("nan")
    bins = np.minimum((s * ECE_BINS).astype(np.int64), ECE_BINS - 1)
    total = 0.0
    for k in np.unique(bins):
        members = bins == k
        total += members.sum() * abs(y[members].mean() - s[members].mean())
    return float(total / len(y))


def _sklearn(name: str) -> Callable[[np.ndarray, np.ndarray], float]:
    def compute(y: np.ndarray, s: np.ndarray) -> float:
        import sklearn.metrics

        return float(getattr(sklearn.metrics, name)(y, s))

    return compute


#: metric name → (implementation, whether it needs both classes). Every other metric is
#: not derivable here (reported as such by the verifier, never passed).
METRICS: dict[str, tuple[Callable[[np.ndarray, np.ndarray], float], bool]] = {
    "auroc": (_sklearn("roc_auc_score"), True),
    "auprc": (_sklearn("average_precision_score"), True),
    "auprc_trapezoid": (_trapezoid_pr, True),
    "brier": (_brier, False),
    "ece": (_ece_by_definition, False),
    "mae": (_sklearn("mean_absolute_error"), False),
    "rmse": (_sklearn("root_mean_squared_error"), False),
    "r2": (_r2, False),
    "pearson": (_pearson, False),
}


def _auroc_from_ranks(y: np.ndarray, s: np.ndarray) -> float:
    """AUROC as the Mann–Whitney U statistic over ``n_pos · n_neg``, ties at their mean rank
    (equal to ``roc_auc_score``; about 20x faster per call, for the replicate loop)."""
    positive = y == 1
    n_pos = int(positive.sum())
    n_neg = len(y) - n_pos
    order = np.argsort(s, kind="mergesort")
    bounds = np.r_[0, np.flatnonzero(np.diff(s[order])) + 1, len(s)]  # tie blocks, sorted
    ranks = np.empty(len(s))
    ranks[order] = np.repeat((bounds[:-1] + bounds[1:] + 1) / 2, np.diff(bounds))  # mean rank
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_precision_by_definition(y: np.ndarray, s: np.ndarray) -> float:
    """Average precision ``Σ (R_i − R_{i−1}) P_i`` over the distinct score thresholds in
    decreasing order (``average_precision_score``'s definition; faster per call)."""
    order = np.argsort(-s, kind="mergesort")
    ranked, hits = s[order], y[order] == 1
    last = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]  # end of each tie block
    true_positives = np.cumsum(hits)[last]
    precision = true_positives / (last + 1)
    recall = true_positives / true_positives[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def _brier_by_definition(y: np.ndarray, s: np.ndarray) -> float:
    """The Brier score ``mean((s − y)²)`` of probabilities ``s`` for 0/1 labels ``y``."""
    return float(np.mean(np.square(s - y)))


def _ece_by_bin_sums(y: np.ndarray, s: np.ndarray) -> float:
    """ECE as ``Σ_k |Σ_{i in k} (y_i − s_i)| / n`` (the same sum, one pass per replicate)."""
    if s.min() < 0 or s.max() > 1:
        return float("nan")
    bins = np.minimum((s * ECE_BINS).astype(np.int64), ECE_BINS - 1)
    return float(np.abs(np.bincount(bins, y - s, ECE_BINS)).sum() / len(y))


def _mae_by_definition(y: np.ndarray, s: np.ndarray) -> float:
    return float(np.mean(np.abs(s - y)))


def _rmse_by_definition(y: np.ndarray, s: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(s - y))))


#: Replicate-loop forms of the metrics a board has most of, written from their definitions
#: (never the harness's kernels) and tested equal to scikit-learn; scikit-learn validates
#: its inputs on every call, which costs about a millisecond per replicate (a board has
#: hundreds of thousands). Point estimates always come from scikit-learn.
_REPLICATE_FORMS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "auroc": _auroc_from_ranks,
    "auprc": _average_precision_by_definition,
    "brier": _brier_by_definition,
    "ece": _ece_by_bin_sums,
    "mae": _mae_by_definition,
    "rmse": _rmse_by_definition,
}


def replicate_value(metric: str, y_true: np.ndarray, y_score: np.ndarray) -> float:
    """:func:`point_value` for one bootstrap replicate (same value, the faster form where one
    exists)."""
    form = _REPLICATE_FORMS.get(metric)
    if form is None:
        return point_value(metric, y_true, y_score)
    y = np.asarray(y_true, dtype=np.float64)
    needs_both_classes = METRICS[metric][1]
    if len(y) == 0 or (needs_both_classes and len(np.unique(y)) < 2):
        return float("nan")
    return form(y, np.asarray(y_score, dtype=np.float64))


def point_value(metric: str, y_true: np.ndarray, y_score: np.ndarray) -> float:
    """``metric`` on one label column (NaN where it is undefined, e.g. one class only)."""
    if metric not in METRICS:
        raise NotDerivable(
            f"metric {metric!r} has no independent reference implementation "
            f"(derivable: {', '.join(sorted(METRICS))})"
        )
    compute, binary = METRICS[metric]
    y = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(y_score, dtype=np.float64)
    if len(y) == 0 or (binary and len(np.unique(y)) < 2):
        return float("nan")
    return compute(y, s)


def replicate_counts(
    groups: np.ndarray,
    replicates: int,
    seed: int,
    unit: str = "patient",
    positive: np.ndarray | None = None,
) -> np.ndarray:
    """``(replicates, n)``: how often each record appears in each replicate (see the module
    docstring); ``positive`` (a bool per record) makes the draw stratified."""
    groups = np.asarray(groups)
    if unit == "patient":
        _, unit_of = np.unique(groups, return_inverse=True)
    elif unit == "record":
        unit_of = np.arange(len(groups))
    else:
        raise ValueError(f"bootstrap unit must be 'patient' or 'record', got {unit!r}")
    units = int(unit_of.max()) + 1 if len(unit_of) else 0
    if positive is None:
        strata = [np.arange(units)]
        rngs = [np.random.default_rng(seed)]
    else:
        unit_positive = np.zeros(units, dtype=bool)
        for u, p in zip(unit_of, np.asarray(positive, dtype=bool), strict=True):
            unit_positive[u] |= p
        strata = [
            s for s in (np.flatnonzero(unit_positive), np.flatnonzero(~unit_positive)) if len(s)
        ]
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(strata))]
    counts = np.zeros((replicates, len(groups)), dtype=np.int64)
    for r in range(replicates):
        per_unit = np.zeros(units, dtype=np.int64)
        for rng, members in zip(rngs, strata, strict=True):
            draws = rng.integers(0, len(members), size=len(members), dtype=np.int32)
            np.add.at(per_unit, members[draws], 1)
        counts[r] = per_unit[unit_of]
    return counts


@functools.lru_cache(maxsize=8)
def _shared_counts(
    groups: tuple[object, ...],
    replicates: int,
    seed: int,
    unit: str,
    positive: tuple[bool, ...] | None,
) -> np.ndarray:
    """:func:`replicate_counts`, kept for the next records of the same evaluation set (a
    cell's metrics all resample its patients alike); read-only."""
    counts = replicate_counts(
        np.asarray(groups), replicates, seed, unit, None if positive is None else np.array(positive)
    )
    counts.flags.writeable = False
    return counts


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The percentile interval of the finite ``values`` (NaN, NaN when there are none)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return float("nan"), float("nan")
    alpha = (1 - level) / 2
    return float(np.quantile(finite, alpha)), float(np.quantile(finite, 1 - alpha))


def replicate_values(
    metric: str,
    y_true: np.ndarray,
    y_score: np.ndarray,
    counts: np.ndarray,
    *,
    min_label_positives: int = 1,
    regression: bool = False,
) -> tuple[float, np.ndarray]:
    """``metric``'s point value and its value on every replicate of ``counts`` (the
    ``(replicates, n)`` multiplicities of :func:`replicate_counts`), one plain loop over the
    replicates; a multi-label score is the macro of the module docstring. Raises
    :class:`NotDerivable` for a metric the reference lacks."""
    y = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(y_score, dtype=np.float64)
    columns_y = y.reshape(len(y), -1)
    columns_s = s.reshape(len(s), -1)
    minimum = 0 if regression else min_label_positives
    scored = [
        k
        for k in range(columns_y.shape[1])
        if len(np.unique(columns_y[:, k])) > 1 and (columns_y[:, k] == 1).sum() >= minimum
    ]
    if y.ndim == 1:  # one column: the metric itself decides whether it is defined
        scored = [0]
    points = {k: point_value(metric, columns_y[:, k], columns_s[:, k]) for k in scored}
    scored = [k for k in scored if np.isfinite(points[k]) or y.ndim == 1]
    values = np.full(len(counts), np.nan)
    positions = np.arange(len(y))
    for r in range(len(counts)):
        index = np.repeat(positions, counts[r])
        per_label = []
        for k in scored:
            value = replicate_value(metric, columns_y[index, k], columns_s[index, k])
            per_label.append(value if np.isfinite(value) or y.ndim == 1 else points[k])
        if per_label:
            values[r] = float(np.mean(per_label))
    point = float(np.mean([points[k] for k in scored])) if scored else float("nan")
    return point, values


def reference_score(
    metric: str,
    y_true: np.ndarray,
    y_score: np.ndarray,
    groups: np.ndarray,
    *,
    replicates: int,
    seed: int,
    unit: str = "patient",
    stratified: bool = False,
    min_label_positives: int = 1,
    regression: bool = False,
    level: float = LEVEL,
) -> ReferenceValue:
    """``metric`` of predictions ``y_score`` against ``y_true`` (``(n,)``, or ``(n, K)``
    label columns for a macro mean) for records of patients ``groups``, with its percentile
    CI over ``replicates`` bootstrap replicates drawn from ``seed`` (module docstring).

    ``regression`` scores a multi-target table over every column with two values (no
    positives rule). Raises :class:`NotDerivable` for a metric the reference lacks.
    """
    y = np.asarray(y_true, dtype=np.float64)
    positive = (y.reshape(len(y), -1) == 1).any(axis=1) if stratified else None
    counts = _shared_counts(
        tuple(np.asarray(groups).tolist()),
        replicates,
        seed,
        unit,
        None if positive is None else tuple(positive.tolist()),
    )
    point, values = replicate_values(
        metric, y, y_score, counts, min_label_positives=min_label_positives, regression=regression
    )
    low, high = percentile_interval(values, level)
    return ReferenceValue(point, low, high, int(np.isfinite(values).sum()), replicates)
