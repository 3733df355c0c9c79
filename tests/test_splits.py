"""Patient-grouped splits, nested fractions and the leakage guard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.splits import (
    MIN_VALIDATION_POSITIVES,
    LeakageError,
    SplitConfig,
    SplitError,
    assert_no_leakage,
    fraction_problem,
    make_split,
)


def cohort(n_patients: int, seed: int, prevalence: float = 0.2, sites: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        label = int(rng.random() < prevalence)
        site = f"S{rng.integers(sites)}"
        for e in range(int(rng.integers(1, 4))):
            rows.append(
                {"record_id": f"p{p}-e{e}", "patient_id": f"p{p}", "site": site, "label": label}
            )
    return pd.DataFrame(rows)


def patients(manifest: pd.DataFrame, ids: list[str]) -> set[str]:
    return set(manifest.set_index("record_id").loc[ids, "patient_id"])


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(10, 300),
    seed=st.integers(0, 10_000),
    prevalence=st.floats(0.05, 0.6),
    external=st.booleans(),
    stratify=st.booleans(),
)
def test_sets_are_patient_disjoint_and_cover_the_cohort(n, seed, prevalence, external, stratify):
    m = cohort(n, seed, prevalence)
    site = m["site"].iloc[0] if external else None
    if site is not None and m["site"].nunique() < 2:
        site = None
    try:
        split = make_split(m, SplitConfig(external_site=site, stratify=stratify))
    except SplitError:
        return  # too few patients outside the external site
    groups = [patients(m, split.sets[k]) for k in ("train", "validation", "test", "external")]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not groups[i] & groups[j]
    all_ids = [r for k in split.sets for r in split.sets[k]]
    assert sorted(all_ids) == sorted(m["record_id"])
    if site is not None:
        assert set(m.set_index("record_id").loc[split.sets["external"], "site"]) == {site}


@settings(max_examples=40, deadline=None)
@given(n=st.integers(20, 400), seed=st.integers(0, 10_000))
def test_fractions_are_nested_and_grow(n, seed):
    m = cohort(n, seed)
    split = make_split(m, SplitConfig())
    previous: set[str] = set()
    for f in (0.01, 0.1, 0.25, 0.5, 1.0):
        ids = set(split.fraction_records(m, f))
        assert previous <= ids
        assert ids <= set(split.sets["train"])
        previous = ids
    assert previous == set(split.sets["train"])


def test_same_seed_same_patients_different_seed_differs():
    m = cohort(200, 1)
    a, b = make_split(m, SplitConfig()), make_split(m, SplitConfig())
    assert a.sets == b.sets and a.patient_order("train", 0) == b.patient_order("train", 0)
    c = make_split(m, SplitConfig(seed=7))
    assert c.sets["test"] != a.sets["test"]


def test_stratified_fraction_keeps_prevalence():
    m = cohort(3000, 2, prevalence=0.2)
    split = make_split(m, SplitConfig())
    train = m.set_index("record_id").loc[split.sets["train"]]
    ten = m.set_index("record_id").loc[split.fraction_records(m, 0.1)]
    p_train = train.groupby("patient_id")["label"].max().mean()
    p_ten = ten.groupby("patient_id")["label"].max().mean()
    assert abs(p_ten - p_train) < 0.01


def test_ptbxl_folds_policy_uses_strat_fold():
    m = cohort(100, 3)
    m["strat_fold"] = m["patient_id"].str[1:].astype(int) % 10 + 1
    split = make_split(m, SplitConfig(policy="ptbxl_folds"))
    folds = m.set_index("record_id")["strat_fold"]
    assert set(folds.loc[split.sets["test"]]) == {10}
    assert set(folds.loc[split.sets["validation"]]) == {9}
    assert set(folds.loc[split.sets["train"]]) <= set(range(1, 9))
    with pytest.raises(SplitError, match="strat_fold"):
        make_split(m.drop(columns="strat_fold"), SplitConfig(policy="ptbxl_folds"))


def test_leakage_guard_catches_a_shared_patient():
    m = cohort(50, 4)
    split = make_split(m, SplitConfig())
    split.sets["test"].append(split.sets["train"][0])
    with pytest.raises(LeakageError, match="appears in both"):
        assert_no_leakage(split)


def test_bad_configs_are_named():
    with pytest.raises(SplitError, match="test_size"):
        SplitConfig(test_size=1.5)
    with pytest.raises(SplitError, match="external site 'nowhere'"):
        make_split(cohort(30, 5), SplitConfig(external_site="nowhere"))


def test_fraction_problem_reports_too_few_positives():
    assert fraction_problem(np.array([0, 0, 1]), 2) == "only 1 positive ECG(s) (minimum 2)"
    assert fraction_problem(np.array([1, 1]), 2) == "no negative ECGs"
    assert fraction_problem(np.array([0, 1, 1]), 2) is None


def test_each_seed_redraws_the_labelled_subset_nested_within_the_seed():
    m = cohort(400, 1)
    split = make_split(m, SplitConfig())
    one = {seed: set(split.fraction_records(m, 0.1, seed)) for seed in (0, 1, 2)}
    assert one[0] != one[1] and one[1] != one[2]
    for seed in (0, 1, 2):
        previous: set[str] = set()
        for f in (0.01, 0.1, 0.5, 1.0):
            ids = set(split.fraction_records(m, f, seed))
            assert previous <= ids <= set(split.sets["train"])
            previous = ids
    assert split.fraction_records(m, 0.1, 1) == split.fraction_records(m, 0.1, 1)


def test_validation_rules_full_and_scaled():
    m = cohort(2000, 1, prevalence=0.1)
    split = make_split(m, SplitConfig())
    full = split.validation_records(m, 0.01, 0, "full")
    assert full == split.sets["validation"]
    scaled = split.validation_records(m, 0.01, 0, "scaled")
    assert set(scaled) < set(full)
    positives = m.set_index("record_id").loc[scaled].groupby("patient_id")["label"].max().sum()
    assert positives >= MIN_VALIDATION_POSITIVES
    assert set(split.validation_records(m, 0.1, 0, "scaled")) >= set(scaled)
    assert split.validation_records(m, 1.0, 0, "scaled") == full
    with pytest.raises(SplitError, match="validation rule"):
        split.validation_records(m, 0.1, 0, "half")


LABELS = ("a", "b", "c")


def multilabel_cohort(n_patients: int, seed: int, prevalences: tuple[float, ...]) -> pd.DataFrame:
    """Patients with 1-3 records, each patient's labels shared by their records except that a
    record may lack one (a patient is positive for a label when any record is)."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        labels = rng.random(len(prevalences)) < np.asarray(prevalences)
        for e in range(int(rng.integers(1, 4))):
            drop = rng.random(len(prevalences)) < 0.2
            row = {"record_id": f"p{p}-e{e}", "patient_id": f"p{p}", "site": "S0"}
            row.update(
                {
                    f"label:{n}": int(v and not d)
                    for n, v, d in zip(LABELS, labels, drop, strict=True)
                }
            )
            row["label"] = int(any(row[f"label:{n}"] for n in LABELS))
            rows.append(row)
    return pd.DataFrame(rows)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(10, 300),
    seed=st.integers(0, 10_000),
    prevalences=st.tuples(st.floats(0.02, 0.5), st.floats(0.02, 0.5), st.floats(0.02, 0.5)),
    split_seed=st.integers(0, 3),
)
def test_multilabel_splits_are_grouped_nested_and_deterministic(n, seed, prevalences, split_seed):
    m = multilabel_cohort(n, seed, prevalences)
    split = make_split(m, SplitConfig(), LABELS)
    assert_no_leakage(split)
    groups = [patients(m, split.sets[k]) for k in ("train", "validation", "test")]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2])
    assert not (groups[1] & groups[2])
    assert sorted(r for k in ("train", "validation", "test") for r in split.sets[k]) == sorted(
        m["record_id"]
    )
    previous: set[str] = set()
    for fraction in (0.01, 0.1, 0.25, 0.5, 1.0):
        ids = set(split.fraction_records(m, fraction, split_seed))
        assert previous <= ids  # nested within a seed
        previous = ids
    assert previous == set(split.sets["train"])
    again = make_split(m, SplitConfig(), LABELS)
    assert again.sets == split.sets


def _share(m: pd.DataFrame, ids: list[str], label: str) -> float:
    per_patient = m.set_index("record_id").loc[ids].groupby("patient_id")[f"label:{label}"].max()
    return float(per_patient.mean())


def test_multilabel_stratification_keeps_rare_labels_in_every_set() -> None:
    m = multilabel_cohort(600, 3, (0.03, 0.1, 0.4))
    split = make_split(m, SplitConfig(), LABELS)
    overall = {n: _share(m, list(m["record_id"]), n) for n in LABELS}
    for name in ("train", "validation", "test"):
        for label in LABELS:
            share = _share(m, split.sets[name], label)
            # rarest-label strata: each set within a few points of the cohort's share
            assert abs(share - overall[label]) < 0.35 * overall[label] + 0.01, (name, label)
    # the 10 % prefix of the training order keeps the rare label too
    first = split.fraction_records(m, 0.1, 0)
    assert _share(m, first, "a") > 0


def test_binary_splits_ignore_label_columns() -> None:
    m = multilabel_cohort(200, 1, (0.1, 0.2, 0.3))
    assert make_split(m, SplitConfig()).sets == make_split(m, SplitConfig(), ()).sets
    assert make_split(m, SplitConfig()).sets != make_split(m, SplitConfig(), LABELS).sets


@pytest.mark.parametrize(
    "matrix,problem",
    [
        ([[1, 0], [1, 0], [0, 0]], None),  # label a trainable, b has no positive: fine
        ([[1, 0], [0, 1], [0, 0]], "no label has 2 positive"),
        ([[1, 1], [1, 1]], "no label has 2 positive and 1 negative"),
    ],
)
def test_fraction_problem_for_label_matrices(matrix, problem) -> None:
    found = fraction_problem(np.asarray(matrix), 2)
    assert found is None if problem is None else problem in found
