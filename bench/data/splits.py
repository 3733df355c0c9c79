"""Patient-grouped splits, nested training fractions and the leakage guard.

Every split is by patient: no patient's ECGs appear in two of train / validation /
test / external. The split seed is a constant, so every model and every run sees the same
patients in each set.

The labelled subset of a training fraction is a prefix of a patient order drawn from the
grid's seed: each seed redraws which patients are labelled (the largest source of
variance at 1 % of labels), and within one seed the subsets are nested (the 1 %
patients are inside the 10 % set, and so on).

Validation (epoch selection) follows a stated rule, recorded with every result:

- ``full`` (default): the whole validation set at every fraction. This is what the
  HeartBEiT paper's setting implies: it selected the epoch on a full-size held-out set
  (its test set) whatever the training fraction, so selection never lacked labels;
- ``scaled``: validation patients scaled to the training fraction (nested prefixes of a
  seed-drawn order), with at least :data:`MIN_VALIDATION_POSITIVES` positive patients —
  the honest low-label setting, where selection labels are as scarce as training labels.

Stratification works on one patient-level *stratum*. Binary tasks: the patient's label
(positive if any of their records is). Multi-label tasks stratify on the label matrix
through each patient's rarest positive label (rarest among the split's patients; stratum 0
for a patient with none): the held-out sets and every fraction prefix then keep each
label's share where it is hardest to keep, that of its rarest carriers — the first step of
iterative stratification (Sechidis et al., 2011) without its greedy re-balancing, which
would make orders depend on every label at once and break the nested prefixes. "Positive
patients" (the ``scaled`` rule's minimum) are then patients with any positive label.

Cohorts whose manifest carries ``sex`` and/or ``age`` (PTB-XL, LUDB, WFDB headers, a user's
manifest) stratify on them inside each label stratum: a patient's demographic group is their
sex (text, lower-cased; a patient whose records disagree counts as unknown) and the band of
their median age (``<40``, ``40-65``, ``>65``; ``">89"`` reads as 89), missing values being
groups of their own. A label stratum's members are ranked by an order that interleaves their
groups the same way strata are interleaved (below); groups with fewer than
:data:`MIN_STRATUM_PATIENTS` patients in a stratum are pooled into one residual group, and a
stratum left with a single group is ranked at random, i.e. by label alone. The label strata
keep exactly their ranks, so demographics never cost label balance, and a cohort without
those columns (or with nothing known in them) gets exactly the orders it had before.

What a fraction prefix keeps. A stratified order gives each of the ``S`` strata of a pool of
``N`` patients evenly spaced ranks, so a prefix of ``L`` patients holds ``c`` patients of a
stratum of ``n`` with ``|c - L n / N| <= (1 + S n / N) / 2`` (for strata ``v, w`` the last
of ``v`` taken ranks no later than the first of ``w`` left out). Hence:

- binary tasks: the positive patients of every prefix are within that bound of the pool's
  positive rate (for two strata ``(1 + 2 p) / 2`` patients: under 0.6 percentage points
  at 1 % of a 10k-patient pool with 6 % prevalence);
- multi-label tasks: the rarest label, which is its own stratum, likewise; any other label
  through its own stratum plus, for patients also carrying a rarer label, a uniformly random
  share of that stratum's prefix: its rate is kept in expectation, with the hypergeometric
  (Hoeffding-bounded) spread of those co-carriers;
- sex and age: within each label stratum, each group of at least
  :data:`MIN_STRATUM_PATIENTS` patients keeps its share of the stratum's prefix by the same
  bound (``N``, ``S`` then counted inside the stratum).

Prefixes are patient-grouped (a patient brings all of their records) and nested within a seed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from bench.data.labels import label_columns

if TYPE_CHECKING:
    from bench.data.cohort import Cohort
    from bench.host.specs import TaskSpec

DEFAULT_FRACTIONS: tuple[float, ...] = (0.01, 0.1, 0.25, 0.5, 1.0)
SPLIT_SEED = 20230606  # constant: the same patients in every run and for every model
SET_NAMES: tuple[str, ...] = ("train", "validation", "test", "external")
VALIDATION_RULES: tuple[str, ...] = ("full", "scaled")
#: Fewest positive validation patients the ``scaled`` rule keeps (when the set has them).
MIN_VALIDATION_POSITIVES = 5
#: Optional manifest columns stratified on inside each label stratum (module docstring).
SEX_COLUMN, AGE_COLUMN = "sex", "age"
#: Age band edges in years: ``<40``, ``40-65`` (both ends included), ``>65``.
AGE_BANDS: tuple[float, float] = (40.0, 65.0)
#: Fewest patients a label × sex × age-band group needs in a stratum to be stratified on;
#: smaller groups are pooled, since even a 10 % prefix would hold less than one of them.
MIN_STRATUM_PATIENTS = 10
#: Sex values that mean "not known" (after lower-casing).
UNKNOWN_SEX: frozenset[str] = frozenset({"", "nan", "none", "unknown", "u"})


class LeakageError(AssertionError):
    """A patient appears in more than one of train / validation / test / external."""


class SplitError(ValueError):
    """A split cannot be made as configured (e.g. too few patients, unknown site)."""


class TooFewPatientsError(SplitError):
    """The records hold too few patients to split: a fact about the data, not a mistake in
    the configuration (``bench data describe`` reports it as a note)."""


@dataclass(frozen=True)
class SplitConfig:
    """How to split a cohort.

    ``policy="grouped"``: stratified patient-grouped shuffle split with ``test_size`` of
    patients for test and ``validation_size`` of the remaining patients for validation.
    ``policy="ptbxl_folds"``: PTB-XL's ``strat_fold`` column (1–8 train, 9 validation,
    10 test). ``external_site`` holds one site out entirely as external validation.
    """

    policy: Literal["grouped", "ptbxl_folds"] = "grouped"
    test_size: float = 0.2
    validation_size: float = 0.1
    external_site: str | None = None
    stratify: bool = True
    min_positives: int = 2
    seed: int = SPLIT_SEED

    def __post_init__(self) -> None:
        for name in ("test_size", "validation_size"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise SplitError(f"split {name} must be in (0, 1), got {value}")
        if self.min_positives < 1:
            raise SplitError(f"split min_positives must be >= 1, got {self.min_positives}")


@dataclass
class Split:
    """Record ids per set, the nested fraction order, and skipped fractions with reasons.

    ``patient_labels[name]`` holds the patient strata (see the module docstring) of the
    train and validation sets; ``patient_groups`` the demographic group of every patient
    of the split (None when the cohort carries neither sex nor age).
    """

    sets: dict[str, list[str]]
    config: SplitConfig
    patient_labels: dict[str, pd.Series] = field(default_factory=dict, repr=False)
    patient_groups: pd.Series | None = field(default=None, repr=False)
    patients_of: dict[str, str] = field(default_factory=dict, repr=False)
    #: messages for the user about how the split was made (e.g. a default external site
    #: that the cohort lacks); commands print them before training
    notes: list[str] = field(default_factory=list)

    def patient_order(self, name: str, seed: int) -> list[str]:
        """Patients of set ``name`` (train/validation) in the order fractions take prefixes
        of, drawn from the split seed and ``seed`` (stratified by patient stratum, and by
        sex and age band within it where known)."""
        rng = np.random.default_rng([self.config.seed, SET_NAMES.index(name), seed])
        return _stratified_order(
            self.patient_labels[name], rng, self.config.stratify, self.patient_groups
        )

    def fraction_records(self, manifest: pd.DataFrame, fraction: float, seed: int = 0) -> list[str]:
        """Training record ids of ``fraction`` of training patients for ``seed`` (nested
        across fractions within one seed)."""
        order = self.patient_order("train", seed)
        return _records_for_patients(manifest, fraction_patients(order, fraction))

    def validation_records(
        self, manifest: pd.DataFrame, fraction: float, seed: int = 0, rule: str = "full"
    ) -> list[str]:
        """Validation record ids under ``rule`` (see the module docstring)."""
        if rule not in VALIDATION_RULES:
            raise SplitError(f"validation rule must be one of {VALIDATION_RULES}, got {rule!r}")
        if rule == "full" or fraction >= 1:
            return [r for r in self.sets["validation"] if r in set(manifest["record_id"])]
        order = self.patient_order("validation", seed)
        labels = self.patient_labels["validation"]
        n = _prefix_size(fraction, len(order))
        positives = np.cumsum([labels[p] > 0 for p in order])
        wanted = min(MIN_VALIDATION_POSITIVES, int(positives[-1]) if len(order) else 0)
        if wanted and positives[n - 1] < wanted:
            n = int(np.searchsorted(positives, wanted)) + 1
        return _records_for_patients(manifest, order[:n])

    def to_json(
        self,
        path: Path,
        fractions: Iterable[float],
        manifest: pd.DataFrame,
        seeds: Iterable[int] = (0,),
        validation_rule: str = "full",
    ) -> None:
        """Save membership (record ids per set, and per seed and fraction the labelled and
        validation records) so every result is traceable to the exact records used."""
        fractions = sorted(set(fractions))
        data = {
            "config": asdict(self.config),
            "validation_rule": validation_rule,
            "sets": self.sets,
            "labelled": {
                str(seed): {str(f): self.fraction_records(manifest, f, seed) for f in fractions}
                for seed in sorted(set(seeds))
            },
            "validation": {
                str(seed): {
                    str(f): self.validation_records(manifest, f, seed, validation_rule)
                    for f in fractions
                }
                for seed in sorted(set(seeds))
            },
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)


def _prefix_size(fraction: float, total: int) -> int:
    """``ceil(fraction * total)``, at least one; the product is rounded to 9 decimals first, so
    a decimal fraction such as 0.07 of 100 gives 7, not the 8 of its binary float."""
    return max(1, math.ceil(round(fraction * total, 9)))


def fraction_patients(order: Sequence[str], fraction: float) -> list[str]:
    """The first ``ceil(fraction * n)`` patients of ``order`` (at least one)."""
    if not 0 < fraction <= 1:
        raise SplitError(f"training fraction must be in (0, 1], got {fraction}")
    return list(order[: _prefix_size(fraction, len(order))])


def _records_for_patients(manifest: pd.DataFrame, patients: Iterable[str]) -> list[str]:
    wanted = set(patients)
    return manifest.loc[manifest["patient_id"].isin(wanted), "record_id"].tolist()


def _patient_labels(manifest: pd.DataFrame) -> pd.Series:
    """Patient-level label: positive if any of the patient's records is positive."""
    return manifest.groupby("patient_id", sort=True)["label"].max()


def _patient_strata(manifest: pd.DataFrame, labels: Sequence[str]) -> pd.Series:
    """Patient strata (see the module docstring): the patient label of a binary task; for a
    multi-label task 0 (no positive label) or 1 + the index of the patient's rarest positive
    label."""
    if not labels:
        return _patient_labels(manifest)
    matrix = manifest.groupby("patient_id", sort=True)[label_columns(labels)].max()
    values = matrix.to_numpy()
    rarest_first = np.argsort(values.sum(axis=0), kind="stable")
    first = values[:, rarest_first].argmax(axis=1)
    strata = np.where(values.any(axis=1), rarest_first[first] + 1, 0)
    return pd.Series(strata, index=matrix.index)


def _known_sex(values: pd.Series) -> pd.Series:
    """Sex as lower-cased text, NA where not known."""
    text = values.astype("string").str.strip().str.lower()
    return text.mask(text.isin(UNKNOWN_SEX))


def _age_years(values: pd.Series) -> pd.Series:
    """Age in years from numbers or text such as ``"62"`` or ``">89"`` (NaN if unreadable)."""
    number = values.astype("string").str.extract(r"^\s*[<>]?\s*(\d+(?:\.\d+)?)\s*\+?\s*$")[0]
    return pd.to_numeric(number, errors="coerce").astype(float)


def _age_band(years: pd.Series) -> pd.Series:
    """``<40``, ``40-65``, ``>65`` or ``unknown`` for each age (:data:`AGE_BANDS`)."""
    low, high = AGE_BANDS
    bands = np.select(
        [years < low, years <= high, years > high],
        [f"<{low:g}", f"{low:g}-{high:g}", f">{high:g}"],
        default="unknown",
    )
    return pd.Series(bands, index=years.index)


def _patient_groups(manifest: pd.DataFrame) -> pd.Series | None:
    """Each patient's demographic group (``"<sex>|<age band>"``, or the one column the
    manifest has), or None when it has neither ``sex`` nor ``age``."""
    by = manifest["patient_id"]
    parts: list[pd.Series] = []
    if SEX_COLUMN in manifest.columns:
        sex = _known_sex(manifest[SEX_COLUMN]).groupby(by, sort=True)
        parts.append(sex.first().where(sex.nunique() == 1).fillna("unknown"))
    if AGE_COLUMN in manifest.columns:
        parts.append(_age_band(_age_years(manifest[AGE_COLUMN]).groupby(by, sort=True).median()))
    if not parts:
        return None
    return parts[0].astype(str) if len(parts) == 1 else parts[0].astype(str) + "|" + parts[1]


def _pooled_groups(strata: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``groups``, with each stratum's groups of fewer than :data:`MIN_STRATUM_PATIENTS`
    patients pooled into one residual group (``""``)."""
    frame = pd.DataFrame({"stratum": strata, "group": groups})
    size = frame.groupby(["stratum", "group"])["group"].transform("size").to_numpy()
    return np.where(size >= MIN_STRATUM_PATIENTS, groups, "")


def _interleave(
    strata: np.ndarray, rng: np.random.Generator, within: np.ndarray | None = None
) -> np.ndarray:
    """Indices ordering patients so every prefix keeps (up to rounding) each stratum's
    share: evenly spaced ranks in (0, 1) per stratum, given to its members in random order,
    or, when ``within`` splits a stratum into several groups, in an order interleaving those
    groups the same way."""
    keys = np.empty(len(strata))
    for value in np.unique(strata):
        members = np.flatnonzero(strata == value)
        sub = None if within is None else within[members]
        if sub is None or len(np.unique(sub)) < 2:
            ranked = members[rng.permutation(len(members))]
        else:
            ranked = members[_interleave(sub, rng)]
        keys[ranked] = (np.arange(len(members)) + 0.5) / len(members)
    tiebreak = rng.random(len(strata))
    return np.lexsort((tiebreak, keys))


def _stratified_order(
    labels: pd.Series,
    rng: np.random.Generator,
    stratify: bool,
    groups: pd.Series | None = None,
) -> list[str]:
    """A random order of the patients of ``labels`` (their strata); stratified orders
    interleave strata, and ``groups`` (demographic groups by patient) within each stratum
    (see the module docstring)."""
    patients = labels.index.to_numpy()
    if not stratify:
        return list(patients[rng.permutation(len(patients))])
    strata = labels.to_numpy()
    within = (
        None
        if groups is None
        else _pooled_groups(strata, groups.reindex(labels.index).to_numpy(dtype=str))
    )
    return list(patients[_interleave(strata, rng, within)])


def _take(order: list[str], labels: pd.Series, share: float, stratify: bool) -> set[str]:
    """Patients for a held-out set of ``share`` of ``order``, per stratum when stratified."""
    if not stratify:
        return set(order[: max(1, round(share * len(order)))])
    taken: set[str] = set()
    for value in np.unique(labels.to_numpy()):
        members = [p for p in order if labels[p] == value]
        taken.update(members[: round(share * len(members))])
    return taken


def make_split(
    manifest: pd.DataFrame, config: SplitConfig, label_names: Sequence[str] = ()
) -> Split:
    """Split ``manifest`` (record_id, patient_id, site, label; optional sex and age) by
    patient; ``label_names`` names a multi-label task's labels (columns ``label:<name>``),
    stratified on as a matrix."""
    rng = np.random.default_rng(config.seed)
    sets: dict[str, list[str]] = {name: [] for name in SET_NAMES}
    pool = manifest
    if config.external_site is not None:
        sites = sorted(manifest["site"].unique())
        if config.external_site not in sites:
            raise SplitError(f"external site {config.external_site!r} not in cohort sites {sites}")
        external_patients = set(
            manifest.loc[manifest["site"] == config.external_site, "patient_id"]
        )
        sets["external"] = _records_for_patients(manifest, external_patients)
        pool = manifest[~manifest["patient_id"].isin(external_patients)]

    labels = _patient_strata(pool, label_names)
    groups = _patient_groups(pool)
    if len(labels) < 3:
        raise TooFewPatientsError(f"need at least 3 patients to split, cohort has {len(labels)}")
    if config.policy == "ptbxl_folds":
        if "strat_fold" not in pool.columns:
            raise SplitError("policy 'ptbxl_folds' needs a strat_fold column (PTB-XL)")
        fold = pool.groupby("patient_id", sort=True)["strat_fold"].max()
        test_p = set(fold.index[fold == 10])
        val_p = set(fold.index[fold == 9])
    else:
        order = _stratified_order(labels, rng, config.stratify, groups)
        test_p = _take(order, labels, config.test_size, config.stratify)
        rest = [p for p in order if p not in test_p]
        val_p = _take(rest, labels, config.validation_size, config.stratify)
    patient_labels = {
        "train": labels[~labels.index.isin(test_p | val_p)],
        "validation": labels[labels.index.isin(val_p)],
    }
    sets["test"] = _records_for_patients(pool, test_p)
    sets["validation"] = _records_for_patients(pool, val_p)
    sets["train"] = _records_for_patients(pool, patient_labels["train"].index)
    patients_of = dict(zip(manifest["record_id"], manifest["patient_id"], strict=True))
    split = Split(
        sets=sets,
        config=config,
        patient_labels=patient_labels,
        patient_groups=groups,
        patients_of=patients_of,
    )
    assert_no_leakage(split)
    return split


def assert_no_leakage(split: Split) -> None:
    """Raise :class:`LeakageError` if any patient is in two sets (the runner's guard)."""
    seen: dict[str, str] = {}
    for name in SET_NAMES:
        for patient in {split.patients_of[r] for r in split.sets[name]}:
            if patient in seen and seen[patient] != name:
                raise LeakageError(
                    f"patient {patient!r} appears in both {seen[patient]!r} and {name!r}"
                )
            seen[patient] = name


def fraction_problem(labels: np.ndarray, min_positives: int) -> str | None:
    """Why a training fraction cannot be trained (too few positives/negatives), or None.

    Multi-label ``(n, K)`` labels can be trained when at least one label has
    ``min_positives`` positive and one negative ECG (rarer labels train on what they have).
    """
    if labels.ndim == 2:
        positives_k = labels.sum(axis=0)
        usable = (positives_k >= min_positives) & (positives_k < len(labels))
        if not usable.any():
            return (
                f"no label has {min_positives} positive and 1 negative ECG(s) "
                f"(most positives: {int(positives_k.max(initial=0))})"
            )
        return None
    positives = int(np.sum(labels == 1))
    negatives = int(np.sum(labels == 0))
    if positives < min_positives:
        return f"only {positives} positive ECG(s) (minimum {min_positives})"
    if negatives < 1:
        return "no negative ECGs"
    return None


#: Source option naming the external-validation site (``--source-option SOURCE.external_site=``).
EXTERNAL_SITE_OPTION = "external_site"
#: Value of that option that holds no site out.
NO_EXTERNAL_SITE = "none"


def external_site_for(
    task: TaskSpec, cohort: Cohort, external: bool = True
) -> tuple[str | None, str]:
    """The site to hold out for external validation, and a note for the user ("" if none).

    The site comes from ``cohort.notes["external_site"]`` (set from the source option
    ``SOURCE.external_site=NAME``; ``none`` holds no site out), else the task's built-in
    default (:attr:`TaskSpec.external_site`: ``"D"`` for stemi, lvef and hcm, the last of the
    synthetic cohort's four sites). A site requested explicitly but absent from the cohort
    raises :class:`SplitError` listing the cohort's sites; an absent *default* site gives no
    external set and a note saying so (unless the cohort has a single site).
    """
    requested = cohort.notes.get(EXTERNAL_SITE_OPTION)
    if not external or (requested is not None and str(requested).lower() == NO_EXTERNAL_SITE):
        return None, ""
    sites = sorted(set(cohort.manifest["site"].astype(str)))
    option = f"--source-option {cohort.source}.{EXTERNAL_SITE_OPTION}"
    if requested is not None:
        if str(requested) not in sites:
            raise SplitError(
                f"external site {str(requested)!r} ({option}) is not in the {cohort.source} "
                f"cohort of {task.name!r}; its sites are {sites}"
            )
        return str(requested), ""
    default = task.external_site
    if default is None or default in sites or len(sites) < 2:
        return (default if default in sites else None), ""
    return None, (
        f"no external set: the default external site {default!r} of task {task.name!r} is not "
        f"among the cohort's sites {sites}; choose one with {option}=NAME (or =none to "
        "silence this)"
    )


def split_cohort(
    task: TaskSpec, cohort: Cohort, external: bool = True, manifest: pd.DataFrame | None = None
) -> Split:
    """The task's patient-grouped split (PTB-XL: its official folds) with the external site
    of :func:`external_site_for` held out; leakage-checked.

    ``manifest`` (default: the whole cohort's) holds the records to split, e.g. the usable
    records of :func:`bench.run.preparation.usable_records`.
    """
    site, note = external_site_for(task, cohort, external)
    policy: Literal["grouped", "ptbxl_folds"] = (
        "ptbxl_folds" if cohort.source == "ptbxl" else "grouped"
    )
    rows = cohort.manifest if manifest is None else manifest
    split = make_split(rows, SplitConfig(external_site=site, policy=policy), cohort.labels)
    if note:
        split.notes.append(note)
    assert_no_leakage(split)
    return split
