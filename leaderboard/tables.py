"""Leaderboard tables like the paper's supplementary tables, rendered as md/csv/latex/json.

One table per (task, source, split, metric): rows are models with their protocol (with
their init, epoch selection policy, contamination flag and seeds), columns are training
fractions, cells ``0.86 [0.85–0.87]`` (``0.86 ±0.01 [0.85–0.87]`` over several seeds: mean
±sd over seeds, CI pooled over the seeds' bootstrap replicates). Below the model rows, one
Δ row per comparison (:mod:`bench.leaderboard.paired`: the reference against every other
row, pretraining ablations tagged ``[pretraining]``, configured contrasts ``[contrast]``)
gives the relative difference ``(first − second) / second`` in %, marked ``†`` where it is
significant (:mod:`bench.leaderboard.paired`: the pooled paired CI excludes zero, the
seeds agree in direction, and it survives Holm's correction across the table); its seeds
column lists the seeds tested. Each table's caption states the optimiser steps per cell
(:func:`bench.leaderboard.budget.budget_caption`) and, for a small test set, that it is
small (:func:`bench.leaderboard.seeds.small_sample_caption`). The cell and difference
data, CSV and JSON are in :mod:`bench.leaderboard.tabledata`.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.leaderboard.aggregate import (
    CI_POOLED,
    STAND_IN_NOTE,
    SUBMITTED_NOTE,
    Cell,
    RowKey,
    TableKey,
    cell_labels,
    fraction_label,
)
from bench.leaderboard.budget import budget_caption
from bench.leaderboard.multiplicity import HOLM_NOTE
from bench.leaderboard.names import METRIC_NAMES, init_text
from bench.leaderboard.paired import Difference
from bench.leaderboard.seeds import seed_notes, small_sample_caption
from bench.leaderboard.tabledata import (
    HEADERS,
    MARKER,
    Row,
    Table,
    body,
    difference_label,
    format_cell,
    format_difference,
    header,
    table_data,
    to_csv,
    to_json,
)

__all__ = [
    "HEADERS", "MARKER", "METRIC_NAMES", "RENDERERS", "Table", "build_tables", "format_cell",
    "fraction_label", "table_data", "to_csv", "to_json", "to_latex", "to_markdown",
]  # fmt: skip

OPTIMISTIC = "test (optimistic)"
DIFFERENCE_NOTE = (
    "Δ: relative difference (first − second) / second of the seed means, in % (— when both "
    f"are 0). {MARKER}: significant: the pooled paired 95 % CI of the difference excludes "
    "zero, every seed's own difference has the same sign, and the Holm-adjusted p-value is "
    "below 0.05. The pooled CI is the percentile interval of the paired patient-level "
    "bootstrap differences (both rows on the same resamples of the same test records) of "
    "all seeds tested, concatenated; the seeds column of a Δ row lists those seeds. "
    "[pretraining]: a pretrained init against the same architecture and protocol from "
    "random init; [control]: against the random-init encoder under the linear probe; "
    "[contrast]: a configured contrast of two models."
)
POOLED_NOTE = (
    "[…]: 95 % bootstrap CI pooled over the seeds (percentile interval of all seeds' "
    "patient-level bootstrap replicates, recomputed from the predictions); ±: standard "
    "deviation over seeds; each seed's own value is in the per-seed appendix and the "
    "csv/json seed_values."
)


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
    table.caption = " ".join(
        part for part in (budget_caption(table.cells), small_sample_caption(table.cells)) if part
    )
    rows: dict[RowKey, Row] = {}
    seeds: dict[RowKey, set[int]] = {}
    labels = cell_labels(table.cells)
    for cell in table.cells:
        selection = cell.selection
        row = rows.setdefault(
            cell.row,
            Row(
                labels[cell.row],
                "value",
                cell.arch,
                init_text(cell.model, cell.init),
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
    table.notes.extend(seed_notes(table.cells, labels))
    if table.differences:
        table.notes += [DIFFERENCE_NOTE, HOLM_NOTE]
    untested = dict.fromkeys(d.note for d in table.differences if d.note)
    table.notes.extend(f"not tested: {note}" for note in untested)
    table.notes.extend(_experiment_notes(table.cells, labels))
    if any(c.stand_in for c in table.cells):
        table.notes.append(STAND_IN_NOTE)
    if any(c.submitted for c in table.cells):
        table.notes.append(SUBMITTED_NOTE)
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


# -- renderers ---------------------------------------------------------------------------
def to_markdown(tables: Sequence[Table]) -> str:
    """GitHub-flavoured Markdown: a heading, the caption, a table and footnotes per table."""
    parts = []
    for table in tables:
        names = header(table)
        lines = [f"### {table.title}", ""]
        if table.caption:
            lines += [f"_{table.caption}_", ""]
        lines.append("| " + " | ".join(names) + " |")
        lines.append("|" + "|".join(["---"] * len(HEADERS) + ["--:"] * len(table.fractions)) + "|")
        lines += ["| " + " | ".join(cells) + " |" for cells in body(table)]
        if table.notes:
            lines += [""] + [f"- {note}" for note in table.notes]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "–": "--", "±": r"$\pm$", MARKER: r"\textdagger{}", "Δ": r"$\Delta$", "⚠ ": "",
    "·": "/", "≡": r"$\equiv$", "◊": r"$\lozenge$", "§": r"\S{}", "—": "---", "‡": r"\ddag{}",
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
        names = [latex_escape(h) for h in header(table)]
        lines = [
            r"\begin{table}[ht]",
            r"\centering",
            rf"\caption{{{latex_escape(table.title)}}}",
            *([rf"\par\footnotesize {latex_escape(table.caption)}"] if table.caption else []),
            r"\begin{tabular}{" + "l" * len(HEADERS) + "r" * len(table.fractions) + "}",
            r"\toprule",
            " & ".join(names) + r" \\",
            r"\midrule",
        ]
        previous = "value"
        for row, cells in zip(table.rows, body(table), strict=True):
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
