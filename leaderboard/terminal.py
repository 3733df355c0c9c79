"""The rich table printed at the end of ``bench run``: model × fraction for each metric."""

from __future__ import annotations

from collections.abc import Iterable

from bench.leaderboard.aggregate import SourcedRecord, aggregate, latest_per_cell
from bench.leaderboard.tables import METRIC_NAMES, format_cell, fraction_label
from rich.table import Table

from bench.records import ResultRecord


def results_table(records: Iterable[ResultRecord], title: str = "Results") -> Table:
    """One row per (task, split, metric, model, init), one column per training fraction.

    Several seeds are summarised as on the leaderboard (mean ±std, mean CI bounds).
    """
    cells = aggregate(latest_per_cell(SourcedRecord(r) for r in records))
    fractions = sorted({c.fraction for c in cells})
    table = Table(title=title)
    for name in ("task", "split", "metric", "model", "init"):
        table.add_column(name, style="bold" if name == "model" else None)
    for fraction in fractions:
        table.add_column(fraction_label(fraction), justify="right")
    rows: dict[tuple[str, str, str, str, str], dict[float, str]] = {}
    for c in cells:
        model = c.model if c.arch in ("", c.model) else f"{c.model} = {c.arch}"
        key = (c.task, c.split, METRIC_NAMES.get(c.metric, c.metric), model, c.init)
        rows.setdefault(key, {})[c.fraction] = format_cell(c)
    for key, by_fraction in rows.items():
        table.add_row(*key, *(by_fraction.get(f, "") for f in fractions))
    return table
