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

Patients are ordered by stratified random orders (:mod:`bench.data.strata`: the label
strata, and sex and age groups inside them, with what a prefix keeps).

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
import pyarrow as pa
import pyarrow.compute as pc

from bench.data.strata import patient_groups, patient_strata, stratified_order

if TYPE_CHECKING:
    from bench.data.cohort import Cohort
    from bench.host.specs import TaskSpec

DEFAULT_FRACTIONS: tuple[float, ...] = (0.01, 0.1, 0.25, 0.5, 1.0)
SPLIT_SEED = 20230606  # constant: the same patients in every run and for every model
SET_NAMES: tuple[str, ...] = ("train", "validation", "test", "external")
SplitPolicy = Literal["grouped", "ptbxl_folds", "published"]
#: The manifest column of a dataset's own split (policy ``published``).
PUBLISHED_SPLIT_COLUMN = "published_split"
VALIDATION_RULES: tuple[str, ...] = ("full", "scaled")
#: Fewest positive validation patients the ``scaled`` rule keeps (when the set has them).
MIN_VALIDATION_POSITIVES = 5


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
    10 test). ``policy="published"``: a dataset's own split, the ``published_split`` column
    (``train``, ``validation`` or ``test`` per record; a patient in two of them is an error).
    ``external_site`` holds one site out entirely as external validation.
    """

    policy: SplitPolicy = "grouped"
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
    #: each record's patient, indexed by record id (the manifest's own columns)
    patients_of: pd.Series = field(default_factory=lambda: pd.Series(dtype="str"), repr=False)
    #: messages for the user about how the split was made (e.g. a default external site
    #: that the cohort lacks); commands print them before training
    notes: list[str] = field(default_factory=list)

    def patient_order(self, name: str, seed: int) -> list[str]:
        """Patients of set ``name`` (train/validation) in the order fractions take prefixes
        of, drawn from the split seed and ``seed`` (stratified by patient stratum, and by
        sex and age band within it where known)."""
        rng = np.random.default_rng([self.config.seed, SET_NAMES.index(name), seed])
        return stratified_order(
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
            usable = set(manifest["record_id"])
            return [r for r in self.sets["validation"] if r in usable]
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


def _take(order: list[str], labels: pd.Series, share: float, stratify: bool) -> set[str]:
    """Patients for a held-out set of ``share`` of ``order``, per stratum when stratified."""
    if not stratify:
        return set(order[: max(1, round(share * len(order)))])
    taken, in_order = set[str](), labels.loc[order].to_numpy()  # one lookup, not one per patient
    for value in np.unique(labels.to_numpy()):
        members = [p for p, label in zip(order, in_order, strict=True) if label == value]
        taken.update(members[: round(share * len(members))])
    return taken


def make_split(
    manifest: pd.DataFrame,
    config: SplitConfig,
    label_names: Sequence[str] = (),
    kind: str = "classification",
) -> Split:
    """Split ``manifest`` (record_id, patient_id, site, label; optional sex and age) by
    patient, stratified on :func:`bench.data.strata.patient_strata` of the task's ``kind``
    and ``label_names`` (a multi-label task's labels, columns ``label:<name>``)."""
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

    labels = patient_strata(pool, label_names, kind)
    groups = patient_groups(pool)
    if len(labels) < 3:
        raise TooFewPatientsError(f"need at least 3 patients to split, cohort has {len(labels)}")
    if config.policy == "ptbxl_folds":
        if "strat_fold" not in pool.columns:
            raise SplitError("policy 'ptbxl_folds' needs a strat_fold column (PTB-XL)")
        fold = pool.groupby("patient_id", sort=True)["strat_fold"].max()
        test_p = set(fold.index[fold == 10])
        val_p = set(fold.index[fold == 9])
    elif config.policy == "published":
        test_p, val_p = _published_patients(pool)
    else:
        order = stratified_order(labels, rng, config.stratify, groups)
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
    patients_of = pd.Series(manifest["patient_id"].array, index=manifest["record_id"].array)
    split = Split(sets, config, patient_labels, groups, patients_of)
    assert_no_leakage(split)
    return split


def _published_patients(manifest: pd.DataFrame) -> tuple[set[str], set[str]]:
    """Test and validation patients of the ``published_split`` column; a patient whose
    records lie in two published sets, or an unknown set name, is a :class:`SplitError`."""
    if PUBLISHED_SPLIT_COLUMN not in manifest.columns:
        raise SplitError(f"policy 'published' needs a {PUBLISHED_SPLIT_COLUMN} column")
    sets = manifest[PUBLISHED_SPLIT_COLUMN].astype(str)
    unknown = sorted(set(sets) - {"train", "validation", "test"})
    if unknown:
        raise SplitError(
            f"column {PUBLISHED_SPLIT_COLUMN!r} holds {unknown[0]!r}; expected train, "
            "validation or test"
        )
    per_patient = sets.groupby(manifest["patient_id"], sort=True).unique()
    mixed = per_patient[per_patient.map(len) > 1]
    if len(mixed):
        raise SplitError(
            f"patient {mixed.index[0]!r} has records in published sets "
            f"{sorted(mixed.iloc[0])}; a published split must be patient-grouped"
        )
    first = per_patient.map(lambda values: values[0])
    return set(first.index[first == "test"]), set(first.index[first == "validation"])


def assert_no_leakage(split: Split) -> None:
    """The runner's guard: a :class:`LeakageError` names a set's first patient in an earlier set."""
    records, patients = (pa.array(s.array) for s in (split.patients_of.index, split.patients_of))
    seen: dict[str, pa.Array] = {}
    for name in SET_NAMES:
        rows = pc.index_in(pa.array(split.sets[name], records.type), value_set=records)
        if rows.null_count:  # a record the manifest lacks has no patient to check
            raise LeakageError(
                f"set {name!r} holds {rows.null_count} record(s) not in the manifest"
            )
        mine = pc.unique(patients.take(rows)).drop_null()
        for earlier, theirs in seen.items():
            if len(shared := mine.filter(pc.is_in(mine, value_set=theirs))):
                raise LeakageError(
                    f"patient {shared[0].as_py()!r} appears in both {earlier!r} and {name!r}"
                )
        seen[name] = mine


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
    """The task's patient-grouped split (PTB-XL: its official folds; a cohort with a
    ``published_split`` column, e.g. EchoNext: that split) with the external site of
    :func:`external_site_for` held out; leakage-checked.

    ``manifest`` (default: the whole cohort's) holds the records to split, e.g. the usable
    records of :func:`bench.run.preparation.usable_records`.
    """
    site, note = external_site_for(task, cohort, external)
    rows = cohort.manifest if manifest is None else manifest
    policy: SplitPolicy = (
        "ptbxl_folds"
        if cohort.source == "ptbxl"
        else "published"
        if PUBLISHED_SPLIT_COLUMN in rows.columns
        else "grouped"
    )
    config = SplitConfig(external_site=site, policy=policy)
    split = make_split(rows, config, cohort.labels, cohort.kind)
    if note:
        split.notes.append(note)
    assert_no_leakage(split)
    return split
