"""Patient-grouped splits, nested fractions and the leakage guard."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bench.data.cohort import Cohort
from bench.data.splits import (
    MIN_VALIDATION_POSITIVES,
    SET_NAMES,
    SPLIT_SEED,
    LeakageError,
    SplitConfig,
    SplitError,
    TooFewPatientsError,
    assert_no_leakage,
    external_site_for,
    fraction_patients,
    make_split,
    split_cohort,
)
from bench.data.strata import MIN_STRATUM_PATIENTS
from bench.data.trainable import fraction_problem
from bench.host.specs import TaskSpec


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


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(100, 1000),
    seed=st.integers(0, 10_000),
    prevalence=st.floats(0.05, 0.6),
    stratify=st.booleans(),
)
@example(n=1000, seed=0, prevalence=0.2, stratify=True)
def test_default_split_tests_20_percent_of_patients_and_validates_10_percent_of_the_rest(
    n, seed, prevalence, stratify
):
    """By patient count: test is 20 % of the patients and validation 10 % of the others,
    each within one rounding per label stratum (and per stratum when stratified); the three
    sets are patient-disjoint and hold every patient."""
    m = cohort(n, seed, prevalence)
    split = make_split(m, SplitConfig(stratify=stratify))
    test, validation, train = (patients(m, split.sets[k]) for k in ("test", "validation", "train"))
    assert not (test & validation) and not (test & train) and not (validation & train)
    assert test | validation | train == set(m["patient_id"])
    label = m.groupby("patient_id")["label"].max()
    strata = [set(label.index[label == v]) for v in (0, 1)] if stratify else [set(label.index)]
    for stratum in strata:  # each stratum is rounded once per held-out set
        assert abs(len(test & stratum) - 0.2 * len(stratum)) <= 0.5
        rest = stratum - test
        assert abs(len(validation & stratum) - 0.1 * len(rest)) <= 0.5
    assert abs(len(test) - 0.2 * n) <= len(strata) / 2
    assert abs(len(validation) - 0.1 * (n - len(test))) <= len(strata) / 2


#: Training fractions with at most three decimals, the way they are written in configs.
DECIMAL_FRACTIONS = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(1), places=3)


def _prefix_count(fraction: Decimal, n: int) -> int:
    """ceil(fraction x n), at least one, in exact decimal arithmetic."""
    return max(1, math.ceil(fraction * n))


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 5000), fraction=DECIMAL_FRACTIONS)
@example(n=1000, fraction=Decimal("0.1"))
@example(n=100, fraction=Decimal("0.07"))  # 0.07 * 100 is 7.000000000000001 in binary floats
@example(n=7, fraction=Decimal("0.5"))
@example(n=3, fraction=Decimal("0.01"))
def test_fraction_patients_are_the_first_ceil_of_fraction_times_n_at_least_one(n, fraction):
    order = [f"p{i}" for i in range(n)]
    assert fraction_patients(order, float(fraction)) == order[: _prefix_count(fraction, n)]


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(20, 300),
    seed=st.integers(0, 10_000),
    fraction=DECIMAL_FRACTIONS,
    order_seed=st.integers(0, 3),
)
@example(n=300, seed=1, fraction=Decimal("0.25"), order_seed=0)
def test_fraction_records_are_every_record_of_ceil_fraction_times_n_training_patients(
    n, seed, fraction, order_seed
):
    """Fraction f of the n training patients labels ceil(f n) of them (at least one), the
    first of the seed's patient order, and returns all their records and no others."""
    m = cohort(n, seed)
    split = make_split(m, SplitConfig())
    order = split.patient_order("train", order_seed)
    assert set(order) == patients(m, split.sets["train"])
    chosen = set(order[: _prefix_count(fraction, len(order))])
    records = split.fraction_records(m, float(fraction), order_seed)
    assert len(records) == len(set(records))
    assert set(records) == set(m.loc[m["patient_id"].isin(chosen), "record_id"])


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


@settings(max_examples=25, deadline=None)
@given(st.integers(3, 60), st.integers(0, 10_000))
def test_published_policy_follows_the_published_split_column(n, seed):
    m = cohort(n, seed)
    rng = np.random.default_rng(seed)
    chosen = {p: str(rng.choice(["train", "validation", "test"])) for p in m["patient_id"]}
    m["published_split"] = m["patient_id"].map(chosen)
    split = make_split(m, SplitConfig(policy="published"))
    for name in ("train", "validation", "test"):
        assert sorted(split.sets[name]) == sorted(m.loc[m["published_split"] == name, "record_id"])
    assert_no_leakage(split)


def test_published_policy_refuses_a_patient_in_two_sets_and_unknown_names():
    m = cohort(30, 7)
    m["published_split"] = "train"
    with pytest.raises(SplitError, match="needs a published_split column"):
        make_split(m.drop(columns="published_split"), SplitConfig(policy="published"))
    twice = m.groupby("patient_id")["record_id"].transform("size") > 1
    patient = m.loc[twice, "patient_id"].iloc[0]
    mixed = m.copy()
    mixed.loc[mixed.index[mixed["patient_id"] == patient][-1], "published_split"] = "test"
    with pytest.raises(SplitError, match=f"patient '{patient}' has records in published sets"):
        make_split(mixed, SplitConfig(policy="published"))
    m.loc[0, "published_split"] = "val"
    with pytest.raises(SplitError, match="holds 'val'; expected train, validation or test"):
        make_split(m, SplitConfig(policy="published"))


def test_split_cohort_follows_a_published_split_column():
    m = cohort(40, 3)
    m["published_split"] = np.where(m["patient_id"].str[1:].astype(int) % 5 == 0, "test", "train")
    task = TaskSpec(name="t", loaders={}, definition="", version="1", positive_class="1")
    data = Cohort(
        name="t", source="echonext", source_version="1", manifest=m,
        load_signal=lambda rid: None, cache_key="k",
    )  # fmt: skip
    split = split_cohort(task, data, external=False)
    assert split.config.policy == "published" and not split.sets["validation"]
    assert sorted(split.sets["test"]) == sorted(m.loc[m["published_split"] == "test", "record_id"])


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


# -- stratified, nested label subsets (and sex/age strata) ---------------------------------

#: Ages the demographic cohorts draw from, with the band each falls in (bands: <40, 40-65
#: with both ends, >65).
AGE_BAND_OF = {25: "<40", 40: "40-65", 65: "40-65", 66: ">65", 90: ">65"}
#: Failure probability of the Hoeffding term in the multi-label tolerance.
HOEFFDING_DELTA = 1e-9


def with_demographics(m: pd.DataFrame, seed: int) -> pd.DataFrame:
    """``m`` with a sex (F, M or unknown) and an age per patient, the same on every record."""
    rng = np.random.default_rng(seed)
    ids = sorted(m["patient_id"].unique())
    sex = dict(
        zip(ids, rng.choice(["F", "M", ""], size=len(ids), p=[0.45, 0.45, 0.1]), strict=True)
    )
    age = dict(zip(ids, rng.choice(list(AGE_BAND_OF), size=len(ids)), strict=True))
    return m.assign(sex=m["patient_id"].map(sex), age=m["patient_id"].map(age))


def _patient_frame(m: pd.DataFrame, labels: tuple[str, ...]) -> pd.DataFrame:
    """Per patient: 0/1 per label (``label`` for a binary task) and, where the cohort has
    them, the demographic group (sex, age band) as the generator drew it."""
    columns = [f"label:{n}" for n in labels] or ["label"]
    frame = m.groupby("patient_id")[columns].max()
    if "sex" in m.columns:
        first = m.groupby("patient_id")[["sex", "age"]].first()
        frame["group"] = first["sex"] + "|" + first["age"].map(AGE_BAND_OF)
    return frame


def _slack(n: float, strata: int, pool: int) -> float:
    """The module's bound on how far a stratum of ``n`` of ``pool`` patients (``strata``
    strata) strays from its share in any prefix of a stratified order."""
    return 0.5 * (1 + strata * n / pool)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(20, 900),
    seed=st.integers(0, 10_000),
    prevalences=st.tuples(st.floats(0.02, 0.5), st.floats(0.02, 0.5), st.floats(0.02, 0.5)),
    multilabel=st.booleans(),
    demographics=st.booleans(),
    fractions=st.lists(st.floats(0.001, 1.0), min_size=1, max_size=6),
    order_seed=st.integers(0, 5),
)
def test_labelled_subsets_keep_label_rates_groups_and_nesting(
    n, seed, prevalences, multilabel, demographics, fractions, order_seed
) -> None:
    labels = LABELS if multilabel else ()
    m = multilabel_cohort(n, seed, prevalences) if multilabel else cohort(n, seed, prevalences[0])
    if demographics:
        m = with_demographics(m, seed)
    split = make_split(m, SplitConfig(), labels)
    strata = split.patient_labels["train"]
    people = _patient_frame(m, labels).loc[strata.index].assign(stratum=strata)
    pool, n_strata = len(people), strata.nunique()
    size = people.groupby("stratum").size()
    # demographic groups a stratum can be split into (an upper bound on the pooled ones)
    groups = people.groupby("stratum")["group"].nunique() if demographics else size * 0
    records_of = m.groupby("patient_id")["record_id"].apply(set)
    previous: set[str] = set()
    for fraction in sorted(fractions):
        ids = set(split.fraction_records(m, fraction, order_seed))
        taken = patients(m, list(ids))
        # patient-grouped: every record of a taken patient, none of anyone else
        assert ids == set().union(*(records_of[p] for p in taken))
        assert previous <= ids <= set(split.sets["train"])  # nested within the seed
        previous = ids
        prefix = people.loc[sorted(taken)]
        share = len(prefix) / pool
        counts = prefix.groupby("stratum").size().reindex(size.index, fill_value=0)
        for column in [c for c in people.columns if c.startswith("label")]:
            carriers = people.groupby("stratum")[column].sum()
            mixed = (carriers > 0) & (carriers < size)  # strata only partly carrying it
            tolerance = sum(
                _slack(size[v], n_strata, pool) * carriers[v] / size[v] + groups[v] * mixed[v]
                for v in size.index
                if carriers[v]
            ) + np.sqrt(counts[mixed].sum() * np.log(2 / HOEFFDING_DELTA) / 2)
            deviation = prefix[column].sum() - share * people[column].sum()
            assert abs(deviation) <= tolerance + 1e-9, (column, fraction)
        if demographics:  # within each stratum, each group big enough keeps its share
            for (v, group), n_group in people.groupby(["stratum", "group"]).size().items():
                if n_group >= MIN_STRATUM_PATIENTS:
                    in_prefix = int(((prefix["stratum"] == v) & (prefix["group"] == group)).sum())
                    expected = counts[v] * n_group / size[v]
                    assert abs(in_prefix - expected) <= _slack(n_group, groups[v], size[v])
    assert previous == set(split.sets["train"]) or max(fractions) < 1


def _interleaved(
    values: np.ndarray, rng: np.random.Generator, within: np.ndarray | None = None
) -> np.ndarray:
    """Positions ordered as the module docstring interleaves strata: per value (in sorted
    order), evenly spaced ranks in (0, 1) given to its members in random order or, when
    ``within`` splits them into several groups, in an order interleaving those groups the
    same way; ties broken at random."""
    keys = np.empty(len(values))
    for value in sorted(set(values.tolist())):
        members = np.flatnonzero(values == value)
        inner = None if within is None else within[members]
        if inner is None or len(set(inner.tolist())) < 2:
            ranked = members[rng.permutation(len(members))]
        else:
            ranked = members[_interleaved(inner, rng)]
        keys[ranked] = (np.arange(len(members)) + 0.5) / len(members)
    return np.lexsort((rng.random(len(values)), keys))


def _old_order(strata: pd.Series, rng: np.random.Generator) -> list[str]:
    """The patient order as the splits drew it before sex and age entered."""
    return list(strata.index.to_numpy()[_interleaved(strata.to_numpy(), rng)])


#: A fixed cohort of 24 one-record patients p00..p23 (binary labels, then a 3-label matrix)
#: and the orders the splits gave it before sex and age entered (pinned from that code).
PINNED_BINARY = "001010011000011110000111"
PINNED_MULTILABEL = "100 000 010 011 001 000 110 001 000 010 000 101 001 000 010 000 001 111 000 001 010 000 100 001"
PINNED = {
    "binary": (
        ["p00", "p04"],  # validation
        {
            0: "p10 p21 p12 p07 p18 p13 p01 p23 p19 p02 p06 p14 p17 p15 p20 p22 p05",
            1: "p10 p13 p18 p23 p12 p07 p06 p21 p20 p22 p05 p02 p19 p14 p17 p15 p01",
        },
    ),
    "multilabel": (
        ["p15"],
        {0: "p10 p12 p20 p11 p16 p05 p02 p00 p18 p07 p03 p06 p21 p19 p22 p09 p23 p08"},
    ),
}


def _pinned_cohort(kind: str, demographics: dict[str, str]) -> pd.DataFrame:
    ids = [f"p{i:02d}" for i in range(24)]
    m = pd.DataFrame({"record_id": ids, "patient_id": ids, "site": "S0", **demographics})
    if kind == "binary":
        return m.assign(label=[int(c) for c in PINNED_BINARY])
    matrix = [[int(c) for c in row] for row in PINNED_MULTILABEL.split()]
    for k, name in enumerate(LABELS):
        m[f"label:{name}"] = [row[k] for row in matrix]
    return m.assign(label=[max(row) for row in matrix])


@pytest.mark.parametrize("kind", ["binary", "multilabel"])
@pytest.mark.parametrize(
    "demographics",
    [{}, {"sex": "", "age": ""}, {"sex": "unknown"}, {"age": "NaN"}],
    ids=["no columns", "empty", "unknown sex", "unknown age"],
)
def test_orders_of_cohorts_without_known_sex_or_age_are_unchanged(kind, demographics) -> None:
    m = _pinned_cohort(kind, demographics)
    split = make_split(m, SplitConfig(), LABELS if kind == "multilabel" else ())
    validation, orders = PINNED[kind]
    assert sorted(split.sets["validation"]) == validation
    for seed, order in orders.items():
        assert split.patient_order("train", seed) == order.split()


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(10, 400),
    seed=st.integers(0, 10_000),
    multilabel=st.booleans(),
    blank=st.sampled_from([{}, {"sex": ""}, {"sex": "", "age": "NaN"}]),
    order_seed=st.integers(0, 5),
)
def test_without_known_sex_or_age_orders_are_the_label_stratified_ones(
    n, seed, multilabel, blank, order_seed
) -> None:
    labels = LABELS if multilabel else ()
    m = multilabel_cohort(n, seed, (0.05, 0.2, 0.4)) if multilabel else cohort(n, seed)
    split = make_split(m.assign(**blank), SplitConfig(), labels)
    assert split.sets == make_split(m, SplitConfig(), labels).sets
    for name in ("train", "validation"):
        rng = np.random.default_rng([SPLIT_SEED, SET_NAMES.index(name), order_seed])
        expected = _old_order(split.patient_labels[name], rng)
        assert split.patient_order(name, order_seed) == expected


def test_sex_and_age_change_orders_only_where_known() -> None:
    m = cohort(600, 5, prevalence=0.3)
    with_both = with_demographics(m, 5)
    plain = make_split(m, SplitConfig())
    for columns in (["sex"], ["age"], ["sex", "age"]):
        split = make_split(m.join(with_both[columns]), SplitConfig())
        assert split.patient_order("train", 0) != plain.patient_order("train", 0), columns
        assert split.sets["test"] != plain.sets["test"], columns


def test_patient_groups_read_sex_and_age_band_per_patient() -> None:
    m = pd.DataFrame(
        {
            "record_id": [f"r{i}" for i in range(9)],
            "patient_id": ["a", "a", "b", "c", "d", "e", "e", "f", "g"],
            "site": "S0",
            "label": [0, 1, 0, 1, 0, 1, 0, 0, 1],
            # a: records disagree; PTB-XL codes sex 0/1 and ages over 89 as 300
            "sex": ["M", "F", None, " m ", "1", "F", "F", "Unknown", 0],
            "age": [">89", 30, "NaN", 64.5, 300, 39, 41, "", 40],
        }
    )
    groups = make_split(m, SplitConfig()).patient_groups
    assert groups is not None
    assert groups.to_dict() == {
        "a": "unknown|40-65",  # median of 89 and 30
        "b": "unknown|unknown",
        "c": "m|40-65",
        "d": "1|>65",
        "e": "f|40-65",  # median of 39 and 41
        "f": "unknown|unknown",
        "g": "0|40-65",
    }
    assert make_split(m.drop(columns=["sex", "age"]), SplitConfig()).patient_groups is None
    assert set(make_split(m.drop(columns="age"), SplitConfig()).patient_groups) == {
        "unknown",
        "m",
        "1",
        "f",
        "0",
    }


# -- membership file, validation rules in detail, external sites ------------------------------


def test_to_json_records_config_sets_and_the_records_of_every_seed_and_fraction(tmp_path) -> None:
    """The membership file holds the config, the rule, the sets and, per seed and fraction
    (each once, in increasing order), the labelled and validation records; it is written
    with one-space indentation and no temporary file is left behind."""
    m = cohort(300, 6, prevalence=0.2)
    split = make_split(m, SplitConfig(test_size=0.3))
    path = tmp_path / "split.json"
    split.to_json(path, [0.5, 0.1, 0.5], m, seeds=(2, 0, 2))
    text = path.read_text()
    data = json.loads(text)
    assert list(data) == ["config", "validation_rule", "sets", "labelled", "validation"]
    assert data["config"] == {
        "policy": "grouped",
        "test_size": 0.3,
        "validation_size": 0.1,
        "external_site": None,
        "stratify": True,
        "min_positives": 2,
        "seed": SPLIT_SEED,
    }
    assert data["validation_rule"] == "full"
    assert data["sets"] == split.sets
    for key in ("labelled", "validation"):
        assert list(data[key]) == ["0", "2"]
        assert all(list(per_seed) == ["0.1", "0.5"] for per_seed in data[key].values())
    for seed in (0, 2):
        for fraction in (0.1, 0.5):
            labelled = data["labelled"][str(seed)][str(fraction)]
            assert labelled == split.fraction_records(m, fraction, seed)
            assert data["validation"][str(seed)][str(fraction)] == split.sets["validation"]
    assert data["labelled"]["0"]["0.1"] != data["labelled"]["2"]["0.1"]
    assert text.startswith('{\n "config": {\n  "policy": "grouped",\n')
    assert [p.name for p in tmp_path.iterdir()] == ["split.json"]


def test_to_json_records_the_scaled_rule_and_its_smaller_validation_sets(tmp_path) -> None:
    m = cohort(2000, 1, prevalence=0.1)
    split = make_split(m, SplitConfig())
    path = tmp_path / "split.json"
    split.to_json(path, [0.01, 1.0], m, seeds=[3], validation_rule="scaled")
    data = json.loads(path.read_text())
    assert data["validation_rule"] == "scaled"
    scaled = data["validation"]["3"]
    assert scaled["0.01"] == split.validation_records(m, 0.01, 3, "scaled")
    assert set(scaled["0.01"]) < set(scaled["1.0"]) == set(split.sets["validation"])


def _shortest_validation_prefix(
    order: list[str], positive: pd.Series, fraction: float, minimum: int
) -> list[str]:
    """The shortest prefix of ``order`` with at least ceil(fraction n) patients (at least one)
    and at least ``minimum`` positive patients, or the whole order when it has fewer."""
    size = max(1, math.ceil(round(Decimal(repr(fraction)) * len(order), 9)))
    found = 0
    for i, patient in enumerate(order):
        found += int(positive[patient])
        if i + 1 >= size and found >= minimum:
            return order[: i + 1]
    return order


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(40, 900),
    seed=st.integers(0, 10_000),
    prevalence=st.floats(0.01, 0.9),
    fraction=st.sampled_from([0.01, 0.05, 0.1, 0.25, 0.5, 0.9]),
    order_seed=st.integers(0, 3),
)
@example(n=600, seed=3, prevalence=0.05, fraction=0.5, order_seed=0)
@example(n=900, seed=1, prevalence=0.3, fraction=0.25, order_seed=1)  # enough at ceil(f n)
@example(n=40, seed=1, prevalence=0.9, fraction=0.1, order_seed=0)  # 3 patients, all positive
@example(n=120, seed=7, prevalence=0.05, fraction=0.01, order_seed=0)  # one positive of 10
def test_scaled_validation_is_the_shortest_prefix_with_the_fraction_and_enough_positives(
    n, seed, prevalence, fraction, order_seed
) -> None:
    """Scaled validation takes ceil(f n) validation patients of the seed's order, extended
    to the first MIN_VALIDATION_POSITIVES positive patients (all of them when the set has
    fewer), with every record of each; the seed defaults to 0."""
    m = cohort(n, seed, prevalence).sample(frac=1, random_state=seed)
    split = make_split(m, SplitConfig())
    order = split.patient_order("validation", order_seed)
    positive = m.groupby("patient_id")["label"].max()
    wanted = min(MIN_VALIDATION_POSITIVES, int(positive[order].sum()))
    chosen = _shortest_validation_prefix(order, positive, fraction, wanted)
    records = split.validation_records(m, fraction, order_seed, "scaled")
    assert set(patients(m, records)) == set(chosen)
    assert sorted(records) == sorted(m.loc[m["patient_id"].isin(chosen), "record_id"])
    if order_seed == 0:
        assert split.validation_records(m, fraction, rule="scaled") == records


def test_scaled_validation_of_the_whole_fraction_is_the_full_set_as_the_split_lists_it() -> None:
    """At fraction 1 both rules give the validation set itself, in the split's order, whatever
    the order of the manifest's rows; the default rule is full at every fraction."""
    m = cohort(500, 8, prevalence=0.2)
    split = make_split(m, SplitConfig())
    shuffled = m.sample(frac=1, random_state=1)
    assert split.validation_records(shuffled, 0.01) == split.sets["validation"]
    assert split.validation_records(shuffled, 1.0, 0, "scaled") == split.sets["validation"]


def test_scaled_validation_of_an_empty_validation_set_is_empty() -> None:
    """Three one-record patients: the validation set (10 % of two) is empty, and so is every
    scaled validation subset of it."""
    m = pd.DataFrame(
        {"record_id": ["a", "b", "c"], "patient_id": ["a", "b", "c"], "site": "S0", "label": 0}
    )
    split = make_split(m, SplitConfig())
    assert split.sets["validation"] == []
    assert split.validation_records(m, 0.5, 0, "scaled") == []


def _cohort_object(
    m: pd.DataFrame, source: str = "synthetic", labels: tuple[str, ...] = (), **notes: str
) -> Cohort:
    return Cohort("c", source, "1", m, lambda r: None, "key", notes=notes, labels=labels)  # type: ignore[arg-type,return-value]


def _task(default_site: str | None) -> TaskSpec:
    return TaskSpec("stemi", {}, "ST elevation", "v1", "STEMI", external_site=default_site)


OPTION = "--source-option synthetic.external_site"
NOTE_D = (
    "no external set: the default external site 'D' of task 'stemi' is not among the "
    "cohort's sites {sites}; choose one with " + OPTION + "=NAME (or =none to silence this)"
)


@pytest.mark.parametrize(
    "sites,default,notes,expected",
    [
        (3, "S2", {}, ("S2", "")),  # the task's default, present
        (3, None, {}, (None, "")),  # no default: no external set, nothing to say
        (3, "D", {}, (None, NOTE_D.format(sites=["S0", "S1", "S2"]))),
        (2, "D", {}, (None, NOTE_D.format(sites=["S0", "S1"]))),
        (1, "D", {}, (None, "")),  # a single-site cohort has nothing to hold out
        (3, "S2", {"external_site": "S1"}, ("S1", "")),  # requested wins over the default
        (3, "S2", {"external_site": "none"}, (None, "")),
        (3, "S2", {"external_site": "NONE"}, (None, "")),
        (3, "D", {"external_site": "None"}, (None, "")),
    ],
)
def test_external_site_is_the_requested_one_else_the_tasks_default_when_present(
    sites, default, notes, expected
) -> None:
    m = cohort(60, 0, sites=sites)
    assert sorted(m["site"].unique()) == [f"S{i}" for i in range(sites)]
    assert external_site_for(_task(default), _cohort_object(m, **notes)) == expected


def test_no_external_site_is_held_out_when_external_validation_is_off() -> None:
    m = cohort(60, 0)
    for notes in ({}, {"external_site": "S1"}, {"external_site": "nowhere"}):
        assert external_site_for(_task("S2"), _cohort_object(m, **notes), False) == (None, "")


def test_a_requested_external_site_the_cohort_lacks_is_an_error_naming_option_and_sites() -> None:
    m = cohort(60, 0)
    message = (
        "external site 'S9' (" + OPTION + ") is not in the synthetic cohort of 'stemi'; "
        "its sites are ['S0', 'S1', 'S2']"
    )
    with pytest.raises(SplitError, match=f"^{re.escape(message)}$"):
        external_site_for(_task("S2"), _cohort_object(m, external_site="S9"))


def test_split_cohort_holds_the_default_site_out_and_splits_the_rest_by_patient() -> None:
    m = cohort(300, 2)
    split = split_cohort(_task("S2"), _cohort_object(m))
    site = m.set_index("record_id")["site"]
    assert split.sets["external"] and set(site[split.sets["external"]]) == {"S2"}
    assert sorted(split.sets["external"]) == sorted(m.loc[m["site"] == "S2", "record_id"])
    assert "S2" not in set(
        site[[r for k in ("train", "validation", "test") for r in split.sets[k]]]
    )
    assert split.config.policy == "grouped" and split.config.external_site == "S2"
    assert split.notes == []
    assert not split_cohort(_task("S2"), _cohort_object(m), external=False).sets["external"]


def test_split_cohort_notes_a_missing_default_site() -> None:
    m = cohort(300, 2)
    split = split_cohort(_task("D"), _cohort_object(m))
    assert split.notes == [NOTE_D.format(sites=["S0", "S1", "S2"])]
    assert not split.sets["external"]


def test_split_cohort_of_ptbxl_uses_its_folds_even_with_a_default_site() -> None:
    m = cohort(200, 3, sites=1)
    m["strat_fold"] = m["patient_id"].str[1:].astype(int) % 10 + 1
    split = split_cohort(_task("D"), _cohort_object(m, source="ptbxl"))
    folds = m.set_index("record_id")["strat_fold"]
    assert set(folds[split.sets["test"]]) == {10} and set(folds[split.sets["validation"]]) == {9}
    assert split.config.policy == "ptbxl_folds"


def test_split_cohort_splits_the_given_records_only() -> None:
    m = cohort(300, 4)
    usable = m[~m["record_id"].str.endswith("-e1")]
    split = split_cohort(_task("S2"), _cohort_object(m), manifest=usable)
    assert sorted(r for ids in split.sets.values() for r in ids) == sorted(usable["record_id"])


def _rarest_label_strata(m: pd.DataFrame, labels: tuple[str, ...]) -> pd.Series:
    """Per patient: 0 without a positive label, else 1 + the index of their positive label
    with the fewest positive patients (the first such label on ties), counted by hand."""
    matrix = m.groupby("patient_id")[[f"label:{n}" for n in labels]].max()
    carriers = {k: int(matrix.iloc[:, k].sum()) for k in range(len(labels))}
    strata = {}
    for patient, row in matrix.iterrows():
        positive = [k for k in range(len(labels)) if row.iloc[k]]
        strata[patient] = 1 + min(positive, key=lambda k: (carriers[k], k)) if positive else 0
    return pd.Series(strata)


@pytest.mark.parametrize("prevalences", [(0.1, 0.3, 0.2), (0.3, 0.3, 0.05), (0.2, 0.2, 0.2)])
def test_split_cohort_stratifies_a_multilabel_cohort_on_each_patients_rarest_label(
    prevalences,
) -> None:
    m = multilabel_cohort(300, 5, prevalences)
    split = split_cohort(_task(None), _cohort_object(m, labels=LABELS))
    expected = _rarest_label_strata(m, LABELS)
    for name in ("train", "validation"):
        strata = split.patient_labels[name]
        assert strata.to_dict() == expected[strata.index].to_dict()
    assert set(expected) >= {0, 1, 2, 3}


def test_fraction_problem_of_a_matrix_without_labels_says_no_label_is_usable() -> None:
    problem = fraction_problem(np.zeros((3, 0), dtype=int), 2)
    assert problem == "no label has 2 positive and 1 negative ECG(s) (most positives: 0)"
    problem = fraction_problem(np.array([[0, 0], [0, 0]]), 1)
    assert problem == "no label has 1 positive and 1 negative ECG(s) (most positives: 0)"


def test_ages_in_other_digits_than_ascii_are_unknown_not_an_error() -> None:
    """Full-width or Arabic-Indic digits match the age pattern but are no age pandas reads:
    their patients fall in the unknown age band."""
    m = pd.DataFrame(
        {
            "record_id": ["a", "b", "c", "d"],
            "patient_id": ["a", "b", "c", "d"],
            "site": "S0",
            "label": [0, 1, 0, 1],
            "age": ["\uff16\uff12", "\u0666\u0662", "62", 70],
        }
    )
    groups = make_split(m, SplitConfig()).patient_groups
    assert groups is not None
    assert groups.to_dict() == {"a": "unknown", "b": "unknown", "c": "40-65", "d": ">65"}


@pytest.mark.parametrize("fraction", [Decimal("0.136"), Decimal("0.14"), Decimal("0.171")])
def test_fraction_patients_is_the_exact_decimal_ceiling_for_millions_of_patients(fraction) -> None:
    """3 million patients: fraction x n is a whole number whose binary product overshoots by
    about 1e-10, still a rounding error, not a patient more."""
    n = 3_000_000
    order = range(n)
    assert len(fraction_patients(order, float(fraction))) == _prefix_count(fraction, n)  # type: ignore[arg-type]


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5, 2.0])
def test_fractions_outside_zero_to_one_are_an_error_naming_the_value(fraction) -> None:
    with pytest.raises(
        SplitError, match=rf"^training fraction must be in \(0, 1\], got {fraction}$"
    ):
        fraction_patients(["p0", "p1"], fraction)


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(10, 300),
    seed=st.integers(0, 10_000),
    multilabel=st.booleans(),
    demographics=st.sampled_from([(), ("sex",), ("age",), ("sex", "age")]),
    shuffle=st.integers(0, 2**32 - 1),
)
@example(n=50, seed=0, multilabel=False, demographics=("sex",), shuffle=1)
@example(n=50, seed=0, multilabel=True, demographics=("age",), shuffle=1)
def test_splits_orders_and_strata_do_not_depend_on_the_order_of_manifest_rows(
    n, seed, multilabel, demographics, shuffle
) -> None:
    """Everything a split records (sets as sets of ids, patient strata and groups with their
    patient order, fraction orders) is the same for the manifest's rows in any order."""
    labels = LABELS if multilabel else ()
    m = multilabel_cohort(n, seed, (0.05, 0.2, 0.4)) if multilabel else cohort(n, seed)
    m = with_demographics(m, seed)[[*m.columns, *demographics]]
    shuffled = m.sample(frac=1, random_state=shuffle)
    a, b = make_split(m, SplitConfig(), labels), make_split(shuffled, SplitConfig(), labels)
    assert {k: sorted(v) for k, v in a.sets.items()} == {k: sorted(v) for k, v in b.sets.items()}
    for name in ("train", "validation"):
        assert a.patient_labels[name].equals(b.patient_labels[name])
        assert a.patient_order(name, 1) == b.patient_order(name, 1)
    if demographics:
        assert a.patient_groups is not None and a.patient_groups.equals(b.patient_groups)
        assert list(a.patient_groups.index) == sorted(m["patient_id"].unique())
    assert a.fraction_records(m, 0.5) == a.fraction_records(m, 0.5, 0)  # the default seed


def test_ties_between_rarest_labels_go_to_the_first_label_of_many() -> None:
    """Twelve labels, the odd ones carried by one patient each and the even ones by two: a
    patient's stratum is 1 + their rarest label, the first of them on ties (label order)."""
    names = tuple(f"l{k:02d}" for k in range(12))
    carried = {
        "pa": (5, 7),
        "pb": (1, 3),
        "pc": (9, 11),
        "pd": (0, 2),
        "pe": (0, 2),
        "pf": (4, 6),
        "pg": (4, 6),
        "ph": (8, 10),
        "pi": (8, 10),
    } | {f"q{i:02d}": () for i in range(21)}
    stratum = {"pa": 6, "pb": 2, "pc": 10, "pd": 1, "pe": 1, "pf": 5, "pg": 5, "ph": 9, "pi": 9}
    m = pd.DataFrame(
        [
            {"record_id": p, "patient_id": p, "site": "S0"}
            | {f"label:{n}": int(k in ks) for k, n in enumerate(names)}
            for p, ks in carried.items()
        ]
    ).assign(label=lambda d: d[[f"label:{n}" for n in names]].max(axis=1))
    split = make_split(m, SplitConfig(), names)
    found = {**split.patient_labels["train"], **split.patient_labels["validation"]}
    assert found == {p: stratum.get(p, 0) for p in found}
    assert set(stratum) <= set(found)  # strata of one or two patients keep them all
    assert found == _rarest_label_strata(m, names)[list(found)].to_dict()


def test_unstratified_held_out_sets_are_rounded_shares_of_the_patients() -> None:
    m = pd.DataFrame(
        {"record_id": [f"p{i}" for i in range(10)], "patient_id": [f"p{i}" for i in range(10)]}
    ).assign(site="S0", label=[0, 1] * 5)
    split = make_split(m, SplitConfig(stratify=False))
    assert [len(split.sets[k]) for k in ("test", "validation", "train")] == [2, 1, 7]
    split = make_split(m.iloc[:5], SplitConfig(stratify=False, validation_size=0.05))
    assert [len(split.sets[k]) for k in ("test", "validation", "train")] == [1, 1, 3]


def test_split_config_bounds_are_named_in_one_line_errors() -> None:
    for size in (0, 1, -0.5, 1.5):
        with pytest.raises(SplitError, match=rf"^split test_size must be in \(0, 1\), got {size}$"):
            SplitConfig(test_size=size)
        with pytest.raises(
            SplitError, match=rf"^split validation_size must be in \(0, 1\), got {size}$"
        ):
            SplitConfig(validation_size=size)
    with pytest.raises(SplitError, match=r"^split min_positives must be >= 1, got 0$"):
        SplitConfig(min_positives=0)
    assert SplitConfig(min_positives=1).min_positives == 1
    assert SplitConfig(test_size=0.999, validation_size=0.001).test_size == 0.999


def test_too_few_patients_and_missing_folds_are_named() -> None:
    m = cohort(30, 5)
    two = m[m["patient_id"].isin(["p0", "p1"])]
    with pytest.raises(
        TooFewPatientsError, match=r"^need at least 3 patients to split, cohort has 2$"
    ):
        make_split(two, SplitConfig())
    three = m[m["patient_id"].isin(["p0", "p1", "p2"])]
    split = make_split(three, SplitConfig())
    assert sorted(r for ids in split.sets.values() for r in ids) == sorted(three["record_id"])
    message = r"^policy 'ptbxl_folds' needs a strat_fold column \(PTB-XL\)$"
    with pytest.raises(SplitError, match=message):
        make_split(m, SplitConfig(policy="ptbxl_folds"))


def test_leakage_error_names_the_patient_and_both_sets() -> None:
    m = cohort(50, 4)
    split = make_split(m, SplitConfig())
    record = split.sets["train"][0]
    split.sets["test"].append(record)
    patient = m.set_index("record_id").loc[record, "patient_id"]
    with pytest.raises(
        LeakageError, match=rf"^patient '{patient}' appears in both 'train' and 'test'$"
    ):
        assert_no_leakage(split)


def test_a_set_holding_a_record_the_manifest_lacks_fails_the_guard() -> None:
    """A record without a patient cannot be checked, so the guard refuses it rather than
    passing it over."""
    split = make_split(cohort(50, 4), SplitConfig())
    split.sets["validation"].append("no-such-record")
    with pytest.raises(
        LeakageError, match=r"^set 'validation' holds 1 record\(s\) not in the manifest$"
    ):
        assert_no_leakage(split)


@pytest.mark.parametrize("columns", [("sex", "age"), ("age",), ("sex",)])
def test_sex_and_age_groups_interleave_inside_each_stratum_with_small_groups_pooled(
    columns,
) -> None:
    """The train order of a cohort with sex and/or age is the documented one: label strata
    interleaved, inside each its demographic groups of at least MIN_STRATUM_PATIENTS
    patients interleaved with one residual group (named "", so first) pooling the others."""
    m = with_demographics(cohort(500, 9, prevalence=0.1), 9)
    split = make_split(m[["record_id", "patient_id", "site", "label", *columns]], SplitConfig())
    strata = split.patient_labels["train"]
    first = m.groupby("patient_id")[["sex", "age"]].first().loc[strata.index]
    parts = {"sex": first["sex"].str.lower().replace("", "unknown"), "age": first["age"]}
    parts["age"] = parts["age"].map(AGE_BAND_OF)
    group = parts[columns[0]] if len(columns) == 1 else parts["sex"] + "|" + parts["age"]
    size = group.groupby([strata, group]).transform("size")
    pooled = group.where(size >= MIN_STRATUM_PATIENTS, "")
    assert (pooled == "").any() and pooled[pooled != ""].nunique() >= 2
    for seed in (0, 3):
        rng = np.random.default_rng([SPLIT_SEED, SET_NAMES.index("train"), seed])
        positions = _interleaved(strata.to_numpy(), rng, pooled.to_numpy())
        assert split.patient_order("train", seed) == list(strata.index[positions])


def test_two_sex_groups_inside_each_stratum_interleave_as_documented() -> None:
    """With every sex known and both sexes at least MIN_STRATUM_PATIENTS strong in each
    label stratum, a stratum splits into exactly two groups, which are interleaved (not
    shuffled as one group): the train order is the documented one."""
    m = cohort(400, 5, prevalence=0.3)
    patients_sorted = sorted(m["patient_id"].unique())
    sex = {p: "F" if i % 2 else "M" for i, p in enumerate(patients_sorted)}
    m = m.assign(sex=m["patient_id"].map(sex))
    split = make_split(m[["record_id", "patient_id", "site", "label", "sex"]], SplitConfig())
    strata = split.patient_labels["train"]
    group = strata.index.map(sex).to_numpy()
    for value in np.unique(strata):
        inside = group[strata.to_numpy() == value]
        assert sorted(set(inside)) == ["F", "M"]
        assert min((inside == "F").sum(), (inside == "M").sum()) >= MIN_STRATUM_PATIENTS
    for seed in (0, 1):
        rng = np.random.default_rng([SPLIT_SEED, SET_NAMES.index("train"), seed])
        positions = _interleaved(strata.to_numpy(), rng, group)
        assert split.patient_order("train", seed) == list(strata.index[positions])
