"""Reference renderer: the paper-style matplotlib plot (1000×1000 PNG by default).

Drawn on an Agg canvas (no pyplot, no global state). Slow (tens of images per second) and used only for parity tests against
:mod:`bench.data.render` and for publication figures. It draws the same layout as the fast
renderer's :class:`~bench.data.render.RenderConfig` — lead rows, baselines, mV scale and
line width scaled from ``config.size`` to ``size_px`` — so that an image rendered here and
resized to ``config.size`` matches :func:`bench.data.render.render`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from bench.data.render import DEFAULT_RENDER, RenderConfig, baselines_and_scale

_DPI = 100


def render_matplotlib(
    leads: np.ndarray, size_px: int = 1000, config: RenderConfig | None = None
) -> np.ndarray:
    """Plot ``(leads, samples)`` mV as stacked rows: ``(size_px, size_px, 3)`` uint8."""
    leads = np.asarray(leads, dtype=float)
    if leads.ndim != 2 or leads.shape[1] < 2:
        raise ValueError(f"render_matplotlib expects (leads, samples>=2), got {leads.shape}")
    config = config or DEFAULT_RENDER
    n_leads, n_samples = leads.shape
    zoom = size_px / config.size
    base, scale = baselines_and_scale(n_leads, config)
    x = (np.arange(n_samples) + 0.5) * config.size / n_samples * zoom
    fig = Figure(figsize=(size_px / _DPI, size_px / _DPI), dpi=_DPI, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, size_px)
    ax.set_ylim(size_px, 0)  # y grows downwards, as in image rows
    width_points = config.line_width * zoom * 72 / _DPI
    for row, base_y in zip(leads, base, strict=True):
        ax.plot(x, (base_y - row * scale) * zoom, color="black", linewidth=width_points,
                antialiased=config.antialias, solid_capstyle="butt")  # fmt: skip
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return np.ascontiguousarray(rgba[..., :3])


def save_png(
    leads: np.ndarray, path: str | Path, size_px: int = 1000, config: RenderConfig | None = None
) -> None:
    """Write the reference plot of ``(leads, samples)`` mV to a PNG file."""
    Image.fromarray(render_matplotlib(leads, size_px, config)).save(Path(path), format="PNG")
