"""Leaderboard figures (matplotlib, no display needed), each saved as PNG and SVG.

- ``curves_<task>_<source>``: metric vs training fraction (log x) per model: the seed
  mean, a band from the seeds' min to max and the cell's CI as whiskers
  (:mod:`bench.leaderboard.curves`), one panel per split × metric (the paper's Figures 2–4);
- ``difference_<task>_<source>``: relative difference of the reference to every other
  model vs fraction; filled markers where the paired bootstrap CI excludes zero;
- ``saliency_<task>_<source>``: bars of ``saliency_*`` metrics per model (largest
  fraction available), with CI error bars.

Figures are built with :class:`matplotlib.figure.Figure` (Agg canvas, never pyplot), and
SVGs carry no date and a fixed hash salt, so re-generating unchanged data gives
unchanged files. So that they read: one legend per figure, right of all its panels (never
over data, and the panels keep their width however long the rows' names), a row keeps its
colour in every panel of a figure and no two rows share one
(:func:`bench.leaderboard.curves.row_colours`), a bounded metric's axis stays within
[0, 1] (:func:`bench.leaderboard.curves.bounded`), and a stand-in row's name carries its
mark.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
from bench.leaderboard.aggregate import Cell, RowKey, TableKey, cell_labels, fraction_label
from bench.leaderboard.curves import BAND_NOTE, bounded, learning_curves, palette, row_colours
from bench.leaderboard.names import METRIC_NAMES
from bench.leaderboard.paired import Difference
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D

SALIENCY_PREFIX = "saliency_"
LOCALISATION = "saliency_localisation"
PANEL_SIZE = (4.2, 3.2)
#: Panels per row of a saliency figure (one per split × metric; five metrics in one row
#: made a figure too wide to read on a page).
SALIENCY_COLUMNS = 3


#: Inches of figure height per legend entry (the panels grow to fit the legend).
LEGEND_ROW = 0.2
#: Inches of legend width per character of its longest entry (``fontsize="small"``).
LEGEND_CHAR = 0.06
#: Inches of title width per character (``figure.titlesize``, "large"), with some slack.
TITLE_CHAR = 0.12


def _legend(labels: dict[RowKey, str]) -> dict[RowKey, str]:
    """Legend names: the row's label and the architecture actually trained."""
    return {
        row: label if row[3] in ("", row[0]) else f"{label} = {row[3]}"
        for row, label in labels.items()
    }


def _panel_legend(ax: Axes) -> None:
    """The panel's own legend right of its axes (where panels' entries differ)."""
    ax.legend(
        loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize="small",
        frameon=False,
    )  # fmt: skip


def _figure_legend(fig: Figure, entries: dict[str, str], marker: str = "o") -> None:
    """One legend (label → colour) for all the figure's panels, in its column right of
    them (:func:`_grid`)."""
    handles = [Line2D([], [], color=colour, marker=marker, label=label)
               for label, colour in entries.items()]  # fmt: skip
    fig.subfigs[-1].legend(handles=handles, loc="upper left", fontsize="small", frameon=False)


def _panels_figure(fig: Figure) -> Figure | SubFigure:
    """The (sub)figure that holds the panels and their title (:func:`_grid`)."""
    return fig.subfigs[0] if fig.subfigs else fig


def _unit_axis(ax: Axes, metric: str) -> None:
    """Keep a bounded metric's y axis within [0, 1]."""
    if bounded(metric):
        low, high = ax.get_ylim()
        ax.set_ylim(max(0.0, low), min(1.0, high))


def _save(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.svg"]
    with mpl.rc_context({"svg.hashsalt": "ecg-bench"}):
        fig.savefig(paths[0], dpi=110, metadata={"Software": None})
        fig.savefig(paths[1], metadata={"Date": None})
    return paths


def _grid(
    n_rows: int, n_cols: int, title: str, legend: Sequence[str] = (), per_panel: int = 0
) -> tuple[Figure, list[list[Axes]]]:
    """A figure of panels with room right of them for one legend of the ``legend`` labels,
    or (``per_panel`` > 0) right of each panel for a legend of up to that many of them.
    The one legend gets a column of its own (a sub-figure, :func:`_figure_legend`) and the
    title is centred over the panels and wrapped to their width, so neither can run into
    the other."""
    width, height = PANEL_SIZE
    legend_width = LEGEND_CHAR * max(map(len, legend)) + 0.8 if legend else 0.0
    if per_panel:
        width, height = width + legend_width, max(height, LEGEND_ROW * per_panel + 0.8)
        size = (width * n_cols, height * n_rows)
    else:
        size = (width * n_cols + legend_width, max(height * n_rows, LEGEND_ROW * len(legend)))
    fig = Figure(figsize=(size[0], size[1] + 0.6), layout="constrained")
    panels: Figure | SubFigure = fig
    if legend and not per_panel:
        fig.subfigures(1, 2, width_ratios=[size[0] - legend_width, legend_width])
        panels = fig.subfigs[0]
    axes = panels.subplots(n_rows, n_cols, squeeze=False)
    characters = int(width * n_cols / TITLE_CHAR)  # the panels (with per-panel legends)
    panels.suptitle("\n".join(textwrap.wrap(title, max(20, characters))))
    return fig, [list(r) for r in axes]


def _fraction_axis(ax: Axes, fractions: Sequence[float]) -> None:
    ax.set_xscale("log")
    ax.set_xticks(list(fractions), [fraction_label(f) for f in fractions])
    ax.minorticks_off()
    ax.set_xlabel("training fraction")
    ax.grid(alpha=0.3)


def _panels(
    items: Sequence[Cell] | Sequence[Difference],
) -> dict[tuple[str, str], dict[tuple[str, str], list]]:
    """(task, source) → (split, metric) → items."""
    out: dict[tuple[str, str], dict[tuple[str, str], list]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        task, source, split, metric = item.table
        out[(task, source)][(split, metric)].append(item)
    return out


def _layout(panels: dict[tuple[str, str], list]) -> tuple[list[str], list[str]]:
    splits = sorted({s for s, _ in panels})
    metrics = sorted({m for _, m in panels})
    return splits, metrics


def _save_all(figures: dict[str, Figure], out_dir: Path) -> list[Path]:
    return [path for stem, fig in figures.items() for path in _save(fig, out_dir, stem)]


def plot_curves(cells: Sequence[Cell], out_dir: Path) -> list[Path]:
    """Write :func:`curves_figures` into ``out_dir``."""
    return _save_all(curves_figures(cells), out_dir)


def curves_figures(cells: Sequence[Cell]) -> dict[str, Figure]:
    """Metric vs fraction with seed bands and CI whiskers, one figure per (task, source),
    by file stem."""
    figures: dict[str, Figure] = {}
    chosen = [c for c in cells if not c.metric.startswith(SALIENCY_PREFIX)]
    for (task, source), panels in sorted(_panels(chosen).items()):
        splits, metrics = _layout(panels)
        in_figure = [c for group in panels.values() for c in group]
        names, colours = _legend(cell_labels(in_figure)), row_colours(in_figure)
        fig, axes = _grid(len(splits), len(metrics), f"{task} · {source}", list(names.values()))
        for (split, metric), group in panels.items():
            ax = axes[splits.index(split)][metrics.index(metric)]
            for curve in learning_curves(group, colours):
                xs = [p.fraction for p in curve.points]
                means = [p.mean for p in curve.points]
                ax.plot(xs, means, marker="o", color=curve.colour, label=names[curve.row])
                if curve.has_band:
                    lows, highs = [p.low for p in curve.points], [p.high for p in curve.points]
                    band = ax.fill_between(xs, lows, highs, color=curve.colour, alpha=0.2, lw=0)
                    band.set_gid(f"seed-band-{curve.label}")
                if curve.has_ci:
                    lows = [p.ci_low for p in curve.points if p.ci_low is not None]
                    highs = [p.ci_high for p in curve.points if p.ci_high is not None]
                    ax.vlines(xs, lows, highs, color=curve.colour, alpha=0.6)
            _fraction_axis(ax, sorted({c.fraction for c in group}))
            _unit_axis(ax, metric)
            ax.set_ylabel(METRIC_NAMES.get(metric, metric))
            ax.set_title(f"{split}")
        _figure_legend(fig, {names[row]: colours[row] for row in names})
        _panels_figure(fig).supxlabel(BAND_NOTE, fontsize="small")
        figures[f"curves_{task}_{source}"] = fig
    return figures


def plot_differences(
    diffs: Sequence[Difference],
    out_dir: Path,
    labels: dict[TableKey, dict[RowKey, str]] | None = None,
) -> list[Path]:
    """Write :func:`difference_figures` into ``out_dir``."""
    return _save_all(difference_figures(diffs, labels), out_dir)


def difference_figures(
    diffs: Sequence[Difference], labels: dict[TableKey, dict[RowKey, str]] | None = None
) -> dict[str, Figure]:
    """Relative difference to the reference vs fraction, one figure per (task, source), by
    file stem; ``labels``: each table's row labels (default: the model names)."""
    figures: dict[str, Figure] = {}
    labels = labels or {}
    for (task, source), panels in sorted(_panels(diffs).items()):
        splits, metrics = _layout(panels)
        reference = next(iter(next(iter(panels.values())))).reference
        rows = sorted({d.row for group in panels.values() for d in group})
        known = {
            row: name
            for key in panels
            for row, name in labels.get((task, source, *key), {}).items()
        }
        legend = _legend({row: known.get(row, row[0]) for row in rows})
        names = {row: f"vs {name}" for row, name in legend.items()}
        colours = dict(zip(rows, palette(len(rows)), strict=True))
        title = f"{task} · {source}: {known.get(reference, reference[0])} vs others"
        fig, axes = _grid(len(splits), len(metrics), title, list(names.values()))
        for (split, metric), group in panels.items():
            ax = axes[splits.index(split)][metrics.index(metric)]
            ax.axhline(0, color="black", linewidth=0.8)
            for row in sorted({d.row for d in group}):
                name, colour = names[row], colours[row]
                line = sorted((d for d in group if d.row == row), key=lambda d: d.fraction)
                xs = [d.fraction for d in line]
                ys = [d.rel_diff_pct for d in line]
                ax.plot(xs, ys, label=name, color=colour)
                faces = [colour if d.significant else "white" for d in line]
                ax.scatter(xs, ys, facecolors=faces, edgecolors=colour, zorder=3)
            _fraction_axis(ax, sorted({d.fraction for d in group}))
            ax.set_ylabel(f"Δ {METRIC_NAMES.get(metric, metric)} (%)")
            ax.set_title(f"{split} (filled: significant)", fontsize="medium")
        _figure_legend(fig, {names[row]: colours[row] for row in rows})
        figures[f"difference_{task}_{source}"] = fig
    return figures


def plot_saliency(cells: Sequence[Cell], out_dir: Path) -> list[Path]:
    """Write :func:`saliency_figures` into ``out_dir``."""
    return _save_all(saliency_figures(cells), out_dir)


def saliency_figures(cells: Sequence[Cell]) -> dict[str, Figure]:
    """Bars of ``saliency_*`` metrics per row at its largest fraction, with CI whiskers, a
    panel per split × metric (at most :data:`SALIENCY_COLUMNS` a row), one figure per
    (task, source), by file stem; localisation draws chance (1) as a dashed line."""
    figures: dict[str, Figure] = {}
    chosen = [c for c in cells if c.metric.startswith(SALIENCY_PREFIX)]
    for (task, source), panels in sorted(_panels(chosen).items()):
        in_figure = [c for group in panels.values() for c in group]
        names, colours = _legend(cell_labels(in_figure)), row_colours(in_figure)
        title = f"{task} · {source}: saliency"
        keys = sorted(panels)  # (split, metric), in rows of at most SALIENCY_COLUMNS
        n_cols = min(SALIENCY_COLUMNS, len(keys))
        fig, axes = _grid(-(-len(keys) // n_cols), n_cols, title, list(names.values()))
        flat = [ax for row in axes for ax in row]
        for unused in flat[len(keys) :]:
            unused.remove()
        for ax, (split, metric) in zip(flat, keys, strict=False):
            group = panels[(split, metric)]
            largest = {c.row: c for c in sorted(group, key=lambda c: c.fraction)}
            bars = [largest[row] for row in names if row in largest]
            errors = [
                [c.mean - (c.ci_low if c.ci_low is not None else c.mean) for c in bars],
                [(c.ci_high if c.ci_high is not None else c.mean) - c.mean for c in bars],
            ]
            ax.bar(range(len(bars)), [c.mean for c in bars], yerr=errors, capsize=4,
                   color=[colours[c.row] for c in bars])  # fmt: skip
            ax.set_xticks([])
            name = metric.removeprefix(SALIENCY_PREFIX).replace("_", " ")
            if metric == LOCALISATION:
                ax.axhline(1.0, color="black", linestyle="--", linewidth=0.8)
                name += " (dashed: chance)"
            _unit_axis(ax, metric)
            ax.set_ylabel(name)
            fractions = sorted({fraction_label(c.fraction) for c in bars})
            ax.set_title(f"{split}, fraction {' / '.join(fractions)}")
        _figure_legend(fig, {names[row]: colours[row] for row in names}, marker="s")
        figures[f"saliency_{task}_{source}"] = fig
    return figures


def plot_all(cells: Sequence[Cell], diffs: Sequence[Difference], out_dir: Path) -> list[Path]:
    """Every leaderboard figure; returns the written paths (PNG and SVG)."""
    by_table: dict[TableKey, list[Cell]] = {}
    for cell in cells:
        by_table.setdefault(cell.table, []).append(cell)
    labels = {table: cell_labels(group) for table, group in by_table.items()}
    return (
        plot_curves(cells, out_dir)
        + plot_differences(diffs, out_dir, labels)
        + plot_saliency(cells, out_dir)
    )
