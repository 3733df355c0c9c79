"""Learning curves: a row's metric vs training fraction, with the spread of its seeds.

One :class:`Curve` per row of a table (or figure panel); each point is the seed mean at one
fraction, the *seed band* spans the seeds' minimum to maximum, and the whiskers are the
cell's 95 % bootstrap CI, the one its table shows (``Cell.ci_low``/``ci_high``). The matplotlib
figures (:mod:`bench.leaderboard.plots`) and the page's inline SVG (:func:`curves_svg`) draw
the same curves. The SVG is plain markup (no script, no external reference), log-x, with a
``<title>`` tooltip per point and its numbers in ``data-*`` attributes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from html import escape

import numpy as np
from bench.leaderboard.aggregate import Cell, RowKey, cell_labels
from bench.leaderboard.tables import fraction_label
from matplotlib import colormaps
from matplotlib.colors import hsv_to_rgb, to_hex, to_rgb

#: Metrics bounded by [0, 1]: their axes never run outside it. Not saliency localisation
#: (a ratio to chance, 1, that reaches 1 / the region's share) nor faithfulness (a change of
#: probability, negative when removing the marked pixels raises it).
BOUNDED_METRICS = frozenset({
    "auroc", "auprc", "c_index", "td_auroc", "r2_clipped",
    "saliency_pointing", "saliency_entropy", "saliency_gini",
})  # fmt: skip

BAND_NOTE = (
    "Line: mean over seeds; band: min–max over seeds; whiskers: the cell's 95 % bootstrap CI "
    "(as in the table)."
)


@dataclass(frozen=True)
class CurvePoint:
    """One fraction of a curve: the seed mean, min and max, and the cell's CI."""

    fraction: float
    mean: float
    low: float
    high: float
    ci_low: float | None
    ci_high: float | None
    seeds: int


@dataclass(frozen=True)
class Curve:
    """The points of one row, by increasing fraction, with its display label and colour."""

    row: RowKey
    label: str
    colour: str
    points: tuple[CurvePoint, ...]

    @property
    def has_band(self) -> bool:
        """Whether any point has more than one seed (a band to draw)."""
        return any(p.seeds > 1 for p in self.points)

    @property
    def has_ci(self) -> bool:
        """Whether every point has a CI."""
        return all(p.ci_low is not None and p.ci_high is not None for p in self.points)


def bounded(metric: str) -> bool:
    """Whether ``metric`` lies in [0, 1] (its axes are kept within it)."""
    return metric in BOUNDED_METRICS


@cache
def palette(n: int) -> list[str]:
    """``n`` distinct colours: matplotlib's ``tab10`` first (the familiar ``C0``…``C9``),
    then, one at a time, the colour of a pool (``tab20``, ``tab20b``, ``Set1``, ``Dark2``
    and 36 hues at two lightnesses) farthest in RGB from those already chosen."""
    chosen = [np.array(to_rgb(c)) for c in colormaps["tab10"].colors]  # type: ignore[attr-defined]
    pool = [
        np.array(to_rgb(c))
        for name in ("tab20", "tab20b", "Set1", "Dark2")
        for c in colormaps[name].colors  # type: ignore[attr-defined]
    ]
    pool += [hsv_to_rgb((i / 36, 0.9, v)) for i in range(36) for v in (0.55, 0.9)]
    while len(chosen) < n:
        distance = [min(float(np.linalg.norm(p - c)) for c in chosen) for p in pool]
        chosen.append(pool.pop(int(np.argmax(distance))))
    return [to_hex((float(c[0]), float(c[1]), float(c[2]))) for c in chosen[:n]]


def row_colours(cells: Iterable[Cell]) -> dict[RowKey, str]:
    """Each row among ``cells`` → its colour: :func:`palette` in row order."""
    labels = cell_labels(cells)
    return dict(zip(labels, palette(len(labels)), strict=True))


def learning_curves(
    cells: Iterable[Cell], colours: Mapping[RowKey, str] | None = None
) -> list[Curve]:
    """The curves of the rows among ``cells`` (one table or panel), in row order.

    Colours are ``colours`` (a figure's :func:`row_colours`, so a row keeps its colour
    across the figure's panels), by default :func:`row_colours` of ``cells``: a row has the
    same colour in the page and in the figures, and no two rows share one.
    """
    cells = list(cells)
    labels = cell_labels(cells)
    colours = colours or row_colours(cells)
    curves = []
    for row, label in labels.items():
        line = sorted((c for c in cells if c.row == row), key=lambda c: c.fraction)
        points = tuple(
            CurvePoint(c.fraction, c.mean, c.min, c.max, c.ci_low, c.ci_high, len(c.seeds))
            for c in line
        )
        curves.append(Curve(row, label, colours[row], points))
    return curves


# -- inline SVG --------------------------------------------------------------------------
WIDTH, HEIGHT = 560, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 12, 40


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2 or 5 × a power of ten apart)."""
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(math.ceil((high - first) / step - 1e-9) + 1)]


class _Axes:
    """Maps fractions (log) and values (linear) to SVG coordinates."""

    def __init__(self, fractions: Sequence[float], ticks: Sequence[float]) -> None:
        logs = [math.log10(f) for f in fractions]
        pad = 0.08 * (max(logs) - min(logs)) or 0.5
        self.x0, self.x1 = min(logs) - pad, max(logs) + pad
        self.y0, self.y1 = ticks[0], ticks[-1]

    def x(self, fraction: float) -> float:
        share = (math.log10(fraction) - self.x0) / (self.x1 - self.x0)
        return round(LEFT + share * (WIDTH - LEFT - RIGHT), 2)

    def y(self, value: float) -> float:
        share = (value - self.y0) / (self.y1 - self.y0)
        return round(HEIGHT - BOTTOM - share * (HEIGHT - TOP - BOTTOM), 2)


def _range(curves: Sequence[Curve], unit: bool = False) -> tuple[float, float]:
    """The values' range, padded; kept within [0, 1] when ``unit``."""
    values = [
        v
        for curve in curves
        for p in curve.points
        for v in (p.mean, p.low, p.high, p.ci_low, p.ci_high)
        if v is not None and math.isfinite(v)
    ]
    low, high = min(values), max(values)
    pad = max(0.05 * (high - low), 0.01 * (abs(high) or 1.0))  # a flat curve still gets an axis
    if unit:
        return max(0.0, low - pad), min(1.0, high + pad)
    return low - pad, high + pad


def _frame(axes: _Axes, fractions: Sequence[float], ticks: Sequence[float], y_label: str) -> str:
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    parts = [f'<rect class="plot-area" x="{LEFT}" y="{TOP}" width="{right - LEFT}" '
             f'height="{bottom - TOP}" fill="none" stroke="#999"/>']  # fmt: skip
    for tick in ticks:
        y = axes.y(tick)
        parts.append(f'<line x1="{LEFT}" x2="{right}" y1="{y}" y2="{y}" stroke="#eee"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4}" text-anchor="end">{tick:.3g}</text>')
    for fraction in fractions:
        x = axes.x(fraction)
        parts.append(f'<line x1="{x}" x2="{x}" y1="{TOP}" y2="{bottom}" stroke="#eee"/>')
        parts.append(
            f'<text class="x-tick" x="{x}" y="{bottom + 16}" text-anchor="middle">'
            f"{escape(fraction_label(fraction))}</text>"
        )
    parts.append(
        f'<text x="{(LEFT + right) / 2}" y="{HEIGHT - 4}" text-anchor="middle">'
        "training fraction (log scale)</text>"
    )
    parts.append(
        f'<text transform="rotate(-90)" x="{-(TOP + bottom) / 2}" y="14" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    return "".join(parts)


def _curve(curve: Curve, axes: _Axes) -> str:
    colour, points = curve.colour, curve.points
    parts = []
    if curve.has_band:
        upper = [f"{axes.x(p.fraction)},{axes.y(p.high)}" for p in points]
        lower = [f"{axes.x(p.fraction)},{axes.y(p.low)}" for p in reversed(points)]
        parts.append(
            f'<polygon class="band" points="{" ".join(upper + lower)}" '
            f'fill="{colour}" fill-opacity="0.2" stroke="none"/>'
        )
    for p in points:
        if p.ci_low is not None and p.ci_high is not None:
            x = axes.x(p.fraction)
            parts.append(
                f'<line class="ci" x1="{x}" x2="{x}" y1="{axes.y(p.ci_low)}" '
                f'y2="{axes.y(p.ci_high)}" stroke="{colour}" stroke-opacity="0.6"/>'
            )
    line = " ".join(f"{axes.x(p.fraction)},{axes.y(p.mean)}" for p in points)
    parts.append(f'<polyline class="mean" points="{line}" fill="none" stroke="{colour}" '
                 'stroke-width="2"/>')  # fmt: skip
    for p in points:
        tip = f"{curve.label} · {fraction_label(p.fraction)}: {p.mean:.3f}"
        if p.seeds > 1:
            tip += f" (seeds: {p.seeds}, {p.low:.3f}–{p.high:.3f})"
        if p.ci_low is not None and p.ci_high is not None:
            tip += f", CI {p.ci_low:.3f}–{p.ci_high:.3f}"
        parts.append(
            f'<circle class="point" cx="{axes.x(p.fraction)}" cy="{axes.y(p.mean)}" r="3.5" '
            f'fill="{colour}" data-fraction="{p.fraction:g}" data-mean="{p.mean:.6g}" '
            f'data-min="{p.low:.6g}" data-max="{p.high:.6g}" data-seeds="{p.seeds}">'
            f"<title>{escape(tip)}</title></circle>"
        )
    return f'<g class="curve" data-row="{escape(curve.label)}">' + "".join(parts) + "</g>"


def curves_svg(curves: Sequence[Curve], y_label: str, title: str, unit: bool = False) -> str:
    """An inline ``<svg class="curves">`` of the curves' finite points (empty string when
    there are none), followed by an HTML legend with the rows' colours; the y axis stays
    within [0, 1] when ``unit`` (a bounded metric, :func:`bounded`)."""
    finite = [
        replace(c, points=tuple(p for p in c.points if math.isfinite(p.mean))) for c in curves
    ]
    curves = [c for c in finite if c.points]
    if not curves:
        return ""
    fractions = sorted({p.fraction for c in curves for p in c.points})
    ticks = _nice_ticks(*_range(curves, unit))
    axes = _Axes(fractions, ticks)
    body = _frame(axes, fractions, ticks, y_label) + "".join(_curve(c, axes) for c in curves)
    legend = "".join(
        f'<li><span class="swatch" style="background:{c.colour}"></span>{escape(c.label)}</li>'
        for c in curves
    )
    return (
        f'<svg class="curves" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(title)}">{body}</svg>'
        f'<ul class="legend">{legend}</ul>'
    )
