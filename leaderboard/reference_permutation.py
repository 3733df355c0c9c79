"""The board's paired permutation test of two AUROCs, written again from its statement
(:func:`bench.api.paired_permutation`) for ``bench verify``, sharing no code with it.

Under the null the two rows' scores are exchangeable within each patient: a sign pattern
swaps them on every record of the patients it marks ``−1``. The AUROC difference of a
pattern is computed here from the pairs (positive ``i``, negative ``j``) of the test set:
with ``H(x) = 1`` above 0 and ``1/2`` at 0, ``same = H(a_i − a_j) − H(b_i − b_j)`` and
``mixed = H(a_i − b_j) − H(b_i − a_j)``, a pair of one patient ``u`` adds ``s_u · same``
and a pair of patients ``u ≠ v`` adds ``(s_u + s_v)/2 · same + (s_u − s_v)/2 · mixed``; so
every pattern's difference (times ``4 · positives · negatives``, an integer) is the
pattern's signs times each patient's summed share.

The patterns: every one of the ``2 ** patients`` when that is at most the number of
permutations (``p = #{|d| ≥ |d_obs|} / 2 ** patients``), else ``permutations`` rows drawn
as ``1 − 2 · rng.integers(0, 2, (rows, patients), dtype=int8)`` from one
``np.random.default_rng(seed)`` in blocks of ``rows = max(1, 2**20 // patients)``, with
``p = (1 + #{|d| ≥ |d_obs|}) / (1 + permutations)``. The patients are numbered in sorted
order of their ids. The board reports, per comparison, the largest p over its seeds, for
single-label AUROC only, with the board's resample seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from bench.leaderboard.reference_stats import SeedResample

PERMUTATIONS = 9999
SIGN_BLOCK = 1 << 20  # the generator's draws depend on the block size


def _step(x: np.ndarray) -> np.ndarray:
    return (x > 0) + 0.5 * (x == 0)


def patient_weights(y: np.ndarray, a: np.ndarray, b: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Each patient's share of ``4 · positives · negatives · (AUROC(a) − AUROC(b))`` under
    the identity pattern (integers; the docstring's pair sums)."""
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    a_pos, a_neg, b_pos, b_neg = a[pos][:, None], a[neg][None, :], b[pos][:, None], b[neg][None, :]
    same = _step(a_pos - a_neg) - _step(b_pos - b_neg)
    mixed = _step(a_pos - b_neg) - _step(b_pos - a_neg)
    u, v = np.broadcast_arrays(unit[pos][:, None], unit[neg][None, :])
    one = u == v
    to_u = np.where(one, 4 * same, 2 * (same + mixed))
    to_v = np.where(one, 0.0, 2 * (same - mixed))
    units = int(unit.max()) + 1
    shares = np.bincount(u.ravel(), to_u.ravel(), units) + np.bincount(
        v.ravel(), to_v.ravel(), units
    )
    return np.rint(shares).astype(np.int64)


def permutation_test(y: np.ndarray, a: np.ndarray, b: np.ndarray, groups: Sequence[str],
                     seed: int, permutations: int = PERMUTATIONS) -> float:  # fmt: skip
    """The two-sided p-value of ``AUROC(a) − AUROC(b)`` (module docstring)."""
    _, unit = np.unique(np.asarray(groups), return_inverse=True)
    weights = patient_weights(y, a, b, unit)
    observed = abs(int(weights.sum()))
    units = len(weights)
    if units < 63 and 2**units <= permutations:
        bits = (np.arange(2**units)[:, None] >> np.arange(units)) & 1
        return int((np.abs((1 - 2 * bits) @ weights) >= observed).sum()) / 2**units
    rng = np.random.default_rng(seed)
    rows, reached = max(1, SIGN_BLOCK // units), 0
    for start in range(0, permutations, rows):
        bits = rng.integers(0, 2, size=(min(rows, permutations - start), units), dtype=np.int8)
        signs = (1 - 2 * bits).astype(np.int64)
        reached += int((np.abs(signs @ weights) >= observed).sum())
    return (1 + reached) / (1 + permutations)


def permutation_p(
    metric: str, first: Sequence[SeedResample], second: Sequence[SeedResample], seed: int
) -> float | None:
    """The largest permutation p over the paired seeds for a single-label AUROC with both
    classes in every seed's test set, else None."""
    if metric != "auroc" or any(s.labels.shape[1] != 1 for s in first):
        return None
    p_values = []
    for x, z in zip(first, second, strict=True):
        y = x.labels[:, 0]
        if y.all() or not y.any():
            return None
        p_values.append(permutation_test(y, x.scores[:, 0], z.scores[:, 0], x.groups, seed))
    return max(p_values)
