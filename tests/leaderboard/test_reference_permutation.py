"""The verifier's paired permutation test of two AUROCs
(:mod:`bench.leaderboard.reference_permutation`): its per-patient shares sum to the AUROC
difference, every sign pattern's difference equals scikit-learn's AUROCs of the swapped
scores, and its p-value equals the harness's ``paired_permutation`` (exhaustive and drawn)."""

from __future__ import annotations

import itertools

import numpy as np
from bench.leaderboard.reference_permutation import patient_weights, permutation_test
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from bench.api import paired_permutation


def _data(seed: int, patients: int, levels: int) -> tuple[np.ndarray, ...]:
    """Labelled records of ``patients`` patients (1–3 records each), two models' scores on
    ``levels`` distinct values (ties), both classes present."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"p{i:03d}" for i in range(patients)], rng.integers(1, 4, patients))
    y = rng.integers(0, 2, len(groups))
    y[:2] = [0, 1]
    a, b = (rng.integers(0, levels, len(groups)) / levels for _ in range(2))
    return y, a, b, groups


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), patients=st.integers(2, 7), levels=st.integers(2, 20))
def test_every_pattern_is_the_auroc_difference_of_the_swapped_scores(
    seed, patients, levels
) -> None:
    y, a, b, groups = _data(seed, patients, levels)
    _, unit = np.unique(groups, return_inverse=True)
    weights = patient_weights(y, a, b, unit)
    scale = 4 * int(y.sum()) * int((y == 0).sum())
    for signs in itertools.product([1, -1], repeat=len(weights)):
        swap = np.asarray(signs)[unit] == -1
        a2, b2 = np.where(swap, b, a), np.where(swap, a, b)
        expected = roc_auc_score(y, a2) - roc_auc_score(y, b2)
        assert abs(np.asarray(signs) @ weights / scale - expected) < 1e-12


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), patients=st.sampled_from([3, 9, 14, 40, 105, 333]),
       levels=st.integers(2, 50), board_seed=st.integers(0, 2**31))  # fmt: skip
def test_the_p_value_equals_the_harness_test(seed, patients, levels, board_seed) -> None:
    """Exhaustive below 2 ** 13 patterns, drawn above, with the same generator (105 and
    333 patients: the draws span two blocks that do not align with the generator's
    buffer, so the block size matters)."""
    y, a, b, groups = _data(seed, patients, levels)
    harness = paired_permutation(y, a, b, groups, seed=board_seed)["p_value"]
    assert permutation_test(y, a, b, groups, board_seed) == harness
