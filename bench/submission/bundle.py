"""Submission bundles: a finished run's records, predictions, splits and declarations in
one ZIP archive (``bench submit``), and the read side every verifier uses.

Members (a subset of the run directory's layout, so a run directory reads the same way)::

    bundle.json                      format, harness version, environment, each model's
                                     declared pretraining corpora and licence, sha256 of
                                     every other member
    run.json                         the run's resolved configuration and provenance
    results.jsonl                    every result record (bench.run.records)
    splits/<task>__<source>.json     split membership: record ids per set, and per seed and
                                     fraction the labelled and validation records
    cells/<cell>/identity.json       the cell's identity, with its split-membership hashes
    cells/<cell>/records.jsonl       the cell's records (results.jsonl is all of them)
    cells/<cell>/predictions.csv     record_id, patient_id, label(s), score(s), split
    saliency/results.jsonl           the run's ``bench saliency`` records, when it has them
    latency.json                     the run's ``bench cost`` latencies, when it has them
                                     (measured: shown on the board, never re-derived)

Checkpoints, caches and the saliency overlays (PNG) are left out: a bundle is the evidence
for its numbers, not a way to re-run them (so its saliency records, which need the cell's
weights and rendered images, are checked but not re-derived). Every member is JSON or CSV
(the run store writes nothing else a verifier reads); the reader also accepts ``.npz``
members (:func:`bench.submission.safety.load_npz`).
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bench.run.records import RecordError, ResultRecord, record_from_dict
from bench.submission.safety import BundleError, BundleFiles

if TYPE_CHECKING:
    from bench.host.manager import PluginHost

FORMAT = "ecg-bench-submission"
FORMAT_VERSION = 1
MANIFEST = "bundle.json"
RUN_JSON = "run.json"
RESULTS = "results.jsonl"
#: The run's ``bench saliency`` records (``bench saliency --run RUN --output RUN``).
SALIENCY = "saliency/results.jsonl"
#: The run's latencies re-timed on a quiet machine (``bench cost RUN``).
LATENCY = "latency.json"
#: The run-directory files a bundle holds (and a verifier reads from a run directory).
RUN_PATTERNS: tuple[str, ...] = (
    RUN_JSON,
    RESULTS,
    "splits/*.json",
    "cells/*/identity.json",
    "cells/*/records.jsonl",
    "cells/*/predictions.csv",
    SALIENCY,
    LATENCY,
)
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # members carry no date: the same run, the same bytes


def model_declarations(host: PluginHost, names: list[str]) -> dict[str, dict[str, Any]]:
    """What each model's plugin declares: pretraining corpora, licence, plugin and version.

    A model no installed plugin registers is an error: its declaration cannot be made."""
    out: dict[str, dict[str, Any]] = {}
    registry = host.registries.models
    for name in sorted(set(names)):
        if name not in registry.names():
            raise BundleError(
                f"model {name!r}: not registered by any installed plugin; install its plugin "
                "so that the bundle can declare its pretraining corpus and licence"
            )
        spec = registry.get(name)
        out[name] = {
            "pretrained_on": list(spec.meta.pretrained_on),
            "licence": spec.meta.licence,
            "family": spec.meta.family,
            "description": spec.meta.description,
            "plugin": spec.plugin,
            "plugin_version": host.versions.get(spec.plugin, ""),
        }
    return out


def environment(run: dict[str, Any]) -> dict[str, Any]:
    """The run's environment as its ``run.json`` records it (harness version, git sha,
    package versions incl. torch, the run machine's Python, platform and CPU count where
    the run recorded them, device), plus the Python and platform of the machine that made
    the bundle (``submitted_from``)."""
    return {
        "harness_version": run.get("harness_version", ""),
        "git_sha": run.get("git_sha"),
        "packages": run.get("packages", {}),
        "run_environment": run.get("environment", {}),
        "device": run.get("device", ""),
        "submitted_from": {"python": platform.python_version(), "platform": platform.platform()},
    }


def parse_records(data: bytes, label: str) -> list[ResultRecord]:
    """The records of a JSONL member (one-line error naming the line on a bad one)."""
    out = []
    for number, line in enumerate(data.decode().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(record_from_dict(json.loads(line)))
        except (json.JSONDecodeError, RecordError, TypeError) as exc:
            raise BundleError(f"{label}:{number}: not a result record ({exc})") from None
    return out


def read_json(files: BundleFiles, name: str) -> Any:
    """A JSON member, parsed (one-line error naming it when it is not JSON)."""
    try:
        return json.loads(files.read(name))
    except (ValueError, RecursionError) as exc:
        raise BundleError(f"{files.path}: {name}: not valid JSON ({exc})") from None


def _describe(files: BundleFiles, host: PluginHost) -> dict[str, Any]:
    """The manifest of a run directory's (or an archive's) members."""
    run = read_json(files, RUN_JSON)
    records = parse_records(files.read(RESULTS), RESULTS)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "harness_version": run.get("harness_version", ""),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": environment(run),
        "models": model_declarations(host, [r.model for r in records]),
        "files": {name: hashlib.sha256(files.read(name)).hexdigest() for name in files.names},
    }


def cell_dir_of(record: ResultRecord) -> str:
    """The run-relative directory of the cell a record belongs to (from its predictions)."""
    path = str(record.details.get("predictions", ""))
    if not path:
        raise BundleError(f"record {record.model}/{record.task}/{record.metric}: no predictions")
    return path.rsplit("/", 1)[0]


def write_bundle(run_dir: Path, output: Path, host: PluginHost) -> dict[str, Any]:
    """Write the bundle of ``run_dir`` to ``output`` (a ``.zip``); its manifest.

    Only finished cells (those with records in ``results.jsonl``) go in; a record whose
    predictions are missing is an error."""
    if output.suffix != ".zip":
        raise BundleError(f"{output}: a bundle is a .zip archive; name it BUNDLE.zip")
    if not (run_dir / RUN_JSON).is_file() or not (run_dir / RESULTS).is_file():
        raise BundleError(f"{run_dir}: not a finished bench run (no run.json or results.jsonl)")
    files = BundleFiles.open(run_dir, RUN_PATTERNS)
    records = parse_records(files.read(RESULTS), f"{run_dir / RESULTS}")
    cells = {cell_dir_of(r) for r in records}
    for cell in sorted(cells):
        if f"{cell}/predictions.csv" not in files.names:
            raise BundleError(f"{run_dir / cell}: the cell has records but no predictions.csv")
    keep = [n for n in files.names if not n.startswith("cells/") or n.rsplit("/", 1)[0] in cells]
    kept = BundleFiles(run_dir, {n: run_dir / n for n in keep})
    manifest = _describe(kept, host)
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in [(MANIFEST, json.dumps(manifest, indent=1).encode())] + [
            (n, kept.read(n)) for n in keep
        ]:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = 0o100644 << 16  # a regular file
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return manifest


@dataclass
class Bundle:
    """A bundle (or a run directory) opened for reading: its checked members, manifest,
    run configuration and records."""

    files: BundleFiles
    manifest: dict[str, Any]
    run: dict[str, Any]
    records: list[ResultRecord]
    #: whether the manifest came from the archive (False: made now from a run directory)
    archived: bool
    #: the ``bench saliency`` records (:data:`SALIENCY`; none when the run has none)
    saliency: list[ResultRecord] = field(default_factory=list)

    @classmethod
    def open(cls, path: Path, host: PluginHost) -> Bundle:
        """Open a ``.zip`` bundle or a run directory; a run directory's manifest is made
        now, from the installed plugins' declarations."""
        files = BundleFiles.open(Path(path), RUN_PATTERNS)
        for required in (RUN_JSON, RESULTS):
            if required not in files.names:
                raise BundleError(f"{path}: no {required}: not a bundle or a finished run")
        archived = MANIFEST in files.names
        manifest = read_json(files, MANIFEST) if archived else _describe(files, host)
        if manifest.get("format") != FORMAT:
            raise BundleError(f"{path}: {MANIFEST}: format is not {FORMAT!r}")
        if manifest.get("format_version", 0) > FORMAT_VERSION:
            raise BundleError(
                f"{path}: {MANIFEST}: format_version {manifest.get('format_version')} is newer "
                f"than this harness reads ({FORMAT_VERSION}); upgrade ecg-bench"
            )
        run = read_json(files, RUN_JSON)
        records = parse_records(files.read(RESULTS), RESULTS)
        saliency = parse_records(files.read(SALIENCY), SALIENCY) if SALIENCY in files.names else []
        return cls(files, manifest, run, records, archived, saliency)

    def json(self, name: str) -> Any:
        """A JSON member (None when absent)."""
        return read_json(self.files, name) if name in self.files.names else None

    def predictions(self, cell: str) -> pd.DataFrame:
        """The predictions table of a cell directory (ids read as strings)."""
        name = f"{cell}/predictions.csv"
        try:
            return pd.read_csv(
                io.BytesIO(self.files.read(name)),
                dtype={"record_id": str, "patient_id": str, "split": str},
            )
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleError(
                f"{self.files.path}: {name}: not a predictions table ({exc})"
            ) from None
