"""PNG grids of saliency overlays: the ECG image, its heat map, lead names on each row."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.api import RenderConfig, lead_row_band

#: Image pairs (ECG, overlay) per figure row.
PAIRS_PER_ROW = 2


def _label_leads(ax: object, leads: Sequence[str], render: RenderConfig) -> None:
    for index, name in enumerate(leads):
        top, bottom = lead_row_band(index, len(leads), render)
        ax.text(  # type: ignore[attr-defined]
            -0.01 * render.size, (top + bottom) / 2, name, ha="right", va="center", fontsize=7
        )


def save_overlay_grid(
    path: Path,
    images: np.ndarray,
    cams: np.ndarray,
    leads: Sequence[str],
    render: RenderConfig,
    titles: Sequence[str] | None = None,
    masks: np.ndarray | None = None,
) -> Path:
    """Write a PNG with, per image, the rendered ECG and the CAM overlaid on it.

    ``images`` ``(B, S, S, 3)`` uint8, ``cams`` ``(B, S, S)`` in [0, 1]; ``masks`` (optional,
    ``(B, S, S)`` bool) outlines the clinically relevant region on the ECG panel.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(images) == 0 or len(images) != len(cams):
        raise ValueError(f"need as many maps as images (>= 1), got {len(images)} and {len(cams)}")
    n = len(images)
    cols = min(PAIRS_PER_ROW, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, 2 * cols, figsize=(5.2 * cols, 2.7 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for i in range(n):
        ecg, heat = axes[i // cols, 2 * (i % cols)], axes[i // cols, 2 * (i % cols) + 1]
        ecg.imshow(images[i])
        if masks is not None:
            ecg.contourf(masks[i], levels=[0.5, 1.5], colors=["tab:green"], alpha=0.15)
        _label_leads(ecg, leads, render)
        heat.imshow(images[i])
        heat.imshow(cams[i], cmap="jet", alpha=0.45, vmin=0.0, vmax=1.0)
        if titles is not None:
            ecg.set_title(titles[i], fontsize=8)
            heat.set_title("saliency", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
