"""One self-contained static HTML page: tables (sortable) and figures, no external assets.

Figures are inlined as base64 PNG; sorting is a few lines of inline JavaScript: click a
header to sort that table's model rows (difference rows stay in their own block), and
``page.html?sort=COL`` or ``?sort=COL:desc`` sorts every table on load (links, tests).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape
from pathlib import Path

from bench.leaderboard.aggregate import row_labels
from bench.leaderboard.tables import HEADERS, Table, fraction_label

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
  for (const body of table.tBodies) {
    const rows = Array.from(body.rows);
    rows.sort((r, s) => (desc ? -1 : 1) * compare(cellKey(r.cells[col]), cellKey(s.cells[col])));
    rows.forEach((r) => body.appendChild(r));
  }
  table.querySelectorAll("th").forEach((th, i) => th.removeAttribute("aria-sort"));
  table.tHead.rows[0].cells[col].setAttribute("aria-sort", desc ? "descending" : "ascending");
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
"""


def table_html(table: Table, index: int) -> str:
    """One ``<table class="sortable">`` with its heading and notes."""
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
            for fraction in table.fractions:
                number = row.values.get(fraction)
                value = "" if number is None else f"{number:.6g}"
                tds += f'<td class="num" data-value="{value}">{escape(row.cells.get(fraction, ""))}</td>'
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
        + per_label_html(table)
        + "</section>"
    )


def per_label_html(table: Table) -> str:
    """A collapsed drill-down of a multi-label table: every label's value (mean over seeds)
    per row and fraction, from the records' ``details["per_label"]``; "" for binary tables."""
    names = row_labels(c.row for c in table.cells)
    columns: dict[str, dict[str, list[float]]] = {}
    positives: dict[str, int] = {}
    for cell in sorted(table.cells, key=lambda c: (names[c.row], c.fraction)):
        column = columns.setdefault(f"{names[cell.row]} · {fraction_label(cell.fraction)}", {})
        for item in cell.records:
            for label, entry in (item.record.details.get("per_label") or {}).items():
                positives.setdefault(label, int(entry.get("n_positive", 0)))
                if entry.get("value") is not None:
                    column.setdefault(label, []).append(float(entry["value"]))
    if not positives:
        return ""
    head = "<th>label</th><th>positives</th>" + "".join(f"<th>{escape(c)}</th>" for c in columns)
    lines = []
    for label in sorted(positives):
        tds = f"<td>{escape(label)}</td>"
        tds += f'<td class="num" data-value="{positives[label]}">{positives[label]}</td>'
        for values in columns.values():
            got = values.get(label)
            mean = sum(got) / len(got) if got else None
            shown = "" if mean is None else f"{mean:.3f}"
            value = "" if mean is None else f"{mean:.6g}"
            tds += f'<td class="num" data-value="{value}">{shown}</td>'
        lines.append(f"<tr>{tds}</tr>")
    return (
        f'<details class="per-label"><summary>Per-label values ({len(positives)} labels; '
        "the table shows their macro mean)</summary>"
        f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>'
        + "".join(lines)
        + "</tbody></table></details>"
    )


def figure_html(png: Path) -> str:
    """An ``<img>`` with the PNG inlined as base64."""
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{escape(png.stem)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(png.stem)}</figcaption></figure>"
    )


def render_html(tables: Sequence[Table], figures: Sequence[Path], header: str = "") -> str:
    """The complete page (tables, then the PNG figures among ``figures``)."""
    sections = "".join(table_html(t, i) for i, t in enumerate(tables))
    images = "".join(figure_html(p) for p in figures if p.suffix == ".png")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>ECG Bench leaderboard</title>"
        f"<style>{STYLE}</style></head><body><h1>ECG Bench leaderboard</h1>"
        + (f'<p class="header">{escape(header)}</p>' if header else "")
        + sections
        + (f"<h2>Figures</h2>{images}" if images else "")
        + f"<script>{SCRIPT}</script></body></html>\n"
    )
