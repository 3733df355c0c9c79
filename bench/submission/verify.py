"""``bench verify``: re-derive every number of a bundle (or run directory) independently.

For each result record the verifier

- re-scores the metric from the bundle's predictions with the independent reference
  (:mod:`bench.submission.reference`: scikit-learn points, a plain bootstrap with the
  record's recipe) and compares value, CI, ``n`` and ``n_positive`` within
  :data:`TOLERANCE`; a metric the reference cannot re-derive is reported as such;
- checks the split membership (:mod:`bench.submission.splits`): against the bundle's own
  hashes always, against the task's canonical split where the data is present;
- re-runs the contamination check (:func:`bench.weights.contamination.check`) on the
  corpora the bundle declares for the record's model (a checkpoint's own corpus first,
  as the harness does) and compares it with the record's ``contamination`` flag.

It also checks every member against the sha256 in ``bundle.json`` and that all records
come from the harness version the bundle declares. Nothing in the bundle is executed.

The ``bench saliency`` records (``saliency/results.jsonl``) cannot be re-derived: they
need the cell's weights and rendered images, which a bundle leaves out. Each is reported
:data:`~bench.submission.checks.NOT_DERIVABLE` once what can be checked holds (its member's
sha256 with the others, its harness version, and that its cell is in the bundle with
records of the same run); otherwise it fails. Neither can the ``bench cost`` latencies
(``latency.json``): a timing of the machine that ran it, reported not re-derivable.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench.data.labels import label_column, prediction_labels, score_column
from bench.submission.bundle import LATENCY, MANIFEST, RESULTS, SALIENCY, Bundle, cell_dir_of
from bench.submission.checks import FAIL, NOT_DERIVABLE, NOTE, PASS, Check, Verdict
from bench.submission.reference import NotDerivable, ReferenceValue, reference_score
from bench.submission.splits import CohortFacts, canonical_checks, consistency_checks

if TYPE_CHECKING:
    from bench.host.manager import PluginHost
    from bench.run.records import ResultRecord

#: Largest absolute difference between a recorded and a re-derived value (point, CI
#: bounds) that still agrees: float rounding between scikit-learn and the harness's
#: kernels is ~1e-15; any real difference in a prediction or a replicate is far larger.
TOLERANCE = 1e-9


def rederive(record: ResultRecord, predictions: pd.DataFrame) -> ReferenceValue:
    """Re-derive ``record``'s value and CI from its cell's ``predictions`` with the
    reference scorer and the record's bootstrap recipe (what a leaderboard verifier calls
    per record). Raises :class:`~bench.submission.reference.NotDerivable` when the
    reference lacks the metric or the task kind."""
    if record.task_kind not in ("classification", "regression"):
        raise NotDerivable(f"{record.task_kind} metrics have no independent reference")
    rows = predictions[predictions["split"] == record.split]
    names = prediction_labels(predictions)
    y_true: np.ndarray
    y_score: np.ndarray
    if names:
        y_true = rows[[label_column(n) for n in names]].to_numpy(dtype=np.float64)
        y_score = rows[[score_column(n) for n in names]].to_numpy(dtype=np.float64)
    else:
        y_true = rows["label"].to_numpy(dtype=np.float64)
        y_score = rows["score"].to_numpy(dtype=np.float64)
    recipe = record.bootstrap
    return reference_score(
        record.metric,
        y_true,
        y_score,
        rows["patient_id"].astype(str).to_numpy(),
        replicates=int(recipe["replicates"]),
        seed=int(recipe["seed"]),
        unit=str(recipe.get("unit", "patient")),
        stratified=bool(recipe.get("stratified", False)),
        min_label_positives=int(recipe.get("min_label_positives", 1)),
        regression=record.task_kind == "regression",
    )


def _same(recorded: float | None, derived: float) -> bool:
    """Whether a recorded value agrees with the re-derived one (None and NaN: undefined)."""
    if recorded is None or math.isnan(recorded) or math.isnan(derived):
        return (recorded is None or math.isnan(recorded)) and math.isnan(derived)
    return abs(recorded - derived) <= TOLERANCE


def _subject(record: ResultRecord) -> str:
    return f"{cell_dir_of(record).removeprefix('cells/')} {record.split} {record.metric}"


def score_check(record: ResultRecord, predictions: pd.DataFrame) -> Check:
    """Compare one record with its re-derived value (see the module docstring)."""
    subject = _subject(record)
    try:
        derived = rederive(record, predictions)
    except NotDerivable as exc:
        return Check(subject, "score", NOT_DERIVABLE, str(exc))
    except (KeyError, ValueError) as exc:
        return Check(subject, "score", FAIL, f"cannot re-score: {exc}")
    rows = predictions[predictions["split"] == record.split]
    labels = rows[[c for c in rows.columns if c == "label" or c.startswith("label:")]]
    n_positive = 0 if record.task_kind == "regression" else int((labels == 1).any(axis=1).sum())
    problems = [
        f"{name} {recorded} ≠ {value}"
        for name, recorded, value in (
            ("value", record.value, derived.point),
            ("ci_low", record.ci_low, derived.ci_low),
            ("ci_high", record.ci_high, derived.ci_high),
        )
        if not _same(recorded, value)
    ]
    problems += [
        f"{name} {recorded} ≠ {value}"
        for name, recorded, value in (
            ("n", record.n, len(rows)),
            ("n_positive", record.n_positive, n_positive),
        )
        if recorded != value
    ]
    if problems:
        return Check(subject, "score", FAIL, "; ".join(problems))
    return Check(
        subject, "score", PASS, f"{derived.point:.6g} [{derived.ci_low:.6g}, {derived.ci_high:.6g}]"
    )


def contamination_check(
    record: ResultRecord, models: dict[str, Any], facts: CohortFacts | None
) -> Check:
    """Re-run the contamination check of one record's split on its declared corpora."""
    from bench.weights.contamination import Corpus, check

    subject = f"{cell_dir_of(record).removeprefix('cells/')} {record.split}"
    declared = record.pretraining.get("corpus")
    if declared:
        corpora = [Corpus.from_metadata(str(declared))]
    elif record.init != "random":
        if record.model not in models:
            return Check(subject, "contamination", FAIL, "the bundle declares no corpus for it")
        corpora = [Corpus.from_metadata(n) for n in models[record.model]["pretrained_on"]]
    else:
        corpora = []
    sites = facts.sites.get(record.split, set()) if facts else set()
    n_patients = facts.n_patients if facts else None
    reasons = [check(c, record.source, sites, n_patients, record.split) for c in corpora]
    found = "; ".join(r for r in reasons if r)
    scope = "" if facts else " (sites and patient range not checked: data not present)"
    if found and not record.contamination:
        return Check(subject, "contamination", FAIL, f"undeclared overlap: {found}")
    if record.contamination and not found:
        message = "the record flags an overlap that the declared corpora do not give"
        return Check(subject, "contamination", FAIL, message + scope)
    if found:
        return Check(subject, "contamination", NOTE, f"overlap declared in the record: {found}")
    names = ", ".join(c.source for c in corpora) or "none (random init)"
    return Check(subject, "contamination", PASS, f"no overlap with corpora: {names}{scope}")


def _integrity(bundle: Bundle) -> list[Check]:
    """Members against the sha256 of ``bundle.json``; records against its harness version."""
    from bench import __version__

    out = []
    if bundle.archived:
        listed: dict[str, str] = bundle.manifest.get("files", {})
        present = set(bundle.files.names) - {MANIFEST}
        for name in sorted(present | set(listed)):
            digest = (
                hashlib.sha256(bundle.files.read(name)).hexdigest() if name in present else None
            )
            if digest != listed.get(name):
                what = (
                    "not listed"
                    if name not in listed
                    else "missing"
                    if digest is None
                    else "sha256 differs"
                )
                out.append(Check(name, "integrity", FAIL, f"{what} in {MANIFEST}"))
        if not out:
            out.append(Check(MANIFEST, "integrity", PASS, f"{len(listed)} member(s) match"))
    cells = [n for n in bundle.files.names if n.endswith("/records.jsonl")]
    lines = sorted(line for n in cells for line in bundle.files.read(n).splitlines())
    if lines != sorted(bundle.files.read(RESULTS).splitlines()):
        message = "holds other records than the cells' records.jsonl"
        out.append(Check(RESULTS, "integrity", FAIL, message))
    declared = bundle.manifest.get("harness_version", "")
    others = sorted({r.harness_version for r in bundle.records} - {declared})
    if others:
        out.append(Check("records", "version", FAIL, f"harness {others}, bundle says {declared}"))
    if declared != __version__:
        message = f"made with harness {declared}; verified with {__version__}"
        out.append(Check("harness", "version", NOTE, message))
    return out


#: Why a ``bench saliency`` record is never re-derived by a verifier.
SALIENCY_NOT_DERIVABLE = (
    "not re-derivable: needs the cell's weights and images; re-run `bench saliency`"
)


def saliency_checks(bundle: Bundle) -> list[Check]:
    """One check per ``bench saliency`` record of the bundle: a failure when it comes from
    another harness version than the bundle declares or its cell is not in the bundle (no
    records of that cell and run), else :data:`SALIENCY_NOT_DERIVABLE`."""
    from bench.run.cells import cell_id

    declared = bundle.manifest.get("harness_version", "")
    cells = {(cell_dir_of(r), r.run_id) for r in bundle.records}
    out = []
    for record in bundle.saliency:
        cell = "cells/" + cell_id(record.model, record.task, record.source, record.fraction,
                                  record.seed, record.protocol)  # fmt: skip
        subject = f"{SALIENCY}: {cell.removeprefix('cells/')} {record.split} {record.metric}"
        if record.harness_version != declared:
            message = f"harness {record.harness_version}, bundle says {declared}"
            out.append(Check(subject, "version", FAIL, message))
        elif (cell, record.run_id) not in cells:
            message = f"its cell {cell} of run {record.run_id!r} is not in the bundle"
            out.append(Check(subject, "saliency", FAIL, message))
        else:
            out.append(Check(subject, "saliency", NOT_DERIVABLE, SALIENCY_NOT_DERIVABLE))
    return out


def latency_checks(bundle: Bundle) -> list[Check]:
    """The bundle's ``bench cost`` latencies, when it has them: not re-derivable."""
    if LATENCY not in bundle.files.names:
        return []
    message = "measured by `bench cost` on the submitting machine: shown, not re-derivable"
    return [Check(LATENCY, "latency", NOT_DERIVABLE, message)]


def _declarations(bundle: Bundle, host: PluginHost) -> list[Check]:
    """A note where an installed plugin declares other corpora than the bundle."""
    out = []
    for name, declared in sorted(bundle.manifest.get("models", {}).items()):
        if name in host.registries.models:
            installed = sorted(host.registries.models.get(name).meta.pretrained_on)
            if installed != sorted(declared.get("pretrained_on", [])):
                message = f"the installed plugin declares pretrained_on {installed}"
                out.append(Check(name, "declaration", NOTE, message))
    return out


def verify_bundle(bundle: Bundle, host: PluginHost, strict: bool = False) -> Verdict:
    """Every check of the module docstring on an opened bundle (``strict``: an unchecked
    or not re-derivable item fails too)."""
    verdict = Verdict(str(bundle.files.path), strict=strict)
    verdict.checks += _integrity(bundle) + _declarations(bundle, host) + saliency_checks(bundle)
    verdict.checks += latency_checks(bundle)
    groups: dict[tuple[str, str], list[ResultRecord]] = {}
    for record in bundle.records:
        groups.setdefault((record.task, record.source), []).append(record)
    models = bundle.manifest.get("models", {})
    for (task, source), records in sorted(groups.items()):
        manifest = bundle.json(f"splits/{task}__{source}.json")
        if manifest is None:
            verdict.checks.append(Check(f"{task}/{source}", "split", FAIL, "no split manifest"))
            facts = None
        else:
            verdict.checks += consistency_checks(bundle, manifest, records)
            found, facts = canonical_checks(bundle, host, manifest, records)
            verdict.checks += found
        predictions: dict[str, pd.DataFrame] = {}
        seen: set[tuple[str, str]] = set()
        for record in records:
            cell = cell_dir_of(record)
            if cell not in predictions:
                predictions[cell] = bundle.predictions(cell)
            verdict.checks.append(score_check(record, predictions[cell]))
            if (cell, record.split) not in seen:
                seen.add((cell, record.split))
                verdict.checks.append(contamination_check(record, models, facts))
    return verdict
