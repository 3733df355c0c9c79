"""Paired comparisons of two models on one test set: the paired bootstrap, DeLong's test
and the paired permutation test.

The bootstrap comparison evaluates both models on the *same* resamples, so the spread of
the difference reflects only how the models disagree, not test-set sampling twice over;
its p-value never claims more resolution than ``B`` replicates give. DeLong's test (the
fast midrank algorithm of Sun & Xu, IEEE SPL 2014) is the analytic cross-check for AUROC.
The permutation test (:func:`paired_permutation`) makes no distributional assumption: under
the null the two models are exchangeable within each patient.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


#: A metric on many score vectors at once: ``kernel(y_true (n,), scores (P, n)) -> (P,)``.
ScoresKernel = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: Sign-matrix entries drawn per block (rows × units, int8).
SIGN_BLOCK = 1 << 20


def permutation_signs(units: int, permutations: int, seed: int) -> Iterator[np.ndarray]:
    """Row blocks of the ``(permutations, units)`` sign matrix of :func:`paired_permutation`.

    ``-1`` swaps the two models' scores on every record of a unit, ``+1`` keeps them. Each
    block is ``1 − 2 · rng.integers(0, 2, (rows, units), dtype=int8)`` from one
    ``np.random.default_rng(seed)``, ``rows = max(1, SIGN_BLOCK // units)``, so a seed
    always gives the same matrix.
    """
    rng = np.random.default_rng(seed)
    rows = max(1, SIGN_BLOCK // units)
    for start in range(0, permutations, rows):
        bits = rng.integers(0, 2, size=(min(rows, permutations - start), units), dtype=np.int8)
        yield 1 - 2 * bits


def _all_signs(units: int) -> np.ndarray:
    """Every one of the ``2 ** units`` sign patterns, ``(2 ** units, units)`` int8."""
    bits = (np.arange(2**units)[:, None] >> np.arange(units)) & 1
    return (1 - 2 * bits).astype(np.int8)


def _below(sorted_values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Twice the number of ``sorted_values`` below each ``x``, ties counted as one half."""
    return np.searchsorted(sorted_values, x, "left") + np.searchsorted(sorted_values, x, "right")


def _auroc(y: np.ndarray, s: np.ndarray) -> float:
    """AUROC of scores ``s`` for labels ``y`` (both classes present), from midranks."""
    m = int(y.sum())
    return float((rankdata(s)[y].sum() - m * (m + 1) / 2) / (m * (len(y) - m)))


def _auroc_swap_weights(
    y: np.ndarray, a: np.ndarray, b: np.ndarray, unit_of: np.ndarray
) -> tuple[np.ndarray, int]:
    """Integer unit weights ``W`` and scale ``c`` with ``AUROC(a') − AUROC(b') = s · W / c``
    for every sign vector ``s`` (``a'``, ``b'``: ``a`` and ``b`` swapped on the units where
    ``s = −1``).

    AUROC is a mean over (positive ``i``, negative ``j``) pairs of ``H(x_i − x_j)`` (``H``
    is 1, ½, 0 for >, =, <). With ``same = H(a_i − a_j) − H(b_i − b_j)`` and
    ``cross = H(a_i − b_j) − H(b_i − a_j)``, the pair's term in the difference is ``same``
    (neither swapped), ``−same`` (both), ``cross`` (only ``j``) or ``−cross`` (only ``i``),
    which is ``s_i (same + cross) / 2 + s_j (same − cross) / 2`` in all four cases: the
    difference is *linear* in the signs, so every permutation costs one dot product. The
    pair sums per record come from sorted searches, in half-counts, so ``W`` is exact.
    """
    pos, neg = y, ~y
    m, n = int(pos.sum()), int(neg.sum())
    a_neg, b_neg = np.sort(a[neg]), np.sort(b[neg])
    a_pos, b_pos = np.sort(a[pos]), np.sort(b[pos])
    # per positive record, twice the sums over negatives of same and cross
    same_p = _below(a_neg, a[pos]) - _below(b_neg, b[pos])
    cross_p = _below(b_neg, a[pos]) - _below(a_neg, b[pos])
    # per negative record, twice the sums over positives (pairs where x_j is below x_i)
    same_n = (2 * m - _below(a_pos, a[neg])) - (2 * m - _below(b_pos, b[neg]))
    cross_n = (2 * m - _below(a_pos, b[neg])) - (2 * m - _below(b_pos, a[neg]))
    per_record = np.empty(len(y), dtype=np.int64)
    per_record[pos] = same_p + cross_p
    per_record[neg] = same_n - cross_n
    weights = np.bincount(unit_of, weights=per_record, minlength=int(unit_of.max()) + 1)
    return np.rint(weights).astype(np.int64), 4 * m * n


def paired_permutation(
    y_true: np.ndarray,
    score_a: np.ndarray,
    score_b: np.ndarray,
    groups: np.ndarray,
    *,
    kernel: ScoresKernel | None = None,
    permutations: int = 9999,
    seed: int = 0,
) -> dict[str, Any]:
    """Paired permutation test of equal metric for two models on the same records (``a − b``).

    Under the null the two models are exchangeable *within each patient* (``groups``
    holds each record's patient id): a permutation swaps the two models' scores on all
    records of the patients its sign row marks ``−1`` (the sign matrix of
    :func:`permutation_signs`, ``(permutations, patients)``), and the metric difference is
    recomputed. The two-sided p-value is ``(1 + #{|d_perm| ≥ |d_obs|}) / (1 + P)``, never
    0. When ``2 ** patients ≤ permutations`` every sign pattern is enumerated instead and
    ``p = #{|d_perm| ≥ |d_obs|} / 2 ** patients`` is exact (``exhaustive`` is True).

    The metric is AUROC by default, through an exact form that is linear in the signs
    (:func:`_auroc_swap_weights`), so ``|d_perm| ≥ |d_obs|`` is decided in integers.
    ``kernel(y_true, scores (P, n)) -> (P,)`` substitutes any other metric, evaluated on
    row blocks of permuted scores (ties within ``1e-12`` of ``|d_obs|`` count as reached).

    Returns ``metric_a``, ``metric_b``, ``diff``, ``p_value``, ``permutations`` (sign
    patterns evaluated), ``exhaustive``, ``units`` (patients) and ``seed``.
    """
    y, a = check_binary_inputs(y_true, score_a)
    _, b = check_binary_inputs(y_true, score_b)
    g = np.asarray(groups)
    if a.shape != b.shape or g.shape != y.shape:
        raise ValueError(
            f"score_a, score_b and groups must match y_true's shape {y.shape}, got "
            f"{a.shape}, {b.shape} and {g.shape}"
        )
    if y.all() or not y.any():
        raise ValueError("the permutation test needs both classes in y_true")
    if permutations < 1:
        raise ValueError(f"permutations must be >= 1, got {permutations}")
    _, unit_of = np.unique(g, return_inverse=True)
    units = int(unit_of.max()) + 1
    exhaustive = units < 63 and 2**units <= permutations
    blocks = (
        iter([_all_signs(units)]) if exhaustive else permutation_signs(units, permutations, seed)
    )
    if kernel is None:
        weights, scale = _auroc_swap_weights(y, a, b, unit_of)
        observed = int(weights.sum())
        point_a, point_b = _auroc(y, a), _auroc(y, b)
        reached = sum(int((np.abs(s @ weights) >= abs(observed)).sum()) for s in blocks)
        diff = observed / scale
    else:
        point_a, point_b = (float(v) for v in kernel(y, np.stack([a, b])))
        diff = point_a - point_b
        reached = sum(_kernel_reached(kernel, y, a, b, s[:, unit_of], diff) for s in blocks)
    total = 2**units if exhaustive else permutations
    p_value = reached / total if exhaustive else (1 + reached) / (1 + permutations)
    return {
        "metric_a": float(point_a),
        "metric_b": float(point_b),
        "diff": float(diff),
        "p_value": float(p_value),
        "permutations": total,
        "exhaustive": exhaustive,
        "units": units,
        "seed": seed,
    }


def _kernel_reached(
    kernel: ScoresKernel,
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    record_signs: np.ndarray,
    observed: float,
) -> int:
    """How many rows of ``record_signs`` (``(P, n)``) give ``|d| ≥ |observed|``."""
    swap = record_signs < 0
    diffs = kernel(y, np.where(swap, b, a)) - kernel(y, np.where(swap, a, b))
    return int((np.abs(diffs) >= abs(observed) - 1e-12).sum())
