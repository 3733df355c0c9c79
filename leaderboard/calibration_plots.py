"""Calibration you can see: a reliability diagram and a decision curve per (task, source),
a panel per test split and a line per row of the board, drawn from the ``reliability`` and
``net_benefit`` records (the bins and curve points their details hold).

Each row is shown at its largest training fraction that has the records, its seeds pooled
the way the board pools a row's seeds on one test set: a reliability bin's counts are
summed over the seeds, its mean predicted probability and observed positive rate weighted
by those counts (the diagram of all the seeds' predictions together); a decision curve is
the seeds' curves weighted by their test-set sizes (the net benefit of all the seeds'
treatment decisions together). The legend's ECE is the mean of the seeds' ECEs (the
records' values). Where no row of a table has the records, no figure is drawn and the
section names the command that adds them (:data:`RESCORE`).

The drawing (:func:`draw_reliability`, :func:`draw_decision`) is shared with a single
cell's figures (:mod:`bench.leaderboard.calibration_cell`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from bench.leaderboard.aggregate import (
    Cell,
    RowKey,
    SourcedRecord,
    cell_labels,
    fraction_label,
    latest_per_cell,
    load_store,
    row_key,
    select,
)
from bench.leaderboard.curves import palette
from bench.leaderboard.plots import _grid, _panel_legend, _save
from matplotlib.axes import Axes
from matplotlib.figure import Figure

RELIABILITY, NET_BENEFIT = "reliability", "net_benefit"
#: What adds the records these figures are drawn from to a finished run.
RESCORE = f"bench rescore RUN --metric {RELIABILITY} --metric {NET_BENEFIT}"
#: Marker area (points²) of a bin holding none / all of a line's records.
MARKER_AREA = (12.0, 220.0)
RELIABILITY_NOTE = (
    "Dashed: perfect calibration. Marker area: the bin's share of the row's test records. "
    "Seeds pooled (bin counts summed) at each row's largest training fraction."
)
DECISION_NOTE = (
    "Net benefit = TP/n − FP/n · pt/(1 − pt). Dashed: treat all; dotted: treat none. Seeds "
    "pooled (weighted by test-set size) at each row's largest training fraction."
)

SECTION_NOTE = (
    "A reliability diagram and a decision curve per task, a panel per test split, a line per "
    "row at its largest training fraction with these records, its seeds pooled as if their "
    "predictions were one set (reliability bin counts summed; decision curves weighted by "
    "test-set size); the legend's ECE is the mean over seeds. How to read them: "
    "docs/leaderboard.md, *Calibration and decision curves*."
)

Panel = tuple[str, str, str]  # task, source, split


@dataclass(frozen=True)
class Series:
    """One line of a calibration panel: points ``(x, y)`` (NaN where undefined), and for a
    reliability line the bin counts and the observed rates' CI whiskers when known."""

    label: str
    colour: str
    x: np.ndarray
    y: np.ndarray
    count: np.ndarray | None = None
    low: np.ndarray | None = None
    high: np.ndarray | None = None


def _floats(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def pooled_diagram(diagrams: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Reliability diagrams (the records' ``diagram`` details) of one row's seeds pooled:
    ``count`` summed per bin, ``mean_predicted`` and ``observed`` their count-weighted
    means (NaN in a bin empty in every seed)."""
    counts = np.array([d["count"] for d in diagrams], dtype=np.float64)
    predicted = np.array([_floats(d["mean_predicted"]) for d in diagrams])
    observed = np.array([_floats(d["observed"]["value"]) for d in diagrams])
    total = counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "count": total,
            "mean_predicted": np.where(counts > 0, counts * predicted, 0.0).sum(0) / total,
            "observed": np.where(counts > 0, counts * observed, 0.0).sum(0) / total,
        }


def pooled_curves(records: Sequence[SourcedRecord]) -> dict[str, np.ndarray]:
    """Decision curves of one row's seeds (``net_benefit`` records) pooled: ``thresholds``
    and the ``model`` and ``treat_all`` net benefit, each the seeds' weighted by ``n``."""
    first = records[0].record.bootstrap["thresholds"]
    for item in records:
        if item.record.bootstrap["thresholds"] != first:
            raise ValueError(
                f"{item.base}: net_benefit thresholds {item.record.bootstrap['thresholds']} "
                f"differ from {first} of the same row"
            )
    weights = np.array([max(item.record.n, 1) for item in records], dtype=np.float64)

    def mean(curve: str) -> np.ndarray:
        values = [_floats(i.record.bootstrap["curves"][curve]["value"]) for i in records]
        return np.average(np.array(values), axis=0, weights=weights)

    return {"thresholds": np.array(first, dtype=np.float64), "model": mean("model"),
            "treat_all": mean("treat_all")}  # fmt: skip


@dataclass
class CalibrationPanel:
    """One test split of a (task, source): a line per row that has the records, and the
    labels of the board's rows that have none, per metric."""

    reliability: list[Series] = field(default_factory=list)
    decision: list[Series] = field(default_factory=list)
    treat_all: list[np.ndarray] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    #: Rows whose records are a multi-label task's: one value per label, no curve to pool.
    per_label: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def _largest(items: Sequence[SourcedRecord]) -> list[SourcedRecord]:
    """The records of the largest training fraction among ``items`` (none if empty)."""
    top = max((i.record.fraction for i in items), default=None)
    return [i for i in items if i.record.fraction == top]


def _name(label: str, items: Sequence[SourcedRecord]) -> str:
    seeds = len({i.record.seed for i in items})
    return f"{label} · {fraction_label(items[0].record.fraction)} · {seeds} seed(s)"


def _per_label(item: SourcedRecord) -> bool:
    """A multi-label task's record: its value is the macro over labels, with no pooled
    diagram or curve behind it."""
    return "per_label" in item.record.details


def calibration_panels(
    records: Sequence[SourcedRecord], cells: Sequence[Cell]
) -> dict[Panel, CalibrationPanel]:
    """The panels of every (task, source, split) of the board's ``cells``, its rows
    labelled and coloured as the board's learning curves of that split."""
    by_panel: dict[Panel, list[Cell]] = defaultdict(list)
    for cell in cells:
        by_panel[(cell.task, cell.source, cell.split)].append(cell)
    found: dict[tuple[Panel, RowKey, str], list[SourcedRecord]] = defaultdict(list)
    for item in select(records, metrics=(RELIABILITY, NET_BENEFIT)):
        r = item.record
        found[((r.task, r.source, r.split), row_key(r), r.metric)].append(item)
    out: dict[Panel, CalibrationPanel] = {}
    for key, group in sorted(by_panel.items()):
        labels = cell_labels(group)
        panel = out[key] = CalibrationPanel()
        for (row, label), colour in zip(labels.items(), palette(len(labels)), strict=True):
            for metric in (RELIABILITY, NET_BENEFIT):
                if any(_per_label(i) for i in found.get((key, row, metric), [])):
                    panel.per_label[metric].append(label)
                    found.pop((key, row, metric))
            diagrams = _largest(found.get((key, row, RELIABILITY), []))
            if diagrams:
                pooled = pooled_diagram([i.record.bootstrap["diagram"] for i in diagrams])
                ece = float(np.mean([i.record.value for i in diagrams]))
                name = f"{_name(label, diagrams)}, ECE {ece:.3f}"
                panel.reliability.append(Series(name, colour, pooled["mean_predicted"],
                                                pooled["observed"], pooled["count"]))  # fmt: skip
            elif label not in panel.per_label[RELIABILITY]:
                panel.missing[RELIABILITY].append(label)
            decisions = _largest(found.get((key, row, NET_BENEFIT), []))
            if decisions:
                curves = pooled_curves(decisions)
                name = _name(label, decisions)
                panel.decision.append(Series(name, colour, curves["thresholds"], curves["model"]))
                panel.treat_all.append(curves["treat_all"])
            elif label not in panel.per_label[NET_BENEFIT]:
                panel.missing[NET_BENEFIT].append(label)
    return out


def draw_reliability(ax: Axes, lines: Sequence[Series]) -> None:
    """Reliability diagram: the diagonal, then per line the observed positive rate against
    the mean predicted probability of every non-empty bin, marker area by the bin's share
    of the line's records, whiskers where the line has CIs; both axes span [0, 1]."""
    ax.plot([0, 1], [0, 1], color="0.45", linestyle="--", linewidth=0.9, label="perfect")
    for line in lines:
        shown = np.isfinite(line.x) & np.isfinite(line.y)
        ax.plot(line.x[shown], line.y[shown], color=line.colour, linewidth=1.2, label=line.label)
        count = np.ones(len(line.x)) if line.count is None else line.count
        share = count[shown] / max(float(count.sum()), 1.0)
        small, large = MARKER_AREA
        ax.scatter(line.x[shown], line.y[shown], s=small + (large - small) * share,
                   color=line.colour, alpha=0.75, edgecolors="white", zorder=3)  # fmt: skip
        if line.low is not None and line.high is not None:
            ax.vlines(line.x[shown], line.low[shown], line.high[shown], color=line.colour,
                      alpha=0.5)  # fmt: skip
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_aspect("equal")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed positive rate")
    ax.grid(alpha=0.3)


def draw_decision(ax: Axes, lines: Sequence[Series], treat_all: np.ndarray) -> None:
    """Decision curve: net benefit against threshold probability per line, with treat all
    (dashed) and treat none (dotted, 0). The y axis runs from the lowest curve (but not
    below minus the highest) to the highest, so a treat-all line far below zero is cut."""
    thresholds = lines[0].x
    ax.plot(thresholds, treat_all, color="black", linestyle="--", linewidth=1.0,
            label="treat all", zorder=2.5)  # fmt: skip
    ax.axhline(0.0, color="0.4", linestyle=":", linewidth=1.2, label="treat none")
    for line in lines:
        ax.plot(line.x, line.y, color=line.colour, marker="o", markersize=3, label=line.label)
        if line.low is not None and line.high is not None:
            ax.fill_between(line.x, line.low, line.high, color=line.colour, alpha=0.15, lw=0)
    values = np.concatenate([line.y for line in lines] + [treat_all, [0.0]])
    values = values[np.isfinite(values)]
    top = float(values.max())
    bottom = max(float(values.min()), -max(top, 0.01))
    pad = 0.06 * (top - bottom or 0.1)
    ax.set_ylim(bottom - pad, top + pad)
    ax.set_xlim(0.0, min(1.0, float(thresholds.max()) + 0.05))
    ax.set_xlabel("threshold probability")
    ax.set_ylabel("net benefit")
    ax.grid(alpha=0.3)


def calibration_figures(panels: Mapping[Panel, CalibrationPanel]) -> dict[str, Figure]:
    """``reliability_<task>_<source>`` and ``decision_<task>_<source>`` figures, a panel
    per split with lines, by file stem (none for a (task, source) without lines)."""
    by_source: dict[tuple[str, str], dict[str, CalibrationPanel]] = defaultdict(dict)
    for (task, source, split), panel in panels.items():
        by_source[(task, source)][split] = panel
    figures: dict[str, Figure] = {}
    for (task, source), splits in sorted(by_source.items()):
        for kind, note in (("reliability", RELIABILITY_NOTE), ("decision", DECISION_NOTE)):
            drawn = {s: p for s, p in sorted(splits.items()) if getattr(p, kind)}
            if not drawn:
                continue
            labels = [s.label for p in drawn.values() for s in getattr(p, kind)]
            entries = max(len(getattr(p, kind)) for p in drawn.values()) + 2  # + the references
            fig, axes = _grid(1, len(drawn), f"{task} · {source}: {kind}", labels, entries)
            for ax, (split, panel) in zip(axes[0], drawn.items(), strict=True):
                if kind == "reliability":
                    draw_reliability(ax, panel.reliability)
                else:
                    draw_decision(ax, panel.decision, np.mean(panel.treat_all, axis=0))
                ax.set_title(split, pad=12)
                _panel_legend(ax)
            fig.supxlabel(note, fontsize="small")
            figures[f"{kind}_{task}_{source}"] = fig
    return figures


@dataclass(frozen=True)
class CalibrationSection:
    """What :func:`write_calibration` wrote: the PNG figures and the Markdown section."""

    figures: list[Path]
    markdown: str


def section_markdown(panels: Mapping[Panel, CalibrationPanel], figures: Sequence[Path]) -> str:
    """``## Calibration and decision curves``: how to read the figures, links to them
    (relative to the Markdown, in ``plots/``), and per split the rows without records with
    the command that adds them."""
    parts = ["## Calibration and decision curves\n", SECTION_NOTE + "\n"]
    parts += [f"![{p.stem}](plots/{p.name})\n" for p in figures]
    for (task, source, split), panel in sorted(panels.items()):
        for metric in (RELIABILITY, NET_BENEFIT):
            if rows := panel.per_label.get(metric, []):
                parts.append(
                    f"- {task} · {source} · {split}: multi-label: the `{metric}` records of "
                    f"{', '.join(rows)} hold one value per label and their macro mean, with "
                    "no pooled curve to draw."
                )
            rows = panel.missing.get(metric, [])
            if rows:
                parts.append(
                    f"- {task} · {source} · {split}: no `{metric}` records for "
                    f"{', '.join(rows)}; add them with `{RESCORE}`."
                )
    return "\n".join(parts).rstrip() + "\n"


def write_calibration(
    results_dirs: Sequence[Path | str], cells: Sequence[Cell], out_dir: Path
) -> CalibrationSection:
    """Draw the calibration figures of the rows of ``cells`` (a board's) from the latest
    records below ``results_dirs`` into ``out_dir`` (PNG + SVG); return the PNGs and the
    Markdown section (:func:`section_markdown`)."""
    records = latest_per_cell(load_store(results_dirs))
    panels = calibration_panels(records, cells)
    written = [p for stem, fig in calibration_figures(panels).items()
               for p in _save(fig, out_dir, stem)]  # fmt: skip
    pngs = [p for p in written if p.suffix == ".png"]
    return CalibrationSection(pngs, section_markdown(panels, pngs))
