"""Split membership of a bundle: against its own hashes and against the canonical split.

Two layers:

1. **Consistency** (always): each cell's membership hashes (train, validation and each
   evaluation set; :func:`bench.run.cells.ids_hash`) recomputed from the bundle's split
   manifest equal those in the cell's ``identity.json`` and the records' ``split_hash``,
   and each evaluation split's predictions are exactly that set's records.
2. **Canonical** (where the data is present): the task's cohort is loaded through the
   public task and split API (:func:`bench.run.preparation.load_cohort`,
   :func:`bench.run.preparation.split_for`) with the run's source options at the declared
   dataset version; the usable records must be cohort records with the recorded content
   hash (of a cohort read from files, that hash covers each usable record's decoded
   signal: they are read again, :func:`bench.data.cohort.signal_digest`), the sets,
   labelled subsets and validation subsets must be the ones the harness makes, and every
   prediction's patient and label must be the cohort's. Records the run declared unusable
   are reported (a note), not re-checked.
   Without the data (or the task's plugin, or at another dataset version) this layer is
   "not checked", never passed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench.data.labels import label_column, prediction_labels
from bench.data.signal import RECORD_ERRORS
from bench.run.cells import ids_hash
from bench.run.provenance import stable_hash
from bench.run.task_data import EVAL_SETS
from bench.submission.bundle import Bundle, cell_dir_of
from bench.submission.checks import FAIL, NOT_CHECKED, NOTE, PASS, Check

if TYPE_CHECKING:
    from bench.data.cohort import Cohort
    from bench.host.manager import PluginHost
    from bench.run.records import ResultRecord

VALIDATION = "validation"


@dataclass
class CohortFacts:
    """What the canonical cohort says about one task's evaluation sets (for the
    contamination check): their sites, and a synthetic cohort's patient count."""

    sites: dict[str, set[str]] = field(default_factory=dict)
    n_patients: int | None = None


def _differ(name: str, claimed: Iterable[str], canonical: Iterable[str]) -> str | None:
    """How set ``name`` differs from the canonical one (None when equal)."""
    claimed, canonical = set(claimed), set(canonical)
    if claimed == canonical:
        return None
    extra, lacking = sorted(claimed - canonical), sorted(canonical - claimed)
    parts = [f"{len(extra)} extra ({', '.join(extra[:3])})"] if extra else []
    parts += [f"{len(lacking)} missing ({', '.join(lacking[:3])})"] if lacking else []
    return f"{name}: {'; '.join(parts)}"


def _membership(manifest: dict[str, Any], seed: int, fraction: float, evals: Iterable[str]):
    """The membership hashes of a cell, from the split manifest (as bench.run.cells)."""
    return {
        "train": ids_hash(manifest["labelled"][str(seed)][str(fraction)]),
        "validation": ids_hash(manifest["validation"][str(seed)][str(fraction)]),
        "eval": {name: ids_hash(manifest["sets"][EVAL_SETS[name]]) for name in evals},
    }


def consistency_checks(
    bundle: Bundle, manifest: dict[str, Any], records: list[ResultRecord]
) -> list[Check]:
    """Layer 1 of the module docstring for the cells of one task's ``records``."""
    out: list[Check] = []
    cells: dict[str, list[ResultRecord]] = {}
    for record in records:
        cells.setdefault(cell_dir_of(record), []).append(record)
    for cell, members in sorted(cells.items()):
        first, problems = members[0], []
        identity = bundle.json(f"{cell}/identity.json") or {}
        stored = identity.get("membership", {})
        try:
            computed = _membership(manifest, first.seed, first.fraction, stored.get("eval", {}))
        except KeyError as exc:
            out.append(Check(cell, "split", FAIL, f"split manifest lacks {exc}"))
            continue
        if computed != stored:
            problems.append("membership hashes differ from the cell's identity.json")
        if any(r.split_hash != stable_hash(computed, length=16) for r in members):
            problems.append("records' split_hash differs from the split manifest's membership")
        predictions = bundle.predictions(cell)
        wanted = {
            **{name: manifest["sets"][EVAL_SETS[name]] for name in stored.get("eval", {})},
            VALIDATION: manifest["validation"][str(first.seed)][str(first.fraction)],
        }
        for split, ids in wanted.items():
            rows = predictions.loc[predictions["split"] == split, "record_id"]
            if split == VALIDATION and rows.empty:
                continue  # validation scores are optional
            problem = _differ(f"{split} predictions vs split manifest", rows, ids)
            if problem:
                problems.append(problem)
        status = FAIL if problems else PASS
        message = "; ".join(problems) or "membership hashes, split_hash and prediction ids agree"
        out.append(Check(cell, "split", status, message))
    return out


def _load(bundle: Bundle, host: PluginHost, task_name: str, source: str) -> Cohort | str:
    """The task's cohort under the run's options, or why it cannot be loaded."""
    from bench.errors import RunError
    from bench.run.config import PROFILES
    from bench.run.preparation import load_cohort

    if task_name not in host.registries.tasks:
        return f"task {task_name!r} is not installed"
    config = bundle.run.get("config", {})
    profile = PROFILES.get(config.get("profile", ""))
    synthetic = profile.synthetic_options(task_name) if profile else None
    options = config.get("source_options", {}).get(source, {})
    try:
        return load_cohort(
            host.registries.tasks.get(task_name), source, options, synthetic=synthetic
        )
    except (OSError, RunError, ValueError, KeyError) as exc:
        return f"data not present ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"


def _signal_digests(cohort: Cohort, rows: pd.DataFrame) -> np.ndarray | None:
    """The digests of the signals of ``rows`` as the cohort's reader returns them (what a
    run's input cache stored); None for a cohort whose signal key is content-derived."""
    from bench.data.cohort import signal_digest

    if cohort.content_key:
        return None
    ids = rows["record_id"].astype(str)
    return np.array([signal_digest(cohort.load_signal(r)) for r in ids], dtype=np.uint64)


def canonical_checks(
    bundle: Bundle,
    host: PluginHost,
    manifest: dict[str, Any],
    records: list[ResultRecord],
) -> tuple[list[Check], CohortFacts | None]:
    """Layer 2 of the module docstring for one task and source; the cohort's facts for the
    contamination check (None when the cohort could not be loaded)."""
    from bench.run.preparation import split_for

    first = records[0]
    subject = f"{first.task}/{first.source}"
    cohort = _load(bundle, host, first.task, first.source)
    if isinstance(cohort, str):
        return [Check(subject, "split", NOT_CHECKED, cohort)], None
    if cohort.source_version != first.source_version:
        message = (
            f"the installed source is version {cohort.source_version}, the bundle declares "
            f"{first.source_version}: the canonical split cannot be recomputed here"
        )
        return [Check(subject, "split", NOT_CHECKED, message)], None
    out: list[Check] = []
    usable = {r for ids in manifest["sets"].values() for r in ids}
    known = set(cohort.manifest["record_id"].astype(str))
    unknown = sorted(usable - known)
    if unknown:
        message = f"{len(unknown)} record(s) are not in the cohort ({', '.join(unknown[:3])})"
        return [Check(subject, "split", FAIL, message)], None
    if known - usable:
        message = (
            f"{len(known - usable)} of {len(known)} cohort records were declared unusable "
            "by the run (not re-checked: that needs their signals)"
        )
        out.append(Check(subject, "split", NOTE, message))
    rows = cohort.manifest[cohort.manifest["record_id"].astype(str).isin(usable)]
    rows = rows.reset_index(drop=True)
    try:
        digests = _signal_digests(cohort, rows)
        if any(r.cohort_hash != cohort.content_hash(rows, digests) for r in records):
            out.append(Check(subject, "split", FAIL, "usable records' content hash differs"))
    except RECORD_ERRORS as exc:
        out.append(Check(subject, "split", FAIL, f"a usable record cannot be read: {exc}"))
    external = bool(bundle.run.get("config", {}).get("external", True))
    split = split_for(host.registries.tasks.get(first.task), cohort, rows, external=external)
    rule = manifest.get("validation_rule", "full")
    problems = [
        _differ(name, manifest["sets"].get(name, []), split.sets[name]) for name in split.sets
    ]
    for seed, fractions in manifest["labelled"].items():
        for fraction, ids in fractions.items():
            canonical = split.fraction_records(rows, float(fraction), int(seed))
            problems.append(_differ(f"train {fraction} seed {seed}", ids, canonical))
            canonical = split.validation_records(rows, float(fraction), int(seed), rule)
            claimed = manifest["validation"][seed][fraction]
            problems.append(_differ(f"validation {fraction} seed {seed}", claimed, canonical))
    found = [p for p in problems if p]
    message = "; ".join(found) or "every set and subset equals the canonical split"
    out.append(Check(subject, "split", FAIL if found else PASS, message))
    out.extend(_label_checks(bundle, records, rows))
    config = cohort.notes.get("config")
    facts = CohortFacts(
        sites={
            name: set(rows.set_index("record_id").loc[split.sets[set_name], "site"].astype(str))
            for name, set_name in EVAL_SETS.items()
        },
        n_patients=getattr(config, "n_patients", None),
    )
    return out, facts


def _label_checks(bundle: Bundle, records: list[ResultRecord], rows: pd.DataFrame) -> list[Check]:
    """Every prediction's patient and label(s) are the cohort's."""
    by_id = rows.assign(record_id=rows["record_id"].astype(str)).set_index("record_id")
    out = []
    for cell in sorted({cell_dir_of(r) for r in records}):
        predictions = bundle.predictions(cell)
        names = prediction_labels(predictions)
        columns = [label_column(n) for n in names] if names else ["label"]
        cohort = by_id.reindex(predictions["record_id"])
        patients = cohort["patient_id"]
        bad = patients.isna().to_numpy() | (
            predictions["patient_id"].to_numpy() != patients.astype(str).to_numpy()
        )
        for column in columns:
            claimed = predictions[column].to_numpy(dtype=np.float64)
            truth = cohort[column].to_numpy(dtype=np.float64)
            bad |= ~np.isclose(claimed, truth, rtol=0, atol=0, equal_nan=True)
        ids = predictions.loc[bad, "record_id"].tolist()
        message = (
            f"{len(ids)} prediction(s) with another patient or label than the cohort's "
            f"({', '.join(ids[:3])})"
            if ids
            else "patients and labels are the cohort's"
        )
        out.append(Check(cell, "labels", FAIL if ids else PASS, message))
    return out
