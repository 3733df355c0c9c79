"""Device placement, data loaders and batched inference shared by fine-tuning and probing."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from bench.training.datasets import ArrayDataset, Batch, collate_batch
from bench.training.devices import Precision, autocast, uses_pinned_memory

_GPU_WORKERS = 8


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def worker_count(device: torch.device, requested: int | None) -> int:
    """``requested`` or, when None, 0 on CPU and a few processes feeding a GPU."""
    if requested is not None:
        return requested
    if device.type != "cuda":
        return 0
    return min(_GPU_WORKERS, max(1, (os.cpu_count() or 2) // 2))


class DeviceBatches:
    """Iterates ``(inputs, labels)`` batches of a dataset on ``device``.

    Batches are fetched whole through :meth:`ArrayDataset.__getitems__`; on CUDA host
    memory is pinned and copies are asynchronous. ``channels_last`` applies to images.
    """

    def __init__(
        self,
        dataset: ArrayDataset,
        batches: list[list[int]],
        device: torch.device,
        num_workers: int,
        channels_last: bool = False,
    ) -> None:
        self.loader: Iterable[Batch] = DataLoader(
            dataset,
            batch_sampler=batches,
            collate_fn=collate_batch,  # type: ignore[arg-type]
            num_workers=num_workers,
            pin_memory=uses_pinned_memory(device),
        )
        self.device = device
        self.channels_last = channels_last and dataset.kind == "image"

    def __iter__(self) -> Iterator[Batch]:
        non_blocking = uses_pinned_memory(self.device)
        for x, y in self.loader:
            x = x.to(self.device, non_blocking=non_blocking)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y.to(self.device, non_blocking=non_blocking)


def sequential_batches(n: int, batch_size: int) -> list[list[int]]:
    """``range(n)`` in order, in batches."""
    return [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]


@torch.no_grad()
def predict(
    forward: Callable[[torch.Tensor], torch.Tensor],
    module: nn.Module,
    batches: DeviceBatches,
    device: torch.device,
    amp: bool | Precision,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``forward`` over all batches in eval mode; returns (outputs float64, labels). A
    module in training mode is put in eval mode and back; one already in eval mode is left
    as it is (each switch walks every submodule: milliseconds for a deep CNN)."""
    was_training = module.training
    if was_training:
        module.eval()
    outputs, labels = [], []
    try:
        for x, y in batches:
            with autocast(device, amp):
                out = forward(x)
            outputs.append(out.float().cpu())
            labels.append(y.cpu())
    finally:
        if was_training:
            module.train()
    return torch.cat(outputs).double().numpy(), torch.cat(labels).numpy()
