"""One self-contained static HTML page: findings, rows, tables with their learning curves and
per-label drill-down, figures.

Nothing is fetched: CSS and JavaScript are inline, each table's learning curves are inline
SVG (:func:`bench.leaderboard.curves.curves_svg`: seed mean, min–max seed band, CI whiskers)
and the other figures (differences, saliency) are base64 PNG. A multi-label table gets a
collapsed per-label drill-down: per row, every label's value per fraction, summarised over
seeds as the table summarises the macro value. The inline script sorts: click a header to
sort that table's model rows (difference rows stay in their own block), and
``page.html?sort=COL`` or ``?sort=COL:desc`` sorts every table on load (links, tests). When
it has run, it sets ``data-ready="1"`` on ``<html>`` (a loaded page without it had a
script error).
"""

from __future__ import annotations

import base64
import re
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from html import escape
from pathlib import Path

from bench.leaderboard.aggregate import Cell, RowKey, SourcedRecord, cell_labels, summarise
from bench.leaderboard.curves import BAND_NOTE, bounded, curves_svg, learning_curves
from bench.leaderboard.findings import INTRO, Findings
from bench.leaderboard.identity import ROW_HEADERS, RowIdentity
from bench.leaderboard.mdhtml import markdown_html
from bench.leaderboard.report import Leaderboard
from bench.leaderboard.tables import HEADERS, METRIC_NAMES, Table, format_cell, fraction_label

#: Figure stems the page leaves out: its tables carry their learning curves as inline SVG.
CURVES_PREFIX = "curves_"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th { cursor: pointer; background: #f3f4f6; user-select: none; }
th[aria-sort="ascending"]::after { content: " ▲"; }
th[aria-sort="descending"]::after { content: " ▼"; }
tbody.diff td { color: #555; font-style: italic; }
ul.notes { font-size: 13px; color: #555; }
figure { margin: 1em 0; } figure img { max-width: 100%; }
figure.curves figcaption { font-size: 13px; color: #555; }
svg.curves { max-width: 100%; height: auto; font-size: 11px; }
svg.curves text { fill: #444; }
ul.legend { list-style: none; padding: 0; margin: 0; font-size: 13px; }
ul.legend li { display: inline-block; margin-right: 1.2em; }
span.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px;
  vertical-align: middle; border-radius: 2px; }
details.per-label { margin: 0.5em 0 1.5em; }
details.per-label-row { margin-left: 1.5em; }
"""

SCRIPT = """
function cellKey(td) {
  const v = td.dataset.value;
  return v === undefined ? td.textContent.trim().toLowerCase() : parseFloat(v);
}
function compare(a, b) {
  const aEmpty = a === "" || Number.isNaN(a), bEmpty = b === "" || Number.isNaN(b);
  if (aEmpty || bEmpty) return aEmpty - bEmpty;
  return a < b ? -1 : a > b ? 1 : 0;
}
function sortTable(table, col, desc) {
  const header = table.tHead.rows[0].cells;
  if (!(col >= 0 && col < header.length)) return;  // a narrower table (per-label)
  for (const body of table.tBodies) {
    const rows = Array.from(body.rows);
    rows.sort((r, s) => (desc ? -1 : 1) * compare(cellKey(r.cells[col]), cellKey(s.cells[col])));
    rows.forEach((r) => body.appendChild(r));
  }
  table.querySelectorAll("th").forEach((th) => th.removeAttribute("aria-sort"));
  header[col].setAttribute("aria-sort", desc ? "descending" : "ascending");
  table.dataset.sortedBy = col + (desc ? ":desc" : ":asc");
}
document.querySelectorAll("table.sortable").forEach((table) => {
  Array.from(table.tHead.rows[0].cells).forEach((th, col) => {
    th.addEventListener("click", () =>
      sortTable(table, col, th.getAttribute("aria-sort") === "ascending"));
  });
});
const requested = new URLSearchParams(location.search).get("sort");
if (requested) {
  const [col, order] = requested.split(":");
  document.querySelectorAll("table.sortable").forEach((t) =>
    sortTable(t, parseInt(col, 10), order === "desc"));
}
document.documentElement.dataset.ready = "1";
"""


def _number_td(text: str, number: float | None) -> str:
    """A right-aligned cell whose ``data-value`` (the sort key) is ``number``."""
    value = "" if number is None else f"{number:.6g}"
    return f'<td class="num" data-value="{value}">{escape(text)}</td>'


def table_html(table: Table, index: int) -> str:
    """One ``<table class="sortable">`` with its heading, notes, learning curves and (for
    a multi-label table) per-label drill-down."""
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADERS)
    head += "".join(f"<th>{escape(fraction_label(f))}</th>" for f in table.fractions)
    bodies = []
    for kind in ("value", "difference"):
        rows = [r for r in table.rows if r.kind == kind]
        if not rows:
            continue
        lines = []
        for row in rows:
            tds = "".join(f"<td>{escape(v)}</td>" for v in row.identity())
            tds += "".join(
                _number_td(row.cells.get(f, ""), row.values.get(f)) for f in table.fractions
            )
            lines.append(f"<tr>{tds}</tr>")
        css = ' class="diff"' if kind == "difference" else ""
        bodies.append(f"<tbody{css}>" + "".join(lines) + "</tbody>")
    notes = "".join(f"<li>{escape(n)}</li>" for n in table.notes)
    return (
        f'<section><h3 id="table-{index}">{escape(table.title)}</h3>'
        f'<table class="sortable" id="t{index}"><thead><tr>{head}</tr></thead>'
        + "".join(bodies)
        + "</table>"
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
        + curves_html(table)
        + per_label_html(table)
        + "</section>"
    )


def curves_html(table: Table) -> str:
    """The table's learning curves as an inline SVG figure with its legend and caption."""
    metric = table.key[3]
    name = METRIC_NAMES.get(metric, metric)
    svg = curves_svg(learning_curves(table.cells), name, table.title, bounded(metric))
    if not svg:
        return ""
    return f'<figure class="curves">{svg}<figcaption>{escape(BAND_NOTE)}</figcaption></figure>'


def label_cells(cell: Cell) -> dict[str, Cell]:
    """Per label of a multi-label cell, its seeds summarised as the table summarises the
    macro value (from each record's ``details["per_label"]``); a label with no value on
    any seed (one class only) is left out, ``{}`` for a binary cell."""
    items: dict[str, list[SourcedRecord]] = defaultdict(list)
    for item in cell.records:
        for label, entry in (item.record.details.get("per_label") or {}).items():
            if entry.get("value") is None:
                continue
            record = replace(
                item.record,
                value=float(entry["value"]),
                ci_low=entry.get("ci_low"),
                ci_high=entry.get("ci_high"),
                n_positive=int(entry.get("n_positive", 0)),
            )
            items[label].append(SourcedRecord(record, item.base))
    return {label: summarise(group) for label, group in items.items()}


def _label_positives(cells: Sequence[Cell]) -> dict[str, int]:
    """Every label named in the cells' records, with its positives in the evaluation set."""
    positives: dict[str, int] = {}
    for cell in cells:
        for item in cell.records:
            for label, entry in (item.record.details.get("per_label") or {}).items():
                positives.setdefault(label, int(entry.get("n_positive", 0)))
    return positives


def per_label_html(table: Table) -> str:
    """A collapsed drill-down of a multi-label table: one ``<details>`` per row listing
    every label's value per fraction (mean ±sd over seeds [mean of the seeds' CI bounds])
    and its positives; "" for a binary table."""
    positives = _label_positives(table.cells)
    if not positives:
        return ""
    names = cell_labels(table.cells)
    by_row: dict[RowKey, dict[float, dict[str, Cell]]] = defaultdict(dict)
    for cell in table.cells:
        by_row[cell.row][cell.fraction] = label_cells(cell)
    head = "<th>label</th><th>positives</th>"
    head += "".join(f"<th>{escape(fraction_label(f))}</th>" for f in table.fractions)
    rows = []
    for row, name in names.items():
        lines = []
        for label in sorted(positives):
            tds = f"<td>{escape(label)}</td>" + _number_td(str(positives[label]), positives[label])
            for fraction in table.fractions:
                got = by_row[row].get(fraction, {}).get(label)
                tds += (
                    _number_td("", None) if got is None else _number_td(format_cell(got), got.mean)
                )
            lines.append(f"<tr>{tds}</tr>")
        rows.append(
            f'<details class="per-label-row" data-row="{escape(name)}"><summary>{escape(name)}'
            f'</summary><table class="sortable"><thead><tr>{head}</tr></thead><tbody>'
            + "".join(lines)
            + "</tbody></table></details>"
        )
    return (
        f'<details class="per-label"><summary>Per-label values ({len(positives)} labels; '
        "the table shows their macro mean)</summary>" + "".join(rows) + "</details>"
    )


def _text(markdown: str) -> str:
    """Escaped text with Markdown ```code``` spans as ``<code>``."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(markdown))


def findings_html(findings: Findings) -> str:
    """The generated Findings section: per task, its sentences."""
    name = METRIC_NAMES.get(findings.metric, findings.metric)
    parts = [f"<h2>Findings</h2><p>{_text(INTRO.format(metric=name))}</p>"]
    if not findings.tasks:
        parts.append(f"<p>No paired comparisons in the {escape(name)} tables.</p>")
    for task in findings.tasks:
        items = "".join(f"<li>{_text(s)}</li>" for s in findings.sentences(task))
        parts.append(f'<h3>{escape(task)}</h3><ul class="findings">{items}</ul>')
    return '<section id="findings">' + "".join(parts) + "</section>"


def rows_html(rows: Sequence[RowIdentity], caption: str = "") -> str:
    """The Rows section: the profile caption, then each row's identity."""
    head = "".join(f"<th>{escape(h)}</th>" for h in ROW_HEADERS)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row.columns()) + "</tr>" for row in rows
    )
    return (
        '<section id="rows"><h2>Rows</h2>'
        + (f'<p class="caption">{_text(caption)}</p>' if caption else "")
        + f'<table class="sortable rows"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
        "</table></section>"
    )


def figure_html(png: Path) -> str:
    """An ``<img>`` with the PNG inlined as base64."""
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{escape(png.stem)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(png.stem)}</figcaption></figure>"
    )


def render_html(
    tables: Sequence[Table],
    figures: Sequence[Path],
    header: str = "",
    preface: str = "",
    appendix: str = "",
) -> str:
    """The complete page: ``preface`` (HTML sections), the tables with their curves,
    ``appendix`` (HTML sections), then the PNG figures among ``figures`` (learning-curve
    figures, ``curves_*``, are left out: the tables draw them inline)."""
    sections = "".join(table_html(t, i) for i, t in enumerate(tables))
    images = "".join(
        figure_html(p)
        for p in figures
        if p.suffix == ".png" and not p.stem.startswith(CURVES_PREFIX)
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>ECG Bench leaderboard</title>"
        f"<style>{STYLE}</style></head><body><h1>ECG Bench leaderboard</h1>"
        + (f'<p class="header">{_text(header)}</p>' if header else "")
        + preface
        + '<h2 id="tables">Tables</h2>'
        + sections
        + appendix
        + (f"<h2>Figures</h2>{images}" if images else "")
        + f"<script>{SCRIPT}</script></body></html>\n"
    )


def claims_html(board: Leaderboard) -> str:
    """The "Does the paper hold here?" section: each claim, its verdict, its numbers, then
    the board's known limits."""
    items = []
    for claim in board.claims:
        why = f" ({_text(claim.reason)}.)" if claim.reason else ""
        evidence = "".join(f"<li>{_text(e)}</li>" for e in claim.evidence)
        items.append(
            f'<li data-verdict="{escape(claim.verdict)}"><strong>{_text(claim.claim)}: '
            f"{escape(claim.verdict)}.</strong>{why}<ul>{evidence}</ul></li>"
        )
    limits = "".join(f"<li>{_text(x)}</li>" for x in board.limits)
    return (
        '<section id="paper-claims"><h2>Does the paper hold here?</h2>'
        f"<ol>{''.join(items)}</ol>"
        + (f"<p>Known limits of this board:</p><ul>{limits}</ul>" if limits else "")
        + "</section>"
    )


def board_html(board: Leaderboard, figures: Sequence[Path], header: str = "") -> str:
    """The page of a leaderboard: the paper's claims, findings, the rows' identities, the
    tables, ``figures``."""
    preface = (
        claims_html(board) + findings_html(board.findings) + rows_html(board.rows, board.caption)
    )
    appendix = f'<section id="appendix">{markdown_html(board.appendix_markdown())}</section>'
    return render_html(board.tables, figures, header, preface, appendix)


def write_html(
    board: Leaderboard,
    path: Path | str,
    header: str = "",
    figures: Sequence[Path] | None = None,
) -> Path:
    """Write ``board``'s page (:func:`board_html`) to ``path`` and return it.

    ``figures``: the PNGs to embed (e.g. those :meth:`Leaderboard.plot` just wrote); by
    default the board's figures are drawn into a scratch directory.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        drawn = board.plot(Path(scratch)) if figures is None else figures
        path.write_text(board_html(board, drawn, header), encoding="utf-8")
    return path
