"""Leaderboard tables like the paper's supplementary tables, rendered as md/csv/latex/json.

One table per (task, source, split, metric): rows are models with their protocol (with
their init, epoch selection policy, contamination flag and seeds), columns are training
fractions, cells ``0.86 [0.85–0.87]`` (``0.86 ±0.01 [0.85–0.87]`` over several seeds: mean
±sd over seeds, CI pooled over the seeds' bootstrap replicates). Below the model rows, one
Δ row per comparison (:mod:`bench.leaderboard.paired`: the reference against every other
row, pretraining ablations tagged ``[pretraining]``, configured contrasts ``[contrast]``)
gives the relative difference ``(first − second) / second`` in %, marked ``†`` where the
paired bootstrap CI excludes zero on every seed tested; its seeds column lists those
seeds. Each table's caption states the optimiser steps per cell
(:func:`bench.leaderboard.budget.budget_caption`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.leaderboard.aggregate import (
    CI_POOLED,
    Cell,
    RowKey,
    TableKey,
    fraction_label,
    row_labels,
)
from bench.leaderboard.budget import NOT_CONVERGED_MARK, budget_caption, cell_steps
from bench.leaderboard.identity import RowIdentity, format_pretraining, row_identities
from bench.leaderboard.paired import Difference

MARKER = "†"
OPTIMISTIC = "test (optimistic)"
HEADERS = ("model", "arch", "init", "selection", "contamination", "seeds")
METRIC_NAMES = {"auroc": "AUROC", "auprc": "AUPRC"}
DIFFERENCE_NOTE = (
    "Δ: relative difference (first − second) / second of the seed means, in %; "
    f"{MARKER}: the paired patient-level bootstrap 95 % CI of the difference excludes zero "
    "on every seed tested, on the same side (the seeds column of a Δ row lists the seeds "
    "tested). [pretraining]: a pretrained init against the same architecture and protocol "
    "from random init; [contrast]: a configured contrast of two models."
)
POOLED_NOTE = (
    "[…]: 95 % bootstrap CI pooled over the seeds (percentile interval of all seeds' "
    "patient-level bootstrap replicates, recomputed from the predictions); ±: standard "
    "deviation over seeds."
)


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
    caption: str = ""  # the training budget behind the cells

    @property
    def title(self) -> str:
        """Human title, e.g. ``stemi · synthetic · internal · AUROC``."""
        task, source, split, metric = self.key
        return f"{task} · {source} · {split} · {METRIC_NAMES.get(metric, metric)}"


def format_cell(cell: Cell, digits: int = 2) -> str:
    """``0.86 [0.85–0.87]``, with ``±std`` when there are several seeds and ``‡`` when the
    cell did not converge under its stopping rule."""
    text = f"{cell.mean:.{digits}f}"
    if len(cell.seeds) > 1:
        text += f" ±{cell.std:.{digits}f}"
    if cell.ci_low is not None and cell.ci_high is not None:
        text += f" [{cell.ci_low:.{digits}f}–{cell.ci_high:.{digits}f}]"
    if cell.converged is False:
        text += f" {NOT_CONVERGED_MARK}"
    return text


def format_difference(diff: Difference) -> str:
    """``+12.3 %†`` (the marker only where the paired CI excludes zero)."""
    return f"{diff.rel_diff_pct:+.1f} %" + (MARKER if diff.significant else "")


def difference_label(diff: Difference, labels: dict[RowKey, str]) -> str:
    """``Δ heartbeit (mim) vs heartbeit (random) [pretraining]`` (no tag for the reference)."""
    tag = "" if diff.kind == "reference" else f" [{diff.kind}]"
    first, second = labels.get(diff.reference, diff.reference[0]), labels.get(diff.row, diff.row[0])
    return f"Δ {first} vs {second}{tag}"


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
    table.caption = budget_caption(table.cells)
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
    table.rows.extend(_difference_rows(table.differences, labels))
    table.notes.extend(_ci_notes(table.cells, labels))
    if table.differences:
        table.notes.append(DIFFERENCE_NOTE)
    untested = dict.fromkeys(d.note for d in table.differences if d.note)
    table.notes.extend(f"not tested: {note}" for note in untested)
    table.notes.extend(_experiment_notes(table.cells, labels))
    if any(c.selection == OPTIMISTIC for c in table.cells):
        table.notes.append("⚠ test (optimistic): epoch selected on the test set, as the paper did.")


def _difference_rows(diffs: Sequence[Difference], labels: dict[RowKey, str]) -> list[Row]:
    """One Δ row per compared pair; its seeds column lists the seeds tested."""
    rows: dict[tuple[RowKey, RowKey], Row] = {}
    tested: dict[tuple[RowKey, RowKey], set[int]] = {}
    for diff in diffs:
        pair = (diff.reference, diff.row)
        row = rows.setdefault(pair, Row(difference_label(diff, labels), "difference"))
        row.cells[diff.fraction] = format_difference(diff)
        row.values[diff.fraction] = diff.rel_diff_pct
        tested.setdefault(pair, set()).update(diff.seeds_tested)
    for pair, row in rows.items():
        row.seeds = ",".join(map(str, sorted(tested[pair])))
    return list(rows.values())


def _ci_notes(cells: Sequence[Cell], labels: dict[RowKey, str]) -> list[str]:
    """What the bracketed CIs are: pooled over seeds, or (per row) the mean of the seeds'
    bounds with the reason they could not be pooled."""
    notes = [POOLED_NOTE] if any(c.ci_method == CI_POOLED for c in cells) else []
    fallback: dict[RowKey, list[Cell]] = {}
    for cell in cells:
        if cell.ci_method != CI_POOLED and cell.ci_low is not None:
            fallback.setdefault(cell.row, []).append(cell)
    for row, group in fallback.items():
        where = ", ".join(fraction_label(c.fraction) for c in group)
        reason = group[0].ci_note or "not recomputed"
        notes.append(
            f"[…] of {labels[row]} ({where}): mean of the per-seed CI bounds, not pooled "
            f"({reason})."
        )
    return notes


def _experiment_notes(cells: Sequence[Cell], labels: dict[RowKey, str]) -> list[str]:
    """A note for every model, init and protocol that stands for several experiments,
    naming their runs."""
    runs: dict[RowKey, set[str]] = {}
    for cell in cells:
        runs.setdefault(cell.row, set()).update(cell.runs)
    by_name: dict[tuple[str, str, str], list[RowKey]] = {}
    for row in sorted(runs):
        by_name.setdefault((row[0], row[1], row[5]), []).append(row)
    return [
        f"{model} ({init}, {protocol}): {len(rows)} different experiments, kept apart: "
        + "; ".join(
            f"{labels[row]} = experiment {row[4][:12] or 'unknown'} (runs {', '.join(sorted(runs[row]))})"
            for row in rows
        )
        for (model, init, protocol), rows in by_name.items()
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
    """GitHub-flavoured Markdown: a heading, the caption, a table and footnotes per table."""
    parts = []
    for table in tables:
        header = _header(table)
        lines = [f"### {table.title}", ""]
        if table.caption:
            lines += [f"_{table.caption}_", ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---"] * len(HEADERS) + ["--:"] * len(table.fractions)) + "|")
        lines += ["| " + " | ".join(cells) + " |" for cells in _body(table)]
        if table.notes:
            lines += [""] + [f"- {note}" for note in table.notes]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


CSV_COLUMNS = (
    "task", "source", "split", "metric", "model", "init", "protocol", "arch", "selection",
    "contamination", "fraction", "mean", "std", "min", "max", "ci_low", "ci_high", "ci_method",
    "seeds", "n", "n_positive", "n_params", "weights_hash", "pretraining", "steps", "kind",
    "reference", "reference_init", "reference_protocol", "rel_diff_pct", "significant",
    "p_value", "permutation_p", "seeds_tested", "note",
)  # fmt: skip
FLOAT_COLUMNS = (
    "mean", "std", "min", "max", "ci_low", "ci_high", "rel_diff_pct", "p_value", "permutation_p",
)  # fmt: skip


def _cell_dict(cell: Cell, identity: RowIdentity) -> dict[str, Any]:
    return {
        "task": cell.task, "source": cell.source, "split": cell.split, "metric": cell.metric,
        "model": cell.model, "init": cell.init, "protocol": cell.protocol, "arch": cell.arch,
        "selection": cell.selection, "contamination": cell.contamination,
        "fraction": cell.fraction, "mean": cell.mean, "std": cell.std, "min": cell.min,
        "max": cell.max, "ci_low": cell.ci_low, "ci_high": cell.ci_high,
        "ci_method": cell.ci_method, "seeds": list(cell.seeds), "n": cell.n,
        "n_positive": cell.n_positive, "n_params": identity.n_params,
        "weights_hash": identity.weights_hash, "pretraining": identity.pretraining,
        "steps": cell_steps(cell),
        "run_ids": sorted({item.record.run_id for item in cell.records}),
    }  # fmt: skip


def _diff_dict(diff: Difference) -> dict[str, Any]:
    return {
        "kind": diff.kind, "model": diff.row[0], "init": diff.row[1],
        "selection": diff.row[2], "arch": diff.row[3], "protocol": diff.row[5],
        "reference": diff.reference[0], "reference_init": diff.reference[1],
        "reference_protocol": diff.reference[5], "fraction": diff.fraction,
        "reference_value": diff.reference_value, "value": diff.value,
        "rel_diff_pct": diff.rel_diff_pct, "significant": diff.significant,
        "p_value": diff.p_value, "permutation_p": diff.permutation_p,
        "seeds_tested": list(diff.seeds_tested), "note": diff.note,
    }  # fmt: skip


def _identities(table: Table) -> dict[RowKey, RowIdentity]:
    return {identity.row: identity for identity in row_identities(table.cells)}


def to_csv(tables: Sequence[Table]) -> str:
    """Long-form CSV: one line per cell (``kind`` = ``cell``), then one per difference
    (``kind`` = the comparison kind, the second row's identity, the first row as
    ``reference``)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for table in tables:
        task, source, split, metric = table.key
        identities = _identities(table)
        lines = [{"kind": "cell", **_cell_dict(c, identities[c.row])} for c in table.cells]
        for diff in table.differences:
            line = {"task": task, "source": source, "split": split, "metric": metric}
            lines.append({**line, **_diff_dict(diff)})
        for line in lines:
            line["pretraining"] = format_pretraining(line.get("pretraining") or {})
            for name in ("seeds", "seeds_tested"):
                line[name] = " ".join(map(str, line.get(name, ())))
            for name in FLOAT_COLUMNS:
                if line.get(name) is not None:
                    line[name] = f"{line[name]:.6g}"
            writer.writerow(line)
    return out.getvalue()


def table_data(table: Table) -> dict[str, Any]:
    """The aggregated data of one table: key, caption, cells, differences, notes."""
    identities = _identities(table)
    task, source, split, metric = table.key
    return {
        "task": task, "source": source, "split": split, "metric": metric,
        "fractions": table.fractions, "caption": table.caption,
        "cells": [_cell_dict(c, identities[c.row]) for c in table.cells],
        "differences": [_diff_dict(d) for d in table.differences],
        "notes": table.notes,
    }  # fmt: skip


def to_json(tables: Sequence[Table]) -> str:
    """The aggregated data of every table (:func:`table_data`) as JSON."""
    data = {"tables": [table_data(t) for t in tables]}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


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
            *([rf"\par\footnotesize {latex_escape(table.caption)}"] if table.caption else []),
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
