"""Device selection and the per-device training settings (autocast, memory format, loaders)."""

from __future__ import annotations

import contextlib
import os
from typing import Literal

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
#: Arithmetic precision of a forward pass (``--precision``): float32 throughout, or
#: autocast to bfloat16 / float16 (weights stay float32).
Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16", "fp16")
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class DeviceError(ValueError):
    """A requested device does not exist on this machine."""


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` (CUDA, then Apple MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``.

    Under ``torchrun`` (``LOCAL_RANK`` set) ``"auto"`` picks this rank's GPU. Raises
    :class:`DeviceError` when the device is unknown or not present.
    """
    if name == "auto":
        if torch.cuda.is_available():
            local_rank = os.environ.get("LOCAL_RANK")
            return torch.device("cuda", int(local_rank)) if local_rank else torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise DeviceError(f"device {name!r}: unknown; expected one of {DEVICE_CHOICES}") from exc
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if count == 0:
            raise DeviceError(f"device {name!r}: CUDA is not available on this machine")
        if device.index is not None and device.index >= count:
            raise DeviceError(f"device {name!r}: only {count} CUDA device(s) present")
    elif device.type == "mps" and not _mps_available():
        raise DeviceError(f"device {name!r}: Apple MPS is not available on this machine")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"device {name!r}: unsupported; expected one of {DEVICE_CHOICES}")
    return device


def autocast(
    device: torch.device, enabled: bool | Precision
) -> contextlib.AbstractContextManager[object]:
    """The autocast context of a forward pass.

    ``enabled`` is the engine's ``amp`` flag (``True``: bf16 autocast on CUDA, a no-op
    elsewhere, where CPU/MPS run in fp32) or an explicit :data:`Precision`: ``"fp32"`` is a
    no-op, ``"bf16"``/``"fp16"`` autocast to that dtype on any device type, CPU included
    (``bench embed --precision``). An explicit precision the device cannot autocast to is a
    :class:`DeviceError`.
    """
    if enabled is True:
        enabled = "bf16" if device.type == "cuda" else "fp32"
    if enabled is False or enabled == "fp32":
        return contextlib.nullcontext()
    if enabled not in _AUTOCAST_DTYPES:
        raise DeviceError(f"precision {enabled!r}: expected one of {PRECISIONS}")
    try:
        return torch.autocast(device.type, dtype=_AUTOCAST_DTYPES[enabled])
    except RuntimeError as exc:
        raise DeviceError(f"precision {enabled!r} is not supported on {device}: {exc}") from exc


def uses_pinned_memory(device: torch.device) -> bool:
    """Pinned host memory speeds host-to-GPU copies; only useful for CUDA."""
    return device.type == "cuda"
