"""Clinically relevant regions as pixel masks, through the renderer's own geometry.

Fiducials (synthetic ground truth or LUDB's cardiologist annotations) are sample indices
at the raw record's rate; the image shows the first ``n_samples`` samples after
resampling to ``target_fs``. :func:`region_windows` converts, :func:`region_masks` maps
the windows to image columns with :func:`bench.data.render.region_mask`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench.api import Fiducials, PreprocessConfig, RenderConfig, region_mask


def region_windows(fiducials: Fiducials, region: str, preprocess: PreprocessConfig) -> np.ndarray:
    """``(k, 2)`` sample windows of ``region`` at ``preprocess.target_fs``, restricted to
    the rendered first ``preprocess.n_samples`` samples (beats starting later are dropped,
    a window running past the end is cut)."""
    windows = fiducials.windows(region, fs=preprocess.target_fs)
    windows = windows[windows[:, 0] < preprocess.n_samples]
    return np.clip(windows, 0.0, preprocess.n_samples - 1.0)


def region_masks(
    fiducials: Sequence[Fiducials],
    region: str,
    preprocess: PreprocessConfig,
    render: RenderConfig,
) -> np.ndarray:
    """``(B, S, S)`` bool masks of ``region`` for each record's fiducials (all lead rows:
    every lead shows the same instants in the same columns)."""
    masks = [
        region_mask(region_windows(f, region, preprocess), preprocess.n_samples, render)
        for f in fiducials
    ]
    return np.stack(masks) if masks else np.zeros((0, render.size, render.size), dtype=bool)
