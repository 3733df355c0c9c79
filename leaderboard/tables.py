"""Leaderboard tables like the paper's supplementary tables, rendered as md/csv/latex/json.

One table per (task, source, split, metric): rows are models (with their init, epoch
selection policy, contamination flag and seeds), columns are training fractions, cells
``0.86 [0.85–0.87]`` (``0.86 ±0.01 [0.85–0.87]`` over several seeds). Below the model
rows, one row per other model gives the reference's relative difference
``(ref − other) / other`` in %, marked ``†`` where the paired bootstrap CI excludes zero.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.leaderboard.aggregate import Cell, RowKey, TableKey, row_labels
from bench.leaderboard.paired import Difference

MARKER = "†"
OPTIMISTIC = "test (optimistic)"
HEADERS = ("model", "arch", "init", "selection", "contamination", "seeds")
METRIC_NAMES = {"auroc": "AUROC", "auprc": "AUPRC"}


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
    """A rendered table with its key, fraction columns, rows and footnotes."""

    key: TableKey
    fractions: list[float]
    rows: list[Row]
    notes: list[str]
    cells: list[Cell]
    differences: list[Difference]

    @property
    def title(self) -> str:
        """Human title, e.g. ``stemi · synthetic · internal · AUROC``."""
        task, source, split, metric = self.key
        return f"{task} · {source} · {split} · {METRIC_NAMES.get(metric, metric)}"


def fraction_label(fraction: float) -> str:
    """``0.01`` → ``1 %``."""
    return f"{fraction * 100:g} %"


def format_cell(cell: Cell, digits: int = 2) -> str:
    """``0.86 [0.85–0.87]``, with ``±std`` when there are several seeds."""
    text = f"{cell.mean:.{digits}f}"
    if len(cell.seeds) > 1:
        text += f" ±{cell.std:.{digits}f}"
    if cell.ci_low is not None and cell.ci_high is not None:
        text += f" [{cell.ci_low:.{digits}f}–{cell.ci_high:.{digits}f}]"
    return text


def format_difference(diff: Difference) -> str:
    """``+12.3 %†`` (the marker only where the paired CI excludes zero)."""
    return f"{diff.rel_diff_pct:+.1f} %" + (MARKER if diff.significant else "")


def build_tables(cells: Sequence[Cell], diffs: Sequence[Difference]) -> list[Table]:
    """Group cells and differences into tables, in sorted table order."""
    tables: dict[TableKey, Table] = {}
    for cell in cells:
        table = tables.setdefault(cell.table, Table(cell.table, [], [], [], [], []))
        table.cells.append(cell)
    for diff in diffs:
        tables[diff.table].differences.append(diff)
    for table in tables.values():
        _fill(table)
    return [tables[key] for key in sorted(tables)]


def _fill(table: Table) -> None:
    table.fractions = sorted({c.fraction for c in table.cells})
    rows: dict[RowKey, Row] = {}
    seeds: dict[RowKey, set[int]] = {}
    labels = row_labels(c.row for c in table.cells)
    for cell in table.cells:
        selection = cell.selection
        row = rows.setdefault(
            cell.row,
            Row(
                labels[cell.row],
                "value",
                cell.arch,
                cell.init,
                "⚠ " + selection if selection == OPTIMISTIC else selection,
            ),
        )
        row.cells[cell.fraction] = format_cell(cell)
        row.values[cell.fraction] = cell.mean
        row.contamination = "yes" if cell.contamination else row.contamination
        seeds.setdefault(cell.row, set()).update(cell.seeds)
    for key, row in rows.items():
        row.seeds = ",".join(map(str, sorted(seeds[key])))
    table.rows = list(rows.values())
    diff_rows: dict[RowKey, Row] = {}
    notes: list[str] = []
    for diff in table.differences:
        ref, other = diff.reference, diff.row
        label = f"Δ {labels.get(ref, ref[0])} vs {labels.get(other, other[0])}"
        row = diff_rows.setdefault(other, Row(label, "difference"))
        row.cells[diff.fraction] = format_difference(diff)
        row.values[diff.fraction] = diff.rel_diff_pct
        if diff.note and diff.note not in notes:
            notes.append(diff.note)
    table.rows.extend(diff_rows.values())
    if diff_rows:
        table.notes.append(
            "Δ: relative difference (reference − other) / other in %; "
            f"{MARKER}: paired patient-level bootstrap 95 % CI of the difference excludes zero."
        )
    table.notes.extend(f"not tested: {note}" for note in notes)
    table.notes.extend(_experiment_notes(table.cells, labels))
    if any(c.selection == OPTIMISTIC for c in table.cells):
        table.notes.append("⚠ test (optimistic): epoch selected on the test set, as the paper did.")


def _experiment_notes(cells: Sequence[Cell], labels: dict[RowKey, str]) -> list[str]:
    """A note for every model name that stands for several experiments, naming their runs."""
    runs: dict[RowKey, set[str]] = {}
    for cell in cells:
        runs.setdefault(cell.row, set()).update(cell.runs)
    by_model: dict[str, list[RowKey]] = {}
    for row in sorted(runs):
        by_model.setdefault(row[0], []).append(row)
    return [
        f"{model}: {len(rows)} different experiments, kept apart: "
        + "; ".join(
            f"{labels[row]} = experiment {row[4][:12] or 'unknown'} (runs {', '.join(sorted(runs[row]))})"
            for row in rows
        )
        for model, rows in by_model.items()
        if len({row[4] for row in rows}) > 1
    ]


def _header(table: Table) -> list[str]:
    return [*HEADERS, *(fraction_label(f) for f in table.fractions)]


def _body(table: Table) -> list[list[str]]:
    return [
        [*row.identity(), *(row.cells.get(f, "") for f in table.fractions)] for row in table.rows
    ]


# -- renderers ---------------------------------------------------------------------------
def to_markdown(tables: Sequence[Table]) -> str:
    """GitHub-flavoured Markdown: a heading, a table and footnotes per table."""
    parts = []
    for table in tables:
        header = _header(table)
        lines = [f"### {table.title}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "|".join(["---"] * len(HEADERS) + ["--:"] * len(table.fractions)) + "|")
        lines += ["| " + " | ".join(cells) + " |" for cells in _body(table)]
        if table.notes:
            lines += [""] + [f"- {note}" for note in table.notes]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


CSV_COLUMNS = (
    "task", "source", "split", "metric", "model", "init", "selection", "contamination",
    "fraction", "mean", "std", "min", "max", "ci_low", "ci_high", "seeds", "n", "n_positive",
    "reference", "rel_diff_pct", "significant", "p_value",
)  # fmt: skip


def _cell_dict(cell: Cell) -> dict[str, Any]:
    return {
        "task": cell.task, "source": cell.source, "split": cell.split, "metric": cell.metric,
        "model": cell.model, "init": cell.init, "selection": cell.selection,
        "contamination": cell.contamination, "fraction": cell.fraction, "mean": cell.mean,
        "std": cell.std, "min": cell.min, "max": cell.max, "ci_low": cell.ci_low,
        "ci_high": cell.ci_high, "seeds": list(cell.seeds), "n": cell.n,
        "n_positive": cell.n_positive,
        "run_ids": sorted({item.record.run_id for item in cell.records}),
    }  # fmt: skip


def _diff_dict(diff: Difference) -> dict[str, Any]:
    return {
        "model": diff.row[0], "init": diff.row[1], "selection": diff.row[2],
        "reference": diff.reference[0], "reference_init": diff.reference[1],
        "fraction": diff.fraction, "rel_diff_pct": diff.rel_diff_pct,
        "significant": diff.significant, "p_value": diff.p_value,
        "seeds_tested": list(diff.seeds_tested), "note": diff.note,
    }  # fmt: skip


def to_csv(tables: Sequence[Table]) -> str:
    """Long-form CSV, one line per cell, with the difference to the reference."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for table in tables:
        diffs = {(d.row, d.fraction): d for d in table.differences}
        for cell in table.cells:
            row = _cell_dict(cell)
            row["seeds"] = " ".join(map(str, cell.seeds))
            diff = diffs.get((cell.row, cell.fraction))
            if diff is not None:
                row.update(
                    reference=diff.reference[0],
                    rel_diff_pct=f"{diff.rel_diff_pct:.6g}",
                    significant="" if diff.significant is None else diff.significant,
                    p_value="" if diff.p_value is None else f"{diff.p_value:.6g}",
                )
            for name in ("mean", "std", "min", "max", "ci_low", "ci_high"):
                if row[name] is not None:
                    row[name] = f"{row[name]:.6g}"
            writer.writerow(row)
    return out.getvalue()


def to_json(tables: Sequence[Table]) -> str:
    """The aggregated data (cells, differences, notes) of every table as JSON."""
    data = [
        {
            "task": t.key[0],
            "source": t.key[1],
            "split": t.key[2],
            "metric": t.key[3],
            "fractions": t.fractions,
            "cells": [_cell_dict(c) for c in t.cells],
            "differences": [_diff_dict(d) for d in t.differences],
            "notes": t.notes,
        }
        for t in tables
    ]
    return json.dumps({"tables": data}, indent=2, ensure_ascii=False) + "\n"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "–": "--", "±": r"$\pm$", MARKER: r"\textdagger{}", "Δ": r"$\Delta$", "⚠ ": "",
    "·": "/",
}  # fmt: skip


def latex_escape(text: str) -> str:
    """Escape LaTeX specials and map the few non-ASCII symbols the tables use."""
    for old, new in _LATEX_ESCAPES.items():
        text = text.replace(old, new)
    return text


def to_latex(tables: Sequence[Table]) -> str:
    """booktabs tables (``\\usepackage{booktabs}``), one ``table`` environment each."""
    parts = []
    for table in tables:
        header = [latex_escape(h) for h in _header(table)]
        lines = [
            r"\begin{table}[ht]",
            r"\centering",
            rf"\caption{{{latex_escape(table.title)}}}",
            r"\begin{tabular}{" + "l" * len(HEADERS) + "r" * len(table.fractions) + "}",
            r"\toprule",
            " & ".join(header) + r" \\",
            r"\midrule",
        ]
        previous = "value"
        for row, cells in zip(table.rows, _body(table), strict=True):
            if row.kind != previous:
                lines.append(r"\midrule")
                previous = row.kind
            lines.append(" & ".join(latex_escape(c) for c in cells) + r" \\")
        lines.append(r"\bottomrule")
        lines.append(r"\end{tabular}")
        lines += [rf"\par\footnotesize {latex_escape(note)}" for note in table.notes]
        lines.append(r"\end{table}")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


RENDERERS = {"md": to_markdown, "csv": to_csv, "latex": to_latex, "json": to_json}
