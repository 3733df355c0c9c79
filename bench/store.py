"""The on-disk results store of one run, crash-safe by construction.

Layout of ``<output>/<run_name>/``::

    run.json                      resolved config, provenance, status
    results.jsonl                 every record of every finished cell (regenerated)
    report.json                   skipped cells, failed records, errors
    splits/<task>__<source>.json  split membership (record ids per set and fraction)
    cells/<cell_id>/predictions.csv   record_id, patient_id, label, score, split
    cells/<cell_id>/records.jsonl     the cell's records; its presence marks the cell done
    cells/<cell_id>/checkpoint/       best model and resumable training state

Every file is written to a temporary name, flushed, fsync'd and renamed, so a process
killed at any instant leaves either the old file or the new one, never a torn one. A
cell's ``records.jsonl`` is written last: a cell without it is simply run again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from bench.records import ResultRecord, dumps, read_jsonl

RECORDS_NAME = "records.jsonl"
RESULTS_NAME = "results.jsonl"


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
    """Reads and writes one run directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def cell_dir(self, cell: str) -> Path:
        """Directory of one cell (created on demand)."""
        path = self.root / "cells" / cell
        path.mkdir(parents=True, exist_ok=True)
        return path

    def is_done(self, cell: str) -> bool:
        """True when the cell's records were written completely."""
        return (self.root / "cells" / cell / RECORDS_NAME).is_file()

    def write_cell(
        self, cell: str, records: Iterable[ResultRecord], predictions: pd.DataFrame
    ) -> None:
        """Persist a finished cell: predictions first, then its records (the done marker)."""
        directory = self.cell_dir(cell)
        atomic_write_text(directory / "predictions.csv", predictions.to_csv(index=False))
        atomic_write_text(directory / RECORDS_NAME, dumps(records))
        self.rebuild_results()

    def predictions_path(self, cell: str) -> str:
        """Path of a cell's predictions relative to the run directory (goes into records)."""
        return f"cells/{cell}/predictions.csv"

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
