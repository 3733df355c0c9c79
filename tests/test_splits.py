"""Patient-grouped splits, nested fractions and the leakage guard."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bench.splits import (
    MIN_STRATUM_PATIENTS,
    MIN_VALIDATION_POSITIVES,
    SET_NAMES,
    SPLIT_SEED,
    LeakageError,
    SplitConfig,
    SplitError,
    assert_no_leakage,
    fraction_patients,
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


def _old_order(strata: pd.Series, rng: np.random.Generator) -> list[str]:
    """The patient order as the splits drew it before sex and age entered: per stratum, evenly
    spaced ranks in (0, 1) given to its members in random order; ties broken at random."""
    values = strata.to_numpy()
    keys = np.empty(len(values))
    for value in np.unique(values):
        members = np.flatnonzero(values == value)
        keys[members[rng.permutation(len(members))]] = (np.arange(len(members)) + 0.5) / len(
            members
        )
    tiebreak = rng.random(len(values))
    return list(strata.index.to_numpy()[np.lexsort((tiebreak, keys))])


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
