"""One saliency overlay figure per model on the published board.

``bench saliency`` draws one PNG grid of Grad-CAM overlays per cell and method beside its
records, and names it in each record's ``details.overlay``. The board shows, per row with
saliency records (model and init: a pretrained model and its random-init twin are two
rows), the grid of one cell chosen deterministically: the largest training fraction, then
the first in the order (task, source, protocol, seed, run, method). The PNG is copied into
the board's ``plots/`` as ``saliency_overlay_<model>.png``, or
``saliency_overlay_<model>-<init>.png`` where a model has rows of several inits, and
captioned with the cell, its run and the records it shows. Records without an ``overlay`` (written before
it was recorded) or whose PNG is gone give no figure.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.leaderboard.aggregate import Cell, RowKey, SourcedRecord, fraction_label
from bench.leaderboard.saliency import REGIONS, SALIENCY_COLUMNS

#: The board's file name of a model's overlay figure (in ``plots/``).
OVERLAY_PREFIX = "saliency_overlay_"


@dataclass(frozen=True)
class OverlayFigure:
    """A row's overlay figure on the board: where it is, which cell and records it shows."""

    model: str
    init: str
    #: relative to the board folder (``plots/saliency_overlay_<model>.png``)
    figure: str
    task: str
    source: str
    fraction: float
    seed: int
    protocol: str
    run_id: str
    method: str
    #: the ``saliency_*`` metrics of the records drawn from the same maps
    metrics: tuple[str, ...]
    #: the explained test ECGs; the figure's panels are the first ``shown`` of them
    record_ids: tuple[str, ...]
    region: str
    #: panels drawn (0: every explained ECG, as records from before the cap say)
    shown: int = 0

    def caption(self, label: str = "") -> str:
        """The figure's caption (``label``: the model's printed name)."""
        region = REGIONS.get(self.region, self.region) or "not recorded"
        n = len(self.record_ids)
        drawn = f"the first {self.shown} of " if 0 < self.shown < n else ""
        return (
            f"{label or self.model}: {self.method} saliency of the {self.task} · {self.source} "
            f"cell at {fraction_label(self.fraction)}, seed {self.seed} ({self.protocol}) of "
            f"run `{self.run_id}`, on {drawn}its {n} explained internal-test ECGs "
            f"(ECG, then the map over it; shaded: the {region}). The same maps give its "
            f"records {', '.join(self.metrics)}."
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the board's ``saliency_figures``)."""
        return {
            "model": self.model, "init": self.init, "figure": self.figure, "task": self.task,
            "source": self.source, "fraction": self.fraction, "seed": self.seed,
            "protocol": self.protocol, "run_id": self.run_id, "method": self.method,
            "metrics": list(self.metrics), "record_ids": list(self.record_ids),
            "region": self.region, "shown": self.shown, "caption": self.caption(),
        }  # fmt: skip


def _source_png(item: SourcedRecord) -> Path | None:
    name = item.record.details.get("overlay")
    if not name or item.base is None or Path(str(name)).name != name:
        return None
    path = item.base / str(name)
    return path if path.is_file() else None


def _key(item: SourcedRecord) -> tuple[Any, ...]:
    r = item.record
    return (-r.fraction, r.task, r.source, r.protocol, r.seed, r.run_id,
            str(r.details.get("method", "")))  # fmt: skip


def choose_overlays(
    cells: Sequence[Cell],
) -> dict[tuple[str, str], tuple[Path, list[SourcedRecord]]]:
    """(model, init) → the overlay PNG of its chosen cell and method (see the module
    docstring) and the records drawn from the same maps, for every row with an overlay PNG
    on disk."""
    by_row: dict[tuple[str, str], dict[tuple[Any, ...], tuple[Path, list[SourcedRecord]]]] = {}
    for cell in cells:
        for item in cell.records:
            png = _source_png(item)
            if png is not None:
                group = by_row.setdefault((item.record.model, item.record.init), {})
                group.setdefault(_key(item), (png, []))[1].append(item)
    out = {}
    for row, groups in sorted(by_row.items()):
        png, items = groups[min(groups)]
        out[row] = (png, sorted(items, key=lambda i: i.record.metric))
    return out


def _safe(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]", "-", model)


def copy_overlays(cells: Sequence[Cell], plots: Path) -> list[OverlayFigure]:
    """Copy each row's chosen overlay PNG into ``plots`` (the board's plots folder,
    whose parent is the board folder); the figures, by model and init."""
    out = []
    chosen = choose_overlays(cells)
    inits = Counter(model for model, _ in chosen)
    for (model, init), (source, items) in chosen.items():
        first = items[0].record
        plots.mkdir(parents=True, exist_ok=True)
        stem = model if inits[model] == 1 else f"{model}-{init}"
        target = plots / f"{OVERLAY_PREFIX}{_safe(stem)}.png"
        shutil.copyfile(source, target)
        metrics = sorted({i.record.metric for i in items}, key=_metric_order)
        figure = OverlayFigure(
            model, init, f"{plots.name}/{target.name}", first.task, first.source, first.fraction,
            first.seed, first.protocol, first.run_id, str(first.details.get("method", "")),
            tuple(metrics), tuple(map(str, first.details.get("record_ids", []))),
            str(first.details.get("region", "")), int(first.details.get("overlay_images", 0)),
        )  # fmt: skip
        out.append(figure)
    return out


def _metric_order(metric: str) -> tuple[int, str]:
    """The tabulated metrics first (in the table's order), then the others by name."""
    order = list(SALIENCY_COLUMNS)
    return (order.index(metric) if metric in order else len(order), metric)


def figures_markdown(figures: Sequence[OverlayFigure], labels: dict[RowKey, str]) -> list[str]:
    """Markdown lines linking each figure with its caption, named by ``labels`` (the
    section's rows, :func:`bench.leaderboard.saliency.saliency_labels`; a figure whose row
    is not among them keeps its model name)."""
    by_row = {(row[0], row[1]): label for row, label in sorted(labels.items())}
    lines = []
    for figure in figures:
        label = by_row.get((figure.model, figure.init), figure.model)
        lines += [f"![saliency overlays: {label}]({figure.figure})", "", figure.caption(label), ""]
    return lines
