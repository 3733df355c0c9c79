"""Saliency of signal models (ECG-FM, resnet1d) on the raw ECG, on the same scale as images.

- ``"gradcam"``: Grad-CAM over the model's temporal feature map (the layer the spec names;
  ``saliency_reshape`` turns it into ``(B, C, T')``), linearly upsampled to the input's
  samples and shared by every lead;
- ``"integrated-gradients"``: |integrated gradients| of the positive-class probability
  over (lead × time), from an all-zero baseline (ECG-FM's "absent" signal), 32 steps.

Maps are ``(B, leads, samples)``; the region masks mark the task's fiducial windows in
time on every lead, so :mod:`bench.plugins.metrics.saliency.scores` scores them exactly
like image maps (localisation, pointing game, entropy, Gini). Faithfulness is a ROAD-style
most-relevant-first removal: the top 20 % (lead, sample) cells are replaced by linear
interpolation from their kept neighbours on the same lead, and the drop of the positive
probability is the score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.api import (
    Cohort,
    ECGFormatError,
    ModelSpec,
    SignalRecipe,
    TaskSpec,
    apply_recipe,
)

SIGNAL_METHODS: tuple[str, ...] = ("gradcam", "integrated-gradients")
IG_STEPS = 32
#: Share of (lead, sample) cells removed by the faithfulness score.
REMOVED_SHARE = 0.2


def signal_inputs(
    cohort: Cohort, ids: Sequence[str], n: int, region: str, recipe: SignalRecipe
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The first ``n`` ids whose signal passes ``recipe`` and that have a ``region`` window:
    ids, inputs ``(B, leads, samples)`` and region masks of the same shape."""
    assert cohort.fiducials is not None
    kept, inputs, masks = [], [], []
    for rid in ids:
        try:
            x = apply_recipe(cohort.load_signal(rid), recipe)
        except ECGFormatError:
            continue
        windows = cohort.fiducials(rid).windows(region, fs=recipe.target_fs)
        mask = np.zeros(x.shape[1], dtype=bool)
        for start, end in windows:
            mask[max(0, int(np.floor(start))) : min(x.shape[1], int(np.ceil(end)) + 1)] = True
        if mask.any():
            kept.append(rid)
            inputs.append(x)
            masks.append(np.broadcast_to(mask, x.shape))
        if len(kept) == n:
            break
    if not kept:
        raise ValueError(f"no usable test record with a {region!r} region in {cohort.name!r}")
    return kept, np.stack(inputs), np.stack(masks)


def _positive_probability(module: torch.nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    return torch.softmax(module(x).float(), dim=-1)[:, target]


def gradcam_signal(
    module: torch.nn.Module,
    layer: torch.nn.Module,
    reshape: Callable[[torch.Tensor], torch.Tensor] | None,
    x: torch.Tensor,
    target: int = 1,
) -> np.ndarray:
    """Grad-CAM over ``layer``'s temporal feature map, ``(B, leads, samples)`` in [0, 1]."""
    store: dict[str, torch.Tensor] = {}

    def hook(_: torch.nn.Module, __: Any, output: torch.Tensor) -> None:
        output = output[0] if isinstance(output, tuple) else output
        output.retain_grad()
        store["act"] = output

    handle = layer.register_forward_hook(hook)
    try:
        module.zero_grad(set_to_none=True)
        _positive_probability(module, x, target).sum().backward()
    finally:
        handle.remove()
    act, grad = store["act"], store["act"].grad
    assert grad is not None
    if reshape is not None:
        act, grad = reshape(act), reshape(grad)
    weights = grad.mean(dim=-1, keepdim=True)
    cam = F.relu((weights * act).sum(dim=1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=x.shape[-1], mode="linear", align_corners=False)[:, 0]
    top = cam.amax(dim=-1, keepdim=True)
    cam = torch.where(top > 0, cam / top.clamp_min(1e-12), cam)
    return cam[:, None, :].expand(-1, x.shape[1], -1).numpy().copy()


def integrated_gradients(
    module: torch.nn.Module, x: torch.Tensor, target: int = 1, steps: int = IG_STEPS
) -> np.ndarray:
    """|Integrated gradients| of the positive probability from a zero baseline, ``(B, L, T)``
    scaled to [0, 1] per record (Riemann midpoint rule over ``steps`` points)."""
    total = torch.zeros_like(x)
    for k in range(steps):
        scaled = ((k + 0.5) / steps * x).requires_grad_(True)
        prob = _positive_probability(module, scaled, target).sum()
        (grad,) = torch.autograd.grad(prob, scaled)
        total += grad
    attribution = (x * total / steps).abs()
    top = attribution.flatten(1).amax(dim=1).clamp_min(1e-12)
    return (attribution / top[:, None, None]).detach().numpy()


def _impute(row: np.ndarray, removed: np.ndarray) -> np.ndarray:
    kept = np.flatnonzero(~removed)
    if kept.size == 0:
        return np.zeros_like(row)
    out = row.copy()
    out[removed] = np.interp(np.flatnonzero(removed), kept, row[kept])
    return out


def signal_faithfulness(
    module: torch.nn.Module, x: torch.Tensor, maps: np.ndarray, target: int = 1
) -> np.ndarray:
    """``(B,)`` drop of the positive probability when the top :data:`REMOVED_SHARE` cells
    of each map are removed (linearly interpolated per lead); higher = more faithful."""
    data = x.numpy()
    removed = np.empty_like(data)
    for b in range(len(data)):
        cutoff = np.quantile(maps[b], 1 - REMOVED_SHARE)
        drop = maps[b] >= cutoff if cutoff > 0 else maps[b] > 0
        removed[b] = [_impute(row, m) for row, m in zip(data[b], drop, strict=True)]
    with torch.no_grad():
        before = _positive_probability(module, x, target)
        after = _positive_probability(module, torch.from_numpy(removed), target)
    return (before - after).double().numpy()


def explain_signals(
    spec: ModelSpec,
    module: torch.nn.Module,
    task: TaskSpec,
    cohort: Cohort,
    ids: list[str],
    n: int,
    method: str,
    with_faithfulness: bool = True,
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Maps of ``method`` for up to ``n`` of ``ids``: ``(ids, inputs, maps, masks,
    faithfulness or None)``."""
    recipe = spec.input.recipe
    if recipe is None:
        raise ValueError(f"model {spec.name!r} declares no signal recipe; cannot explain it")
    if method not in SIGNAL_METHODS:
        raise ValueError(f"signal saliency method {method!r}: expected one of {SIGNAL_METHODS}")
    kept, inputs, masks = signal_inputs(cohort, ids, n, task.region, recipe)
    x = torch.from_numpy(inputs)
    module.eval()
    if method == "gradcam":
        if spec.saliency_layers is None:
            raise ValueError(f"model {spec.name!r} declares no saliency_layers for Grad-CAM")
        layer = spec.saliency_layers(module)[-1]
        maps = gradcam_signal(module, layer, spec.saliency_reshape, x)
    else:
        maps = integrated_gradients(module, x)
    faith = signal_faithfulness(module, x, maps) if with_faithfulness else None
    return kept, inputs, maps, masks, faith


def save_signal_overlays(
    path: Path,
    inputs: np.ndarray,
    maps: np.ndarray,
    masks: np.ndarray,
    leads: Sequence[str],
    fs: float,
    titles: Sequence[str],
) -> Path:
    """A PNG with one panel per record: the leads as traces, the saliency as a heat band
    behind each lead, the task's region shaded green along the time axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(inputs)
    fig, axes = plt.subplots(n, 1, figsize=(11, 0.45 * len(leads) * n + 0.4), squeeze=False)
    t_end = inputs.shape[-1] / fs
    for i, ax in enumerate(axes[:, 0]):
        ax.imshow(maps[i], aspect="auto", cmap="jet", alpha=0.5, vmin=0.0, vmax=1.0,
                  extent=(0.0, t_end, len(leads) - 0.5, -0.5), interpolation="nearest")  # fmt: skip
        region = masks[i][0]
        ax.fill_between(np.arange(len(region)) / fs, -0.5, len(leads) - 0.5, where=region,
                        color="tab:green", alpha=0.12, step="mid")  # fmt: skip
        scale = 0.4 / max(float(np.abs(inputs[i]).max()), 1e-6) * 3
        for k in range(len(leads)):
            ax.plot(np.arange(inputs.shape[-1]) / fs, k - scale * inputs[i, k], color="black",
                    linewidth=0.4)  # fmt: skip
        ax.set_yticks(range(len(leads)), list(leads), fontsize=6)
        ax.set_xlim(0.0, t_end)
        ax.set_ylim(len(leads) - 0.5, -0.5)
        ax.set_title(titles[i], fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
