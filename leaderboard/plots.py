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
unchanged files.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
from bench.leaderboard.aggregate import Cell, RowKey, row_labels
from bench.leaderboard.curves import BAND_NOTE, learning_curves
from bench.leaderboard.paired import Difference
from bench.leaderboard.tables import METRIC_NAMES, fraction_label
from matplotlib.axes import Axes
from matplotlib.figure import Figure

SALIENCY_PREFIX = "saliency_"
PANEL_SIZE = (4.2, 3.2)


def _legend(rows: Sequence[RowKey]) -> dict[RowKey, str]:
    """Legend names: the table's row label and the architecture actually trained."""
    labels = row_labels(rows)
    return {
        row: label if row[3] in ("", row[0]) else f"{label} = {row[3]}"
        for row, label in labels.items()
    }


def _save(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.svg"]
    with mpl.rc_context({"svg.hashsalt": "ecg-bench"}):
        fig.savefig(paths[0], dpi=110, metadata={"Software": None})
        fig.savefig(paths[1], metadata={"Date": None})
    return paths


def _grid(n_rows: int, n_cols: int, title: str) -> tuple[Figure, list[list[Axes]]]:
    width, height = PANEL_SIZE
    fig = Figure(figsize=(width * n_cols, height * n_rows + 0.4), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    fig.suptitle(title)
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


def plot_curves(cells: Sequence[Cell], out_dir: Path) -> list[Path]:
    """Metric vs fraction with seed bands and CI whiskers, one figure per (task, source)."""
    paths: list[Path] = []
    chosen = [c for c in cells if not c.metric.startswith(SALIENCY_PREFIX)]
    for (task, source), panels in sorted(_panels(chosen).items()):
        splits, metrics = _layout(panels)
        fig, axes = _grid(len(splits), len(metrics), f"{task} · {source}")
        for (split, metric), group in panels.items():
            ax = axes[splits.index(split)][metrics.index(metric)]
            names = _legend(sorted({c.row for c in group}))
            for curve in learning_curves(group):
                xs = [p.fraction for p in curve.points]
                means = [p.mean for p in curve.points]
                ax.plot(xs, means, marker="o", color=curve.colour, label=names[curve.row])
                if curve.has_band:
                    lows, highs = [p.low for p in curve.points], [p.high for p in curve.points]
                    band = ax.fill_between(xs, lows, highs, color=curve.colour, alpha=0.2, lw=0)
                    band.set_gid(f"seed-band-{curve.label}")
                if curve.has_ci:
                    lows = [p.ci_low for p in curve.points]
                    highs = [p.ci_high for p in curve.points]
                    ax.vlines(xs, lows, highs, color=curve.colour, alpha=0.6)
            _fraction_axis(ax, sorted({c.fraction for c in group}))
            ax.set_ylabel(METRIC_NAMES.get(metric, metric))
            ax.set_title(f"{split}")
            ax.legend(fontsize="small")
        fig.supxlabel(BAND_NOTE, fontsize="small")
        paths += _save(fig, out_dir, f"curves_{task}_{source}")
    return paths


def plot_differences(diffs: Sequence[Difference], out_dir: Path) -> list[Path]:
    """Relative difference to the reference vs fraction, one figure per (task, source)."""
    paths: list[Path] = []
    for (task, source), panels in sorted(_panels(diffs).items()):
        splits, metrics = _layout(panels)
        reference = next(iter(next(iter(panels.values())))).reference[0]
        fig, axes = _grid(len(splits), len(metrics), f"{task} · {source}: {reference} vs others")
        for (split, metric), group in panels.items():
            ax = axes[splits.index(split)][metrics.index(metric)]
            ax.axhline(0, color="black", linewidth=0.8)
            names = _legend(sorted({d.row for d in group}))
            for row, name in names.items():
                line = sorted((d for d in group if d.row == row), key=lambda d: d.fraction)
                xs = [d.fraction for d in line]
                ys = [d.rel_diff_pct for d in line]
                (handle,) = ax.plot(xs, ys, label=f"vs {name}")
                colour = handle.get_color()
                faces = [colour if d.significant else "white" for d in line]
                ax.scatter(xs, ys, facecolors=faces, edgecolors=colour, zorder=3)
            _fraction_axis(ax, sorted({d.fraction for d in group}))
            ax.set_ylabel(f"Δ {METRIC_NAMES.get(metric, metric)} (%)")
            ax.set_title(f"{split} (filled: paired CI excludes 0)", fontsize="medium")
            ax.legend(fontsize="small")
        paths += _save(fig, out_dir, f"difference_{task}_{source}")
    return paths


def plot_saliency(cells: Sequence[Cell], out_dir: Path) -> list[Path]:
    """Bars of ``saliency_*`` metrics per model, one figure per (task, source)."""
    paths: list[Path] = []
    chosen = [c for c in cells if c.metric.startswith(SALIENCY_PREFIX)]
    for (task, source), panels in sorted(_panels(chosen).items()):
        splits, metrics = _layout(panels)
        fig, axes = _grid(len(splits), len(metrics), f"{task} · {source}: saliency")
        for (split, metric), group in panels.items():
            ax = axes[splits.index(split)][metrics.index(metric)]
            largest = {c.row: c for c in sorted(group, key=lambda c: c.fraction)}
            names = _legend(sorted(largest))
            bars = [largest[row] for row in names]
            errors = [
                [c.mean - (c.ci_low if c.ci_low is not None else c.mean) for c in bars],
                [(c.ci_high if c.ci_high is not None else c.mean) - c.mean for c in bars],
            ]
            ax.bar(list(names.values()), [c.mean for c in bars], yerr=errors, capsize=4,
                   color=[f"C{i}" for i in range(len(bars))])  # fmt: skip
            ax.set_ylabel(metric.removeprefix(SALIENCY_PREFIX).replace("_", " "))
            ax.set_title(f"{split}, fraction {fraction_label(max(c.fraction for c in bars))}")
            ax.tick_params(axis="x", labelrotation=20)
        paths += _save(fig, out_dir, f"saliency_{task}_{source}")
    return paths


def plot_all(cells: Sequence[Cell], diffs: Sequence[Difference], out_dir: Path) -> list[Path]:
    """Every leaderboard figure; returns the written paths (PNG and SVG)."""
    return (
        plot_curves(cells, out_dir)
        + plot_differences(diffs, out_dir)
        + plot_saliency(cells, out_dir)
    )
