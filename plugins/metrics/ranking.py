"""Exact AUROC and average-precision kernels evaluated on many bootstrap replicates at once.

A replicate is a row of record *multiplicities* ``weights[r, i]`` (how often record ``i``
appears in resample ``r``; see :func:`plugins.metrics.bootstrap.bootstrap_indices`).

Everything the ROC and PR curves need can be read at the tie groups of the *positive*
scores. The layout is computed once per ``(y_true, y_score)``: positives sorted and grouped
by equal score (exact float equality, as in scikit-learn's ``_binary_clf_curve``), and the
sorted negatives cut into segments at the positive groups' scores. A compiled pass (numba)
per replicate sums its multiplicities per group/segment in a single pass over its row,
then walks the positive groups once for all three metrics.

Results equal scikit-learn on the materialised resample (``np.repeat(index, weights[r])``)
up to float rounding (AUROC comes from integer counts with a single division).
Replicates lacking either class give ``NaN``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from bench.api import check_binary_inputs, worker_count


@dataclass(frozen=True)
class _Layout:
    """Static, per-test-set view of the scores (independent of the replicates).

    Every record falls in one *bin*: a positive tie group (bins ``0 … G−1``, ascending
    score) or a segment of the sorted negatives between consecutive positive-group
    boundaries (bins ``G …``); each replicate sums its multiplicities per bin in a single
    pass over its row.
    """

    bins: np.ndarray  # (n,) bin of every record
    n_bins: int
    n_groups: int
    below_at: np.ndarray  # per positive group: boundary index = negatives with lower score
    at_most_at: np.ndarray  # per positive group: boundary of negatives with lower or equal score

    @classmethod
    def of(cls, y: np.ndarray, s: np.ndarray) -> _Layout:
        pos = np.flatnonzero(y)
        neg = np.flatnonzero(~y)
        pos = pos[np.argsort(s[pos], kind="stable")]
        neg = neg[np.argsort(s[neg], kind="stable")]
        pos_scores, neg_scores = s[pos], s[neg]
        new_group = np.r_[True, pos_scores[1:] != pos_scores[:-1]][: len(pos)]
        group_scores = pos_scores[new_group]
        below = np.searchsorted(neg_scores, group_scores, side="left")
        at_most = np.searchsorted(neg_scores, group_scores, side="right")
        inner = np.unique(np.r_[below, at_most])
        neg_starts = np.r_[0, inner[(inner > 0) & (inner < len(neg))]] if len(neg) else inner[:0]
        n_groups = len(group_scores)
        bins = np.empty(len(s), dtype=np.int64)
        bins[pos] = np.cumsum(new_group) - 1
        bins[neg] = n_groups + np.searchsorted(neg_starts, np.arange(len(neg)), side="right") - 1
        points = np.r_[neg_starts, len(neg)]
        return cls(
            bins=bins,
            n_bins=n_groups + len(neg_starts),
            n_groups=n_groups,
            below_at=np.searchsorted(points, below),
            at_most_at=np.searchsorted(points, at_most),
        )


@numba.njit(nogil=True, cache=True)
def _ranking_rows(
    weights: np.ndarray,
    bins: np.ndarray,
    n_groups: int,
    n_bins: int,
    below_at: np.ndarray,
    at_most_at: np.ndarray,
    out: np.ndarray,
) -> None:
    """``out[r]`` = AUROC, average precision, trapezoidal AUPRC of replicate row ``r``.

    One pass over the row sums its multiplicities per bin (integers); the negatives are
    cumulated at the segment boundaries, then the positive groups are walked from the
    highest score down. Per group ``g`` with ``pos`` positives: ``below``/``at_most`` are the
    negatives scoring lower than / at most its score, ``tp_ge`` the positives scoring at
    least its score, ``fp_ge = N − below`` and ``fp_gt = N − at_most`` (scikit-learn's
    curves at that threshold and the one just above it).

    - AUROC = Σ pos · (below + at_most) / (2 · P · N): P(score_pos > score_neg) + ½ P(tie),
      integer counts with a single division.
    - Average precision = Σ pos · precision_g / P (Σ (R_k − R_{k−1}) P_k, sklearn's definition).
    - Trapezoidal AUPRC = Σ pos · (precision_g + precision_above_g) / (2P), where the
      precision above the group is 1 when nothing is selected there (the curve's (0, 1) end).

    A row without both classes gives NaN in all three.
    """
    binned = np.zeros(n_bins, dtype=np.int64)
    segments = n_bins - n_groups
    cum_neg = np.zeros(segments + 1, dtype=np.int64)
    for r in range(weights.shape[0]):
        binned[:] = 0
        row = weights[r]
        for i in range(bins.shape[0]):
            binned[bins[i]] += row[i]
        total_pos = 0
        for g in range(n_groups):
            total_pos += binned[g]
        for k in range(segments):
            cum_neg[k + 1] = cum_neg[k] + binned[n_groups + k]
        total_neg = cum_neg[segments]
        if total_pos == 0 or total_neg == 0:
            out[r] = np.nan
            continue
        twice_below = 0
        precision_sum = 0.0
        trapezoid_sum = 0.0
        tp_ge = 0
        for g in range(n_groups - 1, -1, -1):
            pos = binned[g]
            if pos == 0:
                continue
            tp_ge += pos
            below = cum_neg[below_at[g]]
            at_most = cum_neg[at_most_at[g]]
            twice_below += pos * (below + at_most)
            precision = tp_ge / (tp_ge + total_neg - below)
            precision_sum += pos * precision
            selected_above = tp_ge - pos + total_neg - at_most
            above = (tp_ge - pos) / selected_above if selected_above > 0 else 1.0
            trapezoid_sum += pos * (precision + above)
        out[r, 0] = twice_below / (2.0 * total_pos * total_neg)
        out[r, 1] = precision_sum / total_pos
        out[r, 2] = trapezoid_sum / (2.0 * total_pos)


def kernel_threads() -> int:
    """Threads for the replicate kernels: ``BENCH_KERNEL_THREADS`` or the CPU count (≤ 8)."""
    return worker_count("BENCH_KERNEL_THREADS")


#: Replicate rows per kernel call: the threads share the rows in parts of this size.
ROWS_PER_THREAD = 64


def over_row_parts(rows: Callable[[slice], None], n_rows: int) -> None:
    """Call ``rows(part)`` on every part of :data:`ROWS_PER_THREAD` rows of ``n_rows``,
    on :func:`kernel_threads` threads (the kernels release the GIL)."""
    parts = [slice(start, start + ROWS_PER_THREAD) for start in range(0, n_rows, ROWS_PER_THREAD)]
    threads = min(kernel_threads(), len(parts))
    if threads <= 1:
        rows(slice(None))
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(rows, parts))


#: Ranking metrics, in the order :func:`_ranking_rows` writes them.
RANKING_METRICS: tuple[str, ...] = ("auroc", "auprc", "auprc_trapezoid")


def integer_weights(weights: np.ndarray, n: int) -> np.ndarray:
    """The multiplicity matrix as integers, checked to be ``(replicates, n)``, whole and ≥ 0."""
    w = np.asarray(weights)
    if w.ndim != 2 or w.shape[1] != n:
        raise ValueError(
            f"weights must be a (replicates, n={n}) multiplicity matrix, got shape {w.shape}"
        )
    if not np.issubdtype(w.dtype, np.integer):
        whole = w.astype(np.int64)
        if np.array_equal(whole, w):
            w = whole
        else:
            raise ValueError(f"weights must hold whole multiplicities, got dtype {w.dtype}")
    if np.issubdtype(w.dtype, np.signedinteger) and w.size and w.min() < 0:
        raise ValueError("weights must hold multiplicities >= 0, got a negative value")
    return np.ascontiguousarray(w)


def ranking_replicates(
    y_true: np.ndarray,
    y_score: np.ndarray,
    weights: np.ndarray,
    metrics: tuple[str, ...] = RANKING_METRICS,
) -> dict[str, np.ndarray]:
    """Exact ranking metrics of every replicate row of ``weights``; NaN where a class is absent.

    ``metrics`` are names in :data:`RANKING_METRICS`: ``"auroc"`` (= ``roc_auc_score``),
    ``"auprc"`` (average precision, = ``average_precision_score``) and ``"auprc_trapezoid"``
    (``auc(recall, precision)`` of ``precision_recall_curve`` — the AUPRC the HeartBEiT code
    reported, optimistic relative to average precision because it interpolates linearly).
    One compiled pass per replicate row gives all three.
    """
    unknown = sorted(set(metrics) - set(RANKING_METRICS))
    if unknown:
        raise ValueError(
            f"unknown ranking metrics {unknown}; choose from {sorted(RANKING_METRICS)}"
        )
    y, s = check_binary_inputs(y_true, y_score)
    w = integer_weights(weights, len(y))
    layout = _Layout.of(y, s)
    values = np.empty((w.shape[0], len(RANKING_METRICS)), dtype=np.float64)

    def rows(part: slice) -> None:
        _ranking_rows(
            w[part],
            layout.bins,
            layout.n_groups,
            layout.n_bins,
            layout.below_at,
            layout.at_most_at,
            values[part],
        )

    over_row_parts(rows, len(w))
    return {name: values[:, RANKING_METRICS.index(name)] for name in metrics}
