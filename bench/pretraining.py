"""Machinery every pretraining recipe shares (HeartBEiT's MIM, ECG-FM's WCR): device and
process-group set-up under ``torchrun``, the warm-up + cosine schedule, bf16 autocast on
GPUs, DistributedDataParallel wrapping, and atomic train-state files for ``--resume``.

Multi-GPU / multi-node: launch with ``torchrun --nproc-per-node N -m bench pretrain ...``;
:func:`init_distributed` joins the process group (NCCL on GPUs, gloo on CPU), gradients are
averaged by DistributedDataParallel and rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from torch import nn


class Schedule(Protocol):
    """What :func:`warmup_cosine` reads from a pretraining config."""

    @property
    def steps(self) -> int: ...
    @property
    def warmup_steps(self) -> int: ...
    @property
    def min_lr_ratio(self) -> float: ...


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → CUDA when available (this rank's GPU under torchrun), else CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    return torch.device(name)


def warmup_cosine(config: Schedule) -> Callable[[int], float]:
    """LR multiplier: linear warm-up, then cosine decay to ``min_lr_ratio``."""

    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        span = max(1, config.steps - config.warmup_steps)
        progress = min(1.0, (step - config.warmup_steps) / span)
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine

    return factor


def rank_world() -> tuple[int, int]:
    """``(rank, world size)`` of this process (``(0, 1)`` without a process group)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(device: str) -> bool:
    """Join the torchrun process group when launched with WORLD_SIZE > 1; True if joined."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    use_cuda = device != "cpu" and torch.cuda.is_available()
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return True


def training_autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA, a no-op elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def wrap_for_training(model: nn.Module, device: torch.device, compile_: bool) -> nn.Module:
    """``model`` in DistributedDataParallel when several ranks train, compiled on request."""
    _, world = rank_world()
    wrapped = model
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        wrapped = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if compile_:
        wrapped = torch.compile(wrapped)  # type: ignore[assignment]
    return wrapped


def save_train_state(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` ``payload`` atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
