"""A leaderboard table as data: its rows and cells, how a cell and a difference print, and
the table's long-form CSV and JSON (:mod:`bench.leaderboard.tables` builds the tables and
renders Markdown and LaTeX).

Every cell carries its seeds' own values (``seed_values``), whether its seeds produced
identical predictions (``identical_seeds``: one replicate shown as several) and the seeds
whose own bootstrap interval excludes their own value (``interval_flags``); every
difference its pooled paired CI of ``first − second`` (``ci_low``/``ci_high``), each
seed's own difference (``seed_diffs``), whether they agree in direction, and its pooled
and Holm-adjusted p-values (``p_value``, ``p_holm``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.leaderboard.aggregate import Cell, RowKey, TableKey, fraction_label
from bench.leaderboard.budget import NOT_CONVERGED_MARK, cell_steps
from bench.leaderboard.identity import RowIdentity, format_pretraining, row_identities
from bench.leaderboard.names import METRIC_NAMES, init_text
from bench.leaderboard.paired import Difference

MARKER = "†"
#: After a cell whose seeds produced identical predictions.
IDENTICAL_MARK = "≡"
#: After a cell with a seed whose own bootstrap interval excludes its own value.
INTERVAL_MARK = "◊"
#: Printed for a relative difference that does not exist (both values 0).
NO_RELATIVE = "—"
HEADERS = ("model", "arch", "init", "selection", "contamination", "seeds")


@dataclass
class Row:
    """One rendered row: identity columns, then a string per fraction."""

    label: str
    kind: str  # "value" | "difference"
    arch: str = ""
    init: str = ""
    selection: str = ""
    contamination: str = ""
    seeds: str = ""
    cells: dict[float, str] = field(default_factory=dict)
    values: dict[float, float] = field(default_factory=dict)  # numbers behind ``cells``

    def identity(self) -> list[str]:
        """The non-fraction columns, in :data:`HEADERS` order."""
        return [self.label, self.arch, self.init, self.selection, self.contamination, self.seeds]


@dataclass
class Table:
    """A rendered table with its key, fraction columns, rows, footnotes and caption."""

    key: TableKey
    fractions: list[float]
    rows: list[Row]
    notes: list[str]
    cells: list[Cell]
    differences: list[Difference]
    caption: str = ""  # the training budget (and sample size) behind the cells

    @property
    def title(self) -> str:
        """Human title, e.g. ``stemi · synthetic · internal · AUROC``."""
        task, source, split, metric = self.key
        return f"{task} · {source} · {split} · {METRIC_NAMES.get(metric, metric)}"


def format_cell(cell: Cell, digits: int = 2) -> str:
    """``0.86 [0.85–0.87]``, with ``±std`` when there are several seeds, ``‡`` when the
    cell did not converge, ``≡`` when its seeds are identical and ``◊`` when a seed's own
    interval excludes its own value; ``undefined`` when a seed's metric is (PPV without a
    positive call)."""
    if math.isnan(cell.mean):
        return "undefined"
    text = f"{cell.mean:.{digits}f}"
    if len(cell.seeds) > 1:
        text += f" ±{cell.std:.{digits}f}"
    if cell.ci_low is not None and cell.ci_high is not None:
        text += f" [{cell.ci_low:.{digits}f}–{cell.ci_high:.{digits}f}]"
    marks = [
        mark
        for mark, on in (
            (NOT_CONVERGED_MARK, cell.converged is False),
            (IDENTICAL_MARK, cell.identical_seeds),
            (INTERVAL_MARK, bool(cell.interval_flags)),
        )
        if on
    ]
    return text + (" " + "".join(marks) if marks else "")


def format_difference(diff: Difference) -> str:
    """``+12.3 %†`` (the marker only where significant); ``—`` when no relative
    difference exists (both values 0)."""
    if math.isnan(diff.rel_diff_pct):
        return NO_RELATIVE
    return f"{diff.rel_diff_pct:+.1f} %" + (MARKER if diff.significant else "")


def difference_label(diff: Difference, labels: dict[RowKey, str]) -> str:
    """``Δ heartbeit (mim) vs heartbeit (random) [pretraining]`` (no tag for the reference)."""
    tag = "" if diff.kind == "reference" else f" [{diff.kind}]"
    first, second = labels.get(diff.reference, diff.reference[0]), labels.get(diff.row, diff.row[0])
    return f"Δ {first} vs {second}{tag}"


def header(table: Table) -> list[str]:
    """The table's column names: :data:`HEADERS`, then one per fraction."""
    return [*HEADERS, *(fraction_label(f) for f in table.fractions)]


def body(table: Table) -> list[list[str]]:
    """The table's rendered rows."""
    return [
        [*row.identity(), *(row.cells.get(f, "") for f in table.fractions)] for row in table.rows
    ]


CSV_COLUMNS = (
    "task", "source", "split", "metric", "model", "init", "init_label", "protocol", "arch",
    "stand_in", "submitted", "selection", "contamination", "fraction", "mean", "std", "min", "max",
    "ci_low", "ci_high", "ci_method", "seeds", "seed_values", "identical_seeds",
    "interval_flags", "n", "n_positive", "n_params", "weights_hash", "pretraining", "steps",
    "kind", "reference", "reference_init", "reference_protocol", "diff", "rel_diff_pct",
    "significant", "p_value", "p_holm", "seeds_agree", "seed_diffs", "permutation_p",
    "seeds_tested", "note",
)  # fmt: skip
FLOAT_COLUMNS = (
    "mean", "std", "min", "max", "ci_low", "ci_high", "diff", "rel_diff_pct", "p_value",
    "p_holm", "permutation_p",
)  # fmt: skip


def cell_dict(cell: Cell, identity: RowIdentity) -> dict[str, Any]:
    """One cell's data (the CSV line and JSON object of a cell)."""
    return {
        "task": cell.task, "source": cell.source, "split": cell.split, "metric": cell.metric,
        "model": cell.model, "init": cell.init, "init_label": init_text(cell.model, cell.init),
        "protocol": cell.protocol, "arch": cell.arch, "stand_in": cell.stand_in,
        "submitted": cell.submitted,
        "selection": cell.selection, "contamination": cell.contamination,
        "fraction": cell.fraction, "mean": cell.mean, "std": cell.std, "min": cell.min,
        "max": cell.max, "ci_low": cell.ci_low, "ci_high": cell.ci_high,
        "ci_method": cell.ci_method, "seeds": list(cell.seeds),
        "seed_values": {str(s): v for s, v in sorted(cell.seed_values.items())},
        "identical_seeds": cell.identical_seeds, "interval_flags": list(cell.interval_flags),
        "n": cell.n, "n_positive": cell.n_positive, "n_params": identity.n_params,
        "weights_hash": identity.weights_hash, "pretraining": identity.pretraining,
        "steps": cell_steps(cell),
        "run_ids": sorted({item.record.run_id for item in cell.records}),
    }  # fmt: skip


def diff_dict(diff: Difference) -> dict[str, Any]:
    """One difference's data (the CSV line and JSON object of a difference)."""
    absolute = diff.reference_value - diff.value
    return {
        "kind": diff.kind, "model": diff.row[0], "init": diff.row[1],
        "selection": diff.row[2], "arch": diff.row[3], "protocol": diff.row[5],
        "reference": diff.reference[0], "reference_init": diff.reference[1],
        "reference_protocol": diff.reference[5], "fraction": diff.fraction,
        "reference_value": diff.reference_value, "value": diff.value, "diff": absolute,
        "rel_diff_pct": None if math.isnan(diff.rel_diff_pct) else diff.rel_diff_pct,
        "ci_low": diff.ci_low, "ci_high": diff.ci_high, "significant": diff.significant,
        "p_value": diff.p_value, "p_holm": diff.p_holm, "seeds_agree": diff.seeds_agree,
        "seed_diffs": list(diff.seed_diffs), "permutation_p": diff.permutation_p,
        "seeds_tested": list(diff.seeds_tested), "note": diff.note,
    }  # fmt: skip


def _identities(table: Table) -> dict[RowKey, RowIdentity]:
    return {identity.row: identity for identity in row_identities(table.cells)}


def _csv_text(line: dict[str, Any]) -> dict[str, Any]:
    """A cell or difference line with its lists, mappings and floats as CSV text."""
    line["pretraining"] = format_pretraining(line.get("pretraining") or {})
    for name in ("seeds", "seeds_tested"):
        line[name] = " ".join(map(str, line.get(name, ())))
    line["seed_values"] = " ".join(f"{s}:{v:.6g}" for s, v in line.get("seed_values", {}).items())
    line["seed_diffs"] = " ".join(f"{v:.6g}" for v in line.get("seed_diffs", ()))
    line["interval_flags"] = "; ".join(line.get("interval_flags", ()))
    for name in FLOAT_COLUMNS:
        if line.get(name) is not None:
            line[name] = f"{line[name]:.6g}"
    return line


def to_csv(tables: Sequence[Table]) -> str:
    """Long-form CSV: one line per cell (``kind`` = ``cell``), then one per difference
    (``kind`` = the comparison kind, the second row's identity, the first row as
    ``reference``). Per-seed values are ``seed:value`` pairs separated by spaces."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for table in tables:
        task, source, split, metric = table.key
        identities = _identities(table)
        lines = [{"kind": "cell", **cell_dict(c, identities[c.row])} for c in table.cells]
        for diff in table.differences:
            line = {"task": task, "source": source, "split": split, "metric": metric}
            lines.append({**line, **diff_dict(diff)})
        for line in lines:
            writer.writerow(_csv_text(line))
    return out.getvalue()


def table_data(table: Table) -> dict[str, Any]:
    """The aggregated data of one table: key, caption, cells, differences, notes."""
    identities = _identities(table)
    task, source, split, metric = table.key
    return {
        "task": task, "source": source, "split": split, "metric": metric,
        "fractions": table.fractions, "caption": table.caption,
        "cells": [cell_dict(c, identities[c.row]) for c in table.cells],
        "differences": [diff_dict(d) for d in table.differences],
        "notes": table.notes,
    }  # fmt: skip


def to_json(tables: Sequence[Table]) -> str:
    """The aggregated data of every table (:func:`table_data`) as JSON."""
    data = {"tables": [table_data(t) for t in tables]}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
