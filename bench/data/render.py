"""Fast ECG → image renderer: direct numpy rasterisation at the target size.

Layout (shared with :mod:`bench.data.render_reference`, in continuous pixel coordinates
where the image spans ``[0, size]`` both ways): lead ``i`` of ``n`` owns the horizontal band
``[i*size/n, (i+1)*size/n)`` with its 0 mV baseline in the middle; ``mv_per_row`` mV span
one band height, so larger deflections overlap the neighbouring rows as on a paper plot.
Sample ``k`` of ``n_samples`` sits at ``x = (k + 0.5) * size / n_samples``.

Algorithm: the polyline between consecutive samples, restricted to pixel column ``c``
(``x`` in ``[c, c+1]``), covers the vertical interval between the min and max of the samples
inside the column and the interpolated trace values at both column edges (so steep QRS
edges stay connected across columns). Stretched to the ink a stroke of ``line_width``
would leave in that column, this interval ``[a, b]`` is drawn with exact area coverage per pixel row — anti-aliased at its ends. Coverage is a
cumulative sum of four deltas per (lead, column), so the cost is ``O(B·leads·size)``
scatter plus one ``O(B·size²)`` cumulative sum.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from bench.data.preprocess import config_hash
from bench.run.parallelism import worker_count


@dataclass(frozen=True)
class RenderConfig:
    """Versioned image recipe; :meth:`hash` goes into every result record.

    - ``size``: output is ``size × size × 3`` uint8, black trace on white.
    - ``mv_per_row``: millivolts spanned by one lead row. 2.5 mV keeps ordinary QRS
      complexes (≤ ±1.25 mV) inside their row and lets tall ones overlap, like the paper's
      plot; at 224 px / 8 rows that is 11.2 px per mV, so a 0.1 mV ST shift moves ~1.1 px.
    - ``line_width``: trace thickness in pixels at ``size``.
    - ``antialias``: exact area coverage at the trace ends; ``False`` thresholds it.
    """

    size: int = 224
    mv_per_row: float = 2.5
    line_width: float = 1.0
    antialias: bool = True
    version: str = "1"

    def __post_init__(self) -> None:
        if self.size < 8:
            raise ValueError(f"RenderConfig.size must be >= 8 pixels, got {self.size}")
        if not self.mv_per_row > 0:
            raise ValueError(f"RenderConfig.mv_per_row must be positive, got {self.mv_per_row}")
        if not self.line_width > 0:
            raise ValueError(f"RenderConfig.line_width must be positive, got {self.line_width}")

    def hash(self) -> str:
        """Short sha256 of the canonical JSON of every field (version included)."""
        return config_hash(self)


DEFAULT_RENDER = RenderConfig()


def sample_to_x(sample_index: float | np.ndarray, n_samples: int, config: RenderConfig = DEFAULT_RENDER) -> float | np.ndarray:  # fmt: skip
    """Continuous pixel ``x`` of sample ``sample_index`` (pixel column ``floor(x)``)."""
    return (np.asarray(sample_index, dtype=float) + 0.5) * config.size / n_samples


def lead_row_band(lead_index: int, n_leads: int, config: RenderConfig = DEFAULT_RENDER) -> tuple[float, float]:  # fmt: skip
    """``(y_top, y_bottom)`` in continuous pixels of the row owned by lead ``lead_index``."""
    if not 0 <= lead_index < n_leads:
        raise IndexError(f"lead_index {lead_index} out of range for {n_leads} leads")
    height = config.size / n_leads
    return lead_index * height, (lead_index + 1) * height


def baselines_and_scale(n_leads: int, config: RenderConfig = DEFAULT_RENDER) -> tuple[np.ndarray, float]:  # fmt: skip
    """The ``y`` of each lead's 0 mV baseline and the scale in pixels per mV."""
    height = config.size / n_leads
    return (np.arange(n_leads) + 0.5) * height, height / config.mv_per_row


def region_mask(windows: np.ndarray, n_samples: int, config: RenderConfig = DEFAULT_RENDER) -> np.ndarray:  # fmt: skip
    """``(size, size)`` bool mask of the image columns showing sample windows, all rows.

    ``windows`` is ``(k, 2)`` (start, end) sample positions (inclusive, may be fractional);
    parts outside ``[0, n_samples)`` are ignored.
    """
    windows = np.asarray(windows, dtype=float).reshape(-1, 2)
    columns = np.zeros(config.size, dtype=bool)
    for start, end in windows:
        start, end = max(start, 0.0), min(end, n_samples - 1.0)
        if end < start:
            continue
        x0 = float(sample_to_x(start, n_samples, config))
        x1 = float(sample_to_x(end, n_samples, config))
        columns[int(np.floor(x0)) : min(int(np.floor(x1)) + 1, config.size)] = True
    return np.broadcast_to(columns, (config.size, config.size)).copy()


def _column_extents(batch: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max trace value inside each pixel column: two ``(B, leads, size)`` arrays."""
    n = batch.shape[-1]
    # Trace value at the column edges x = 0..size (linear interpolation between samples).
    pos = np.clip(np.arange(size + 1) * n / size - 0.5, 0, n - 1)
    i0 = np.minimum(pos.astype(int), max(n - 2, 0))
    frac = (pos - i0).astype(np.float32)
    i1 = np.minimum(i0 + 1, n - 1)
    edges = batch[..., i0] * (1 - frac) + batch[..., i1] * frac
    lo = np.minimum(edges[..., :-1], edges[..., 1:])
    hi = np.maximum(edges[..., :-1], edges[..., 1:])
    # Samples strictly inside column c: k with (k + 0.5) * size / n in [c, c + 1), gathered
    # as a fixed-width window that repeats the column's last sample (faster than reduceat).
    starts = np.ceil(np.arange(size + 1) * n / size - 0.5).astype(int).clip(0, n)
    has = starts[1:] > starts[:-1]
    if has.any():
        width = int(np.max(starts[1:] - starts[:-1]))
        last = np.minimum(np.maximum(starts[1:] - 1, starts[:-1]), n - 1)
        window = batch[..., np.minimum(starts[:-1, None] + np.arange(width), last[:, None])]
        lo = np.where(has, np.minimum(lo, window.min(axis=-1)), lo)
        hi = np.where(has, np.maximum(hi, window.max(axis=-1)), hi)
    return lo, hi


def render_batch(batch: np.ndarray, config: RenderConfig = DEFAULT_RENDER) -> np.ndarray:
    """Render ``(B, leads, samples)`` mV to ``(B, size, size, 3)`` uint8 images."""
    batch = np.asarray(batch, dtype=np.float32)
    if batch.ndim != 3 or batch.shape[1] == 0 or batch.shape[2] == 0:
        raise ValueError(f"render_batch expects (B, leads, samples) with leads, samples >= 1, "
                         f"got shape {batch.shape}")  # fmt: skip
    if not np.isfinite(batch).all():
        raise ValueError("render_batch: signal contains NaN/inf")
    size = config.size
    out = np.empty((batch.shape[0], size, size, 3), dtype=np.uint8)
    starts = range(0, batch.shape[0], _CHUNK)
    threads = min(render_threads(), len(starts))
    if threads < 2:
        for start in starts:
            _rasterise(batch[start : start + _CHUNK], config, out[start : start + _CHUNK])
        return out
    # numpy releases the GIL in the heavy array operations: chunks render in parallel
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda i: _rasterise(batch[i : i + _CHUNK], config, out[i : i + _CHUNK]),
                      starts))  # fmt: skip
    return out


def render_threads() -> int:
    """Threads for :func:`render_batch`: ``BENCH_RENDER_THREADS`` or the CPU count (≤ 8)."""
    return worker_count("BENCH_RENDER_THREADS")


#: Images rasterised together: keeps the working set in cache (measured fastest).
_CHUNK = 16


def _rasterise(batch: np.ndarray, config: RenderConfig, out: np.ndarray) -> None:
    """Draw a small ``(B, leads, samples)`` batch into ``out`` ``(B, size, size, 3)`` uint8."""
    n_batch, n_leads, _ = batch.shape
    size = config.size
    base, scale = baselines_and_scale(n_leads, config)
    lo, hi = _column_extents(batch, size)
    # A stroke of width w crossing a column with vertical extent d inks w * sqrt(1 + d^2)
    # pixels there: draw an interval that long (but never shorter than d) about its centre.
    centre = base.astype(np.float32)[:, None] - (hi + lo) * np.float32(scale / 2)
    extent = (hi - lo) * np.float32(scale)
    half = np.maximum(extent, config.line_width * np.sqrt(1 + extent * extent)) / 2
    top = np.clip(centre - half, 0, size)  # y grows downwards
    bottom = np.clip(centre + half, 0, size)
    # Coverage of row r by [a, b] is U_a(r) - U_b(r) with U_t(r) = clip(r + 1 - t, 0, 1);
    # the first difference of U_t is (1 - f) at floor(t) and f at floor(t) + 1, f = frac(t).
    # Scatter those deltas in fixed point (1 = 255), then sum down the rows.
    rows = size + 2
    acc = np.zeros(n_batch * rows * size, dtype=np.int16 if n_leads <= 128 else np.int32)
    cell = (np.arange(n_batch)[:, None, None] * rows) * size + np.arange(size)
    index, delta = [], []
    for t, sign in ((top, 1), (bottom, -1)):
        k = t.astype(np.int64)  # t >= 0, so truncation is floor
        second = np.rint((t - k) * 255).astype(acc.dtype)
        index += [cell + k * size, cell + (k + 1) * size]
        delta += [sign * (255 - second), sign * second]
    np.add.at(acc, np.concatenate(index, axis=None), np.concatenate(delta, axis=None))
    acc = acc.reshape(n_batch, rows, size)
    for r in range(1, size):
        acc[:, r] += acc[:, r - 1]
    ink = np.minimum(acc[:, :size], 255, out=acc[:, :size])
    if not config.antialias:
        ink = np.where(ink >= 128, 255, 0)
    for channel in range(3):
        np.subtract(255, ink, out=out[..., channel], casting="unsafe")


def render(leads: np.ndarray, config: RenderConfig = DEFAULT_RENDER) -> np.ndarray:
    """Render one ``(leads, samples)`` mV array to a ``(size, size, 3)`` uint8 image."""
    return render_batch(np.asarray(leads)[None], config)[0]
