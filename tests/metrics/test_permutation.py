"""The paired permutation test ``bench.api.paired_permutation`` (issue 29): patients are
the exchangeable unit, the p-value follows the ``(1 + count) / (1 + P)`` rule (or is exact
when every sign pattern is enumerated), it is uniform under the null and agrees with
DeLong's test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kstest
from sklearn.metrics import roc_auc_score

from bench.api import delong_test, paired_permutation
from bench.statistics.paired import permutation_signs

#: One positive and two negative records. Swapping scores on record k gives (a', b'):
#:   record 0 (positive): a 0.9, b 0.2;  record 1: a 0.1, b 0.5;  record 2: a 0.3, b 0.8.
#: By hand, AUROC(a') − AUROC(b') over the 8 sign patterns (s0, s1, s2):
#:   s0 = s1 = +1: a' ranks the positive above both negatives, b' below both: d = +1;
#:   s0 = s1 = −1: the mirror image, d = −1;
#:   s0 = +1, s1 = −1: a' = (0.9, 0.5, ·) → 1, b' = (0.2, 0.1, ·) → ½: d = +½ (and −½
#:   for s0 = −1, s1 = +1), whatever s2 is (0.3 and 0.8 fall on the same side both times).
#: So |d| ≥ |d_obs| = 1 exactly when s0 = s1: 4 of 8 patterns.
Y = np.array([1, 0, 0])
A = np.array([0.9, 0.1, 0.3])
B = np.array([0.2, 0.5, 0.8])


def test_exhaustive_p_value_of_three_patients_is_the_hand_count() -> None:
    result = paired_permutation(Y, A, B, np.array(["p1", "p2", "p3"]))
    assert result["exhaustive"] and result["permutations"] == 8 and result["units"] == 3
    assert result["diff"] == 1.0 and (result["metric_a"], result["metric_b"]) == (1.0, 0.0)
    assert result["p_value"] == 4 / 8


@pytest.mark.parametrize("seed", [0, 1, 5])
def test_sampled_p_value_is_one_plus_count_over_one_plus_permutations(seed: int) -> None:
    """With fewer permutations than patterns the signs are sampled; the count is read off
    the hand table above for the documented sign matrix."""
    signs = np.concatenate(list(permutation_signs(3, 5, seed)))
    assert signs.shape == (5, 3) and set(np.unique(signs)) <= {-1, 1}
    count = int((signs[:, 0] == signs[:, 1]).sum())
    result = paired_permutation(Y, A, B, np.arange(3), permutations=5, seed=seed)
    assert not result["exhaustive"]
    assert result["p_value"] == (1 + count) / (1 + 5)


def test_the_patient_is_the_exchangeable_unit() -> None:
    """Records 0 and 1 of one patient are always swapped together, so s0 = s1 in every
    pattern and every pattern reaches |d_obs|: p = 1, where record swaps give ½."""
    one_patient = paired_permutation(Y, A, B, np.array([7, 7, 3]))
    assert one_patient["units"] == 2 and one_patient["permutations"] == 4
    assert one_patient["p_value"] == 1.0
    assert paired_permutation(Y, A, B, np.arange(3))["p_value"] == 0.5


def _clustered(seed: int, patients: int = 30, per: int = 8) -> tuple[np.ndarray, ...]:
    """Null at the patient level: each patient's positives are shifted by a patient effect
    of each model, drawn independently (the models are exchangeable per patient, not per
    record: a patient's records move together)."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(patients), per)
    y = rng.random(len(groups)) < 0.4
    base = rng.normal(size=len(groups)) + y
    a = base + 1.5 * rng.normal(size=patients)[groups] * y
    b = base + 1.5 * rng.normal(size=patients)[groups] * y
    return y, a, b, groups


def test_record_swaps_overstate_significance_on_clustered_records() -> None:
    """On 60 null test sets, swapping per patient rejects at 5 % about 5 % of the time;
    swapping per record (the wrong unit) rejects far more often."""
    by_patient, by_record = [], []
    for seed in range(60):
        y, a, b, groups = _clustered(seed)
        by_patient.append(paired_permutation(y, a, b, groups, permutations=199, seed=seed))
        records = np.arange(len(y))
        by_record.append(paired_permutation(y, a, b, records, permutations=199, seed=seed))
    patient_rate = np.mean([r["p_value"] < 0.05 for r in by_patient])
    record_rate = np.mean([r["p_value"] < 0.05 for r in by_record])
    assert patient_rate <= 0.12
    assert record_rate >= 0.25


def test_p_values_are_uniform_under_exchangeable_models() -> None:
    """200 null test sets (two models = one signal plus independent noise, 40 patients
    with 1–4 records): the p-values pass a KS test of uniformity."""
    p_values = []
    for seed in range(200):
        rng = np.random.default_rng(1000 + seed)
        y = rng.random(80) < 0.4
        base = rng.normal(size=80) + y
        a, b = base + rng.normal(size=80), base + rng.normal(size=80)
        groups = rng.integers(0, 40, size=80)
        p_values.append(paired_permutation(y, a, b, groups, permutations=199, seed=seed)["p_value"])
    p = np.array(p_values)
    assert kstest(p, "uniform").pvalue > 0.01
    assert 0.0 < np.mean(p < 0.05) < 0.1
    assert 0.35 < np.mean(p < 0.5) < 0.65


def _models(seed: int, n: int = 400, gain: float = 0.35) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    base = rng.normal(size=n) + y
    return y, base + 0.8 * rng.normal(size=n) + gain * y, base + 0.8 * rng.normal(size=n)


def test_near_copies_are_not_significant_and_a_better_model_is() -> None:
    y, a, _ = _models(3)
    noise = np.random.default_rng(4).normal(scale=1e-6, size=len(y))
    groups = np.arange(len(y)) // 2
    assert paired_permutation(y, a, a + noise, groups, permutations=999)["p_value"] > 0.2
    y, strong, weak = _models(5, gain=1.5)
    result = paired_permutation(y, strong, weak, groups, permutations=999)
    assert result["diff"] > 0.1
    assert result["p_value"] == 1 / 1000  # no permutation reaches the observed difference


@pytest.mark.parametrize("seed", [0, 2, 3, 4])
def test_agrees_with_delong_on_a_moderate_sample(seed: int) -> None:
    """One record per patient, n = 400, a moderate AUROC gain: both tests give p in the same
    order of magnitude (DeLong's p from 0.0014 to 0.023 on these seeds)."""
    y, a, b = _models(seed)
    auc_a, auc_b, _, p_delong = delong_test(y, a, b)
    result = paired_permutation(y, a, b, np.arange(len(y)), seed=seed)
    assert (result["metric_a"], result["metric_b"]) == pytest.approx((auc_a, auc_b), abs=1e-12)
    assert result["diff"] == pytest.approx(auc_a - auc_b, abs=1e-12)
    assert abs(math.log10(result["p_value"]) - math.log10(p_delong)) < 1


def _sklearn_auroc_rows(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    return np.array([roc_auc_score(y, row) for row in scores])


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(4, 16), units=st.integers(1, 7))
def test_exact_auroc_form_equals_scikit_learn_on_every_permuted_set(
    data: st.DataObject, n: int, units: int
) -> None:
    """The default (exact, sign-linear) AUROC difference gives the same p-value as a kernel
    recomputing scikit-learn's AUROC on each permuted score set, ties included, for every
    sign pattern (exhaustive) and for sampled ones."""
    y = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    y[:2] = [True, False]
    scores = st.lists(st.integers(0, 4), min_size=n, max_size=n)  # coarse: many ties
    a = np.array(data.draw(scores), dtype=float)
    b = np.array(data.draw(scores), dtype=float)
    groups = np.array(data.draw(st.lists(st.integers(0, units - 1), min_size=n, max_size=n)))
    for permutations in (200, 7):
        exact = paired_permutation(y, a, b, groups, permutations=permutations, seed=9)
        kernel = paired_permutation(
            y, a, b, groups, permutations=permutations, seed=9, kernel=_sklearn_auroc_rows
        )
        assert exact["p_value"] == kernel["p_value"]
        assert exact["diff"] == pytest.approx(kernel["diff"], abs=1e-12)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="both classes"):
        paired_permutation(np.ones(3), A, B, np.arange(3))
    with pytest.raises(ValueError, match="groups must match"):
        paired_permutation(Y, A, B, np.arange(4))
    with pytest.raises(ValueError, match="permutations must be >= 1"):
        paired_permutation(Y, A, B, np.arange(3), permutations=0)
