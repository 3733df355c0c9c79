"""Figures that read: the legend and titles never cover data, panels keep their width and
their tick labels apart however long the rows' names, bounded metrics keep their axes
within [0, 1], and every row has its own colour, the same in every panel, for a panel of
12 rows with long names and a small-sample one (measured on the rendered figures'
bounding boxes)."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from bench.leaderboard.aggregate import Cell, aggregate, load_store
from bench.leaderboard.curves import curves_svg, learning_curves, palette
from bench.leaderboard.paired import differences
from bench.leaderboard.plots import curves_figures, difference_figures, saliency_figures
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import Collection
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from tests.leaderboard.conftest import write_store

#: 12 rows, from strong to no signal (so curves spread over the axis and cross the legend's
#: natural place inside the panel), named as long as a stand-in's legend entry
#: ("heartbeit · linear-probe§ = BEiT (width 192, depth 6, 3 heads, patch 16, 112 px)").
MANY = {f"model-{i:02d}-{'x' * 70}": ("random", 2.4 - 0.2 * i) for i in range(12)}
#: The board's fractions (1/10/25/50/100 %): the top three crowd a squeezed log axis.
FRACTIONS = (0.01, 0.1, 0.25, 0.5, 1.0)


def _cells(root: Path, **store: object) -> list[Cell]:
    write_store(root, fractions=FRACTIONS, **store)  # type: ignore[arg-type]
    return aggregate(load_store([root]))


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> list[Cell]:
    return _cells(tmp_path_factory.mktemp("many"), models=MANY)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> list[Cell]:
    """A small-sample table (LUDB's 38 test ECGs): four rows whose CIs span most of [0, 1],
    the whiskers that pushed the old axes to −0.5 and 1.2."""
    cells = _cells(tmp_path_factory.mktemp("small"), models=dict(list(MANY.items())[:4]))
    return [
        replace(c, n=38, ci_low=max(0.0, c.mean - 0.45), ci_high=min(1.0, c.mean + 0.45))
        for c in cells
    ]


def _data_boxes(fig: Figure) -> list[tuple[object, Bbox]]:
    """(axes, window extent) of every line and collection drawn in the axes' data."""
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    out = []
    for ax in fig.axes:
        for artist in [*ax.lines, *ax.collections]:
            if isinstance(artist, Line2D) and artist.get_xydata().size and _is_rule(artist):
                continue  # the zero line spans the axes; it is the axes' frame, not data
            if isinstance(artist, Line2D | Collection):
                box = artist.get_window_extent(renderer)
                if box.width > 0 or box.height > 0:
                    out.append((ax, box))
    return out


def _is_rule(line: Line2D) -> bool:
    ys = np.asarray(line.get_ydata(), dtype=float)
    return bool(len(ys) == 2 and ys[0] == ys[1] and line.get_label().startswith("_"))


def _overlap(a: Bbox, b: Bbox) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _legends(fig: Figure) -> list[Legend]:
    """The figure's legends: its own and its sub-figures' (the legend column), else the
    panels' own."""
    figures = [fig, *fig.subfigs]
    return [legend for f in figures for legend in f.legends] or [
        legend for ax in fig.axes if (legend := ax.get_legend()) is not None
    ]


def _titles(fig: Figure) -> list[Text]:
    """The titles over the figure's (or its sub-figures') panels."""
    figures = [fig, *fig.subfigs]
    return [f._suptitle for f in figures if f._suptitle is not None]  # type: ignore[attr-defined]


def _check_reads(fig: Figure) -> None:
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = _data_boxes(fig)
    assert boxes, "nothing drawn"
    # one legend for the figure where the panels share their rows, else one per panel
    legends = _legends(fig)
    assert legends and len(legends) in (1, len(fig.axes))
    texts = _titles(fig)
    for title, legend in itertools.product(texts, legends):
        extent = title.get_window_extent(renderer)
        assert not _overlap(extent, legend.get_window_extent(renderer)), "title runs into legend"
    for ax in fig.axes:
        frame = ax.get_window_extent(renderer)
        for legend in legends:
            assert not _overlap(legend.get_window_extent(renderer), frame), "legend over a panel"
        assert frame.width >= 2.5 * fig.dpi, f"panel squeezed to {frame.width / fig.dpi:.1f} in"
        texts.append(ax.title)
        ticks = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
        for a, b in itertools.combinations(ticks, 2):
            assert not _overlap(a, b), "x tick labels run into each other"
    for text in texts:
        extent = text.get_window_extent(renderer)
        hits = [box for _, box in boxes if _overlap(extent, box)]
        assert not hits, f"title {text.get_text()!r} overlaps data"


def _distinct(colours: list[str]) -> None:
    rgb = [np.array(to_rgb(c)) for c in colours]
    for a, b in itertools.combinations(rgb, 2):
        assert np.linalg.norm(a - b) > 0.2, f"colours too close: {a} {b}"


@pytest.mark.parametrize("which", ["many", "small"])
def test_learning_curve_figures_read(which: str, request: pytest.FixtureRequest) -> None:
    cells: list[Cell] = request.getfixturevalue(which)
    (fig,) = curves_figures(cells).values()
    _check_reads(fig)
    assert len(_legends(fig)) == 1  # every panel has the same rows: one legend, once
    for ax in fig.axes:
        low, high = ax.get_ylim()
        assert 0.0 <= low < high <= 1.0, f"{ax.get_ylabel()} axis runs {low}–{high}"
        colours = [line.get_color() for line in ax.lines]
        assert len(colours) == len({c.row for c in cells if c.metric == "auroc"})
        _distinct([str(c) for c in colours])
    by_row = [{line.get_label(): line.get_color() for line in ax.lines} for ax in fig.axes]
    assert len(by_row) == 4 and all(panel == by_row[0] for panel in by_row)  # one colour a row


def test_difference_figure_of_twelve_rows_reads(many: list[Cell]) -> None:
    reference = next(iter(MANY))
    diffs = differences([c for c in many if c.metric == "auroc"], reference, replicates=40)
    labels = {c.table: {c.row: f"{c.model}§"} for c in many if c.model == reference}
    (fig,) = difference_figures(diffs, labels).values()
    _check_reads(fig)
    (title,) = _titles(fig)
    assert f"{reference}§vsothers" in "".join(title.get_text().split())  # wrapped
    _distinct([str(line.get_color()) for line in fig.axes[0].lines if line.get_label()[:1] != "_"])


def test_palette_is_distinct_for_up_to_thirty_rows() -> None:
    """RGB distance > 0.2 between any two (matplotlib's tab10 itself has 0.26)."""
    for n in (3, 10, 12, 20, 30):
        colours = palette(n)
        assert len(set(colours)) == n
        _distinct(colours)


def test_page_curves_keep_a_bounded_axis_within_zero_and_one(many: list[Cell]) -> None:
    auroc = [c for c in many if c.metric == "auroc"]
    svg = curves_svg(learning_curves(auroc), "AUROC", "t", unit=True)
    ticks = [float(t) for t in re.findall(r'text-anchor="end">([-\d.e]+)</text>', svg)]
    assert ticks and min(ticks) >= 0.0 and max(ticks) <= 1.0 + 1e-9
    swatches = re.findall(r'class="swatch" style="background:(#[0-9a-f]{6})"', svg)
    assert len(swatches) == 12 and len(set(swatches)) == 12


def test_saliency_figure_reads_and_shows_localisation_above_chance(tmp_path: Path) -> None:
    """Localisation is a ratio to chance (1), not a share: the strongest rows' 1.2 and 1.1
    stay on the axis, with chance drawn, and the long row names sit in the legend."""
    cells = _cells(tmp_path, models=MANY, saliency=True)
    (fig,) = saliency_figures(cells).values()
    _check_reads(fig)
    localisation = [ax for ax in fig.axes if ax.get_ylabel().startswith("localisation")]
    assert localisation and all(ax.get_ylim()[1] > 1.2 for ax in localisation)
    assert all(not ax.get_xticklabels() for ax in fig.axes)  # names in the legend, once
    _distinct([to_hex(bar.get_facecolor()) for bar in fig.axes[0].patches])
