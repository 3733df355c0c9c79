"""The on-disk results store of one run, crash-safe by construction.

Layout of ``<output>/<run_name>/``::

    run.json                      resolved config, provenance, status
    results.jsonl                 every record of every finished cell (regenerated)
    report.json                   skipped cells, failed records, errors
    splits/<task>__<source>.json  split membership (record ids per set and fraction)
    cells/<cell_id>/identity.json     the cell's identity (bench.run.cells), written first
    cells/<cell_id>/predictions.csv   record_id, patient_id, label, score, split
    cells/<cell_id>/records.jsonl     the cell's records; with a matching identity, done
    cells/<cell_id>/checkpoint/       best model and resumable training state
    cells/<cell_id>/worker.json       process id and host of the worker that last ran it

Every file is written to a temporary name, flushed, fsync'd and renamed, so a process
killed at any instant leaves either the old file or the new one, never a torn one. A
cell's ``records.jsonl`` is written last: a cell without it is simply run again. A cell is
done only when its stored identity equals the identity the current grid computes for it;
otherwise (:meth:`RunStore.status`) it is stale and the fields that changed are named.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.run.json_files import read_json_object
from bench.run.records import ResultRecord, dumps, read_jsonl

RECORDS_NAME = "records.jsonl"
RESULTS_NAME = "results.jsonl"
IDENTITY_NAME = "identity.json"
PREDICTIONS_NAME = "predictions.csv"


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the fields that differ between two identities (nested dicts)."""
    out: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.extend(changed_fields(a, b, prefix=f"{name}."))
        elif a != b:
            out.append(name)
    return out


@dataclass(frozen=True)
class CellStatus:
    """Where a cell stands against the identity the grid wants.

    ``state``: ``"new"`` (nothing stored), ``"partial"`` (same identity, interrupted:
    resume), ``"done"`` (same identity, records written) or ``"stale"`` (stored under
    another identity; ``changed`` names the fields that differ).
    """

    state: str
    changed: list[str] = field(default_factory=list)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file + fsync + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class RunStore:
    """Reads and writes one run directory.

    Only the driver of a run writes ``results.jsonl``. A store opened by an executor's
    worker (``driver=False``) writes its cell's directory and nothing else, so cells on
    many processes or hosts never append to a shared file; the driver rebuilds
    ``results.jsonl`` (:meth:`rebuild_results`) as each cell comes back.
    """

    def __init__(self, root: Path, driver: bool = True) -> None:
        self.root = Path(root)
        self.driver = driver
        self.root.mkdir(parents=True, exist_ok=True)

    def cell_dir(self, cell: str) -> Path:
        """Directory of one cell (created on demand)."""
        path = self.root / "cells" / cell
        path.mkdir(parents=True, exist_ok=True)
        return path

    def status(self, cell: str, identity: dict[str, Any]) -> CellStatus:
        """Compare the stored cell with ``identity`` (see :class:`CellStatus`)."""
        directory = self.root / "cells" / cell
        if not directory.is_dir():
            return CellStatus("new")
        stored_path = directory / IDENTITY_NAME
        if not stored_path.is_file():
            return CellStatus("stale", ["identity (stored by a harness without identities)"])
        try:
            stored = read_json_object(stored_path)
        except ValueError as exc:
            return CellStatus("stale", [f"identity (unreadable: {exc})"])
        if stored != identity:
            return CellStatus("stale", changed_fields(stored, identity))
        return CellStatus("done" if (directory / RECORDS_NAME).is_file() else "partial")

    def start_cell(self, cell: str, identity: dict[str, Any]) -> None:
        """Claim a cell for ``identity``: anything stored under another identity is removed."""
        directory = self.root / "cells" / cell
        if self.status(cell, identity).state == "stale":
            shutil.rmtree(directory)
        atomic_write_text(
            self.cell_dir(cell) / IDENTITY_NAME, json.dumps(identity, sort_keys=True, indent=1)
        )

    def withdraw(self, cells: Iterable[str]) -> None:
        """Take stale ``cells`` (stored under another identity, about to be re-run) out of
        ``results.jsonl`` now: their records are deleted and the results rebuilt, so a run
        interrupted, or a cell that fails, before the re-run finishes never leaves results
        that the current grid has superseded (their directories are cleared when they start).
        """
        for cell in cells:
            (self.root / "cells" / cell / RECORDS_NAME).unlink(missing_ok=True)
        if self.driver:
            self.rebuild_results()

    def write_cell(
        self, cell: str, records: Iterable[ResultRecord], predictions: pd.DataFrame | None = None
    ) -> None:
        """Persist a finished cell: predictions first, then its records (the done marker).

        Without ``predictions`` only the records are replaced (re-scoring a done cell).
        """
        directory = self.cell_dir(cell)
        if predictions is not None:
            atomic_write_text(directory / PREDICTIONS_NAME, predictions.to_csv(index=False))
        atomic_write_text(directory / RECORDS_NAME, dumps(records))
        if self.driver:
            self.rebuild_results()

    def cell_records(self, cell: str) -> list[ResultRecord]:
        """The stored records of a done cell."""
        return list(read_jsonl(self.root / "cells" / cell / RECORDS_NAME))

    def has_records(self, cell: str) -> bool:
        """Whether a cell's records (its done marker) are written."""
        return (self.root / "cells" / cell / RECORDS_NAME).is_file()

    def cell_predictions(self, cell: str) -> pd.DataFrame:
        """The stored predictions of a done cell (ids read as strings)."""
        return pd.read_csv(
            self.root / self.predictions_path(cell),
            dtype={"record_id": str, "patient_id": str, "split": str},
        )

    def predictions_path(self, cell: str) -> str:
        """Path of a cell's predictions relative to the run directory (goes into records)."""
        return f"cells/{cell}/{PREDICTIONS_NAME}"

    def records(self) -> list[ResultRecord]:
        """Records of every finished cell, in cell order."""
        out: list[ResultRecord] = []
        for path in sorted((self.root / "cells").glob(f"*/{RECORDS_NAME}")):
            out.extend(read_jsonl(path))
        return out

    def rebuild_results(self) -> None:
        """Regenerate ``results.jsonl`` from the finished cells."""
        atomic_write_text(self.root / RESULTS_NAME, dumps(self.records()))

    def write_json(self, name: str, data: Any) -> None:
        """Atomically write a JSON document below the run directory."""
        atomic_write_text(self.root / name, json.dumps(data, indent=2, default=str) + "\n")

    def read_json(self, name: str) -> Any:
        """Read a JSON document written by :meth:`write_json`, or None if absent."""
        path = self.root / name
        return json.loads(path.read_text()) if path.is_file() else None
