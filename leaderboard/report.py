"""The leaderboard pipeline: result directories → filtered, checked, aggregated tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.leaderboard.aggregate import (
    Cell,
    aggregate,
    check_consistent,
    latest_per_cell,
    load_store,
    select,
)
from bench.leaderboard.paired import Difference, differences
from bench.leaderboard.plots import SALIENCY_PREFIX, plot_all
from bench.leaderboard.tables import Table, build_tables

DEFAULT_METRICS: tuple[str, ...] = ("auroc", "auprc")
DEFAULT_REFERENCE = "heartbeit"


@dataclass
class Leaderboard:
    """Everything rendered from one set of result directories."""

    cells: list[Cell]
    saliency: list[Cell]
    differences: list[Difference]
    tables: list[Table]

    def plot(self, out_dir: Path) -> list[Path]:
        """Write every figure (PNG + SVG) into ``out_dir``."""
        return plot_all([*self.cells, *self.saliency], self.differences, out_dir)


def build_leaderboard(
    paths: Sequence[Path | str],
    *,
    tasks: Sequence[str] = (),
    metrics: Sequence[str] = DEFAULT_METRICS,
    splits: Sequence[str] = (),
    reference: str = DEFAULT_REFERENCE,
    allow_mixed: bool = False,
    replicates: int = 500,
) -> Leaderboard:
    """Load, keep the latest record per cell, filter, check consistency and aggregate.

    Raises :class:`leaderboard.aggregate.MixedRecordsError` when a table would mix
    versions (unless ``allow_mixed``) and ``ValueError`` when nothing matches.
    """
    records = latest_per_cell(select(load_store(paths), tasks=tasks, splits=splits))
    chosen = select(records, metrics=metrics)
    if not chosen:
        raise ValueError(
            f"no result records for metrics {list(metrics)} in {[str(p) for p in paths]}"
            + (f" (tasks {list(tasks)})" if tasks else "")
            + (f" (splits {list(splits)})" if splits else "")
        )
    saliency = [
        r
        for r in records
        if r.record.metric.startswith(SALIENCY_PREFIX) and r.record.metric not in metrics
    ]
    if not allow_mixed:
        check_consistent([*chosen, *saliency])
    cells = aggregate(chosen)
    diffs = differences(cells, reference, replicates=replicates)
    return Leaderboard(cells, aggregate(saliency), diffs, build_tables(cells, diffs))
