"""The results printed at the end of ``bench run``, legible in an 80-column terminal or log.

One small table per task · source · split · metric, one row per model × training fraction
(fractions stacked, not side by side), with the value and its 95 % CI in columns of their
own. Before them, per task · source, a training table gives each cell's positive training
ECGs, the epochs it trained and whether it converged under its stopping rule (``NO`` marks
a cell the budget stopped; no finding rests on it). Numbers never wrap or shorten; only model names fold onto a second line when they do
not fit, so nothing is cut when stdout is a log file (rich's 80-column default).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from bench.leaderboard.aggregate import (
    DEFAULT_PROTOCOL,
    Cell,
    SourcedRecord,
    aggregate,
    latest_per_cell,
)
from bench.leaderboard.budget import NOT_CONVERGED_MARK
from bench.leaderboard.tables import METRIC_NAMES, format_cell, fraction_label
from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from bench.api import ResultRecord

TableKey = tuple[str, str, str, str]  # task, source, split, metric


def _model_label(cell: Cell) -> str:
    label = cell.model if cell.arch in ("", cell.model) else f"{cell.model} = {cell.arch}"
    return label if cell.protocol == DEFAULT_PROTOCOL else f"{label} · {cell.protocol}"


#: How the ``conv`` column shows a cell's convergence (None: not assessed).
CONVERGED_MARK = {True: "yes", False: "NO", None: "–"}


def _number(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _new_table(title: str, columns: list[tuple[str, dict[str, object]]]) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("model", overflow="fold", style="bold")
    table.add_column("init", overflow="fold")
    table.add_column("fraction", justify="right", no_wrap=True)
    for header, options in columns:
        table.add_column(header, no_wrap=True, **options)  # type: ignore[arg-type]
    return table


def _rows(cells: list[Cell]) -> Iterator[tuple[Cell, tuple[str, str, str], bool]]:
    """Cells in row order with their (model, init, fraction) labels (model and init blank
    under the row's first fraction) and whether a new row starts."""
    previous: tuple[str, str] | None = None
    for cell in sorted(cells, key=lambda c: (c.model, c.init, c.arch, c.protocol, c.fraction)):
        row = (_model_label(cell), cell.init)
        shown = row if row != previous else ("", "")
        yield (
            cell,
            (*shown, fraction_label(cell.fraction)),
            previous is not None and row != previous,
        )
        previous = row


def _table(key: TableKey, cells: list[Cell]) -> Table:
    task, source, split, metric = key
    name = METRIC_NAMES.get(metric, metric)
    right: dict[str, object] = {"justify": "right"}
    table = _new_table(f"{task} · {source} · {split} · {name}", [(name, right), ("95 % CI", right)])
    for cell, labels, new_row in _rows(cells):
        if new_row:
            table.add_section()
        text = format_cell(cell).removesuffix(f" {NOT_CONVERGED_MARK}")  # the training table says
        value, _, ci = text.partition(" [")
        table.add_row(*labels, value, ci.rstrip("]") or "–")
    return table


def _training_table(task: str, source: str, cells: list[Cell]) -> Table:
    """How each cell trained: positive training ECGs, epochs run, converged."""
    right: dict[str, object] = {"justify": "right"}
    columns: list[tuple[str, dict[str, object]]] = [
        ("positives", right),
        ("epochs", right),
        ("converged", {"justify": "center"}),
    ]
    table = _new_table(f"{task} · {source} · training", columns)
    for cell, labels, new_row in _rows(cells):
        if new_row:
            table.add_section()
        table.add_row(
            *labels,
            _number(cell.train_positives),
            _number(cell.epochs_run, 1),
            CONVERGED_MARK[cell.converged],
        )
    return table


def results_table(records: Iterable[ResultRecord], title: str = "Results") -> Group:
    """The run's results: a title line, then per task · source a training table (positive
    training ECGs, epochs, converged per cell) and one table per split · metric.

    Several seeds are summarised as on the leaderboard (mean ±std, mean CI bounds).
    """
    cells = aggregate(latest_per_cell(SourcedRecord(r) for r in records))
    groups: dict[TableKey, list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.task, cell.source, cell.split, cell.metric), []).append(cell)
    tables: list[Table] = []
    for task, source in sorted({key[:2] for key in groups}):
        keys = [key for key in sorted(groups) if key[:2] == (task, source)]
        tables.append(_training_table(task, source, groups[keys[0]]))
        tables += [_table(key, groups[key]) for key in keys]
    return Group(Text(title, style="bold"), *tables)
