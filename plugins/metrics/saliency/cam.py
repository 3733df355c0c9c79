"""Class activation maps of a classifier on rendered ECG images, via ``pytorch_grad_cam``.

The model declares where to look (:attr:`bench.host.specs.ModelSpec.saliency_layers`) and, for
transformers, how to turn tokens into a spatial grid (``saliency_reshape``); this module
only normalises the images the way the model was trained and runs the chosen CAM method
in batches. ``pytorch_grad_cam`` is imported lazily: it pulls in OpenCV and torchvision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch

if TYPE_CHECKING:
    from torch import nn

    from bench.api import ModelSpec

#: CLI name → pytorch_grad_cam class name.
CAM_METHODS: dict[str, str] = {
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "eigencam": "EigenCAM",
    "scorecam": "ScoreCAM",
}


class SaliencyTarget(NamedTuple):
    """Where a CAM looks: target ``layers`` and the token-to-grid ``reshape`` (or ``None``)."""

    layers: list[nn.Module]
    reshape: Callable[..., Any] | None = None


def saliency_target(spec: ModelSpec, module: nn.Module) -> SaliencyTarget:
    """The :class:`SaliencyTarget` a :class:`~bench.host.specs.ModelSpec` declares for ``module``."""
    if spec.saliency_layers is None:
        raise ValueError(
            f"model {spec.name!r} declares no saliency_layers in its ModelSpec; "
            f"Grad-CAM needs the layer(s) to explain"
        )
    layers = spec.saliency_layers(module)
    if not layers:
        raise ValueError(f"model {spec.name!r}: saliency_layers returned no layers")
    return SaliencyTarget(list(layers), spec.saliency_reshape)


def to_tensor(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(B, S, S, 3)`` uint8 images → ``(B, 3, S, S)`` float32, scaled to [0, 1] and
    normalised with the model's ``mean`` / ``std``."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"images must be (B, S, S, 3) uint8, got shape {images.shape} dtype {images.dtype}"
        )
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x - m) / s


def _cam_class(method: str) -> type:
    import pytorch_grad_cam

    try:
        cls: type = getattr(pytorch_grad_cam, CAM_METHODS[method])
    except KeyError:
        raise ValueError(
            f"unknown saliency method {method!r}; expected one of {list(CAM_METHODS)}"
        ) from None
    return cls


def compute_cams(
    module: nn.Module,
    target: SaliencyTarget | tuple[list[nn.Module], Callable[..., Any] | None],
    images: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    method: str = "gradcam",
    target_class: int = 1,
    batch_size: int = 16,
) -> np.ndarray:
    """Saliency maps of ``target_class`` for ``(B, S, S, 3)`` uint8 ``images``.

    Returns ``(B, S, S)`` float32 in [0, 1] (each map min-max scaled by pytorch_grad_cam;
    a map that is zero everywhere stays zero). ``method`` is one of :data:`CAM_METHODS`.
    The module is put in eval mode and its device is used.
    """
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    layers, reshape = target
    cam_class = _cam_class(method)
    tensor = to_tensor(images, mean, std)
    module.eval()
    out = np.empty((len(tensor), *tensor.shape[-2:]), dtype=np.float32)
    # Not used as a context manager: its __exit__ silently swallows IndexError.
    cam = cam_class(model=module, target_layers=list(layers), reshape_transform=reshape)
    cam.batch_size = batch_size  # ScoreCAM's forward batch over channel masks
    try:
        for start in range(0, len(tensor), batch_size):
            chunk = tensor[start : start + batch_size]
            targets = [ClassifierOutputTarget(target_class)] * len(chunk)
            out[start : start + len(chunk)] = cam(input_tensor=chunk, targets=targets)
    finally:
        cam.activations_and_grads.release()
    return np.clip(out, 0.0, 1.0)
