"""Datasets over cached arrays, fetched a whole batch at a time.

Rendered images are cached as a uint8 ``(N, S, S, 3)`` memmap and signals as float32
``(N, leads, samples)``; an :class:`ArrayDataset` exposes a subset of rows (a split) with
labels. ``__getitems__`` reads a batch with one fancy-indexing call and normalises it in
torch, so per-item Python overhead never dominates; :func:`collate_batch` passes that
batch through a :class:`torch.utils.data.DataLoader` unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from bench.data.representation import IMAGENET_MEAN, IMAGENET_STD

Batch = tuple[torch.Tensor, torch.Tensor]
KINDS = ("image", "signal")


class ArrayDataset(Dataset[Batch]):
    """Rows ``rows`` of ``array`` with ``labels`` aligned with ``rows``: binary ``(n,)``
    (int64, for cross-entropy) or a multi-label 0/1 matrix ``(n, K)`` (float32, for BCE).

    ``kind="image"``: uint8 ``(N, S, S, 3)`` → float ``(3, S, S)`` normalised with
    ``mean``/``std`` (0–1 scale). ``kind="signal"``: float32 ``(N, leads, samples)``
    returned as is.
    """

    def __init__(
        self,
        array: np.ndarray,
        rows: np.ndarray,
        labels: np.ndarray,
        kind: str,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"ArrayDataset kind {kind!r}: expected one of {KINDS}")
        rows = np.asarray(rows, dtype=np.int64)
        labels = np.asarray(labels)
        if rows.ndim != 1 or labels.ndim not in (1, 2) or labels.shape[:1] != rows.shape:
            raise ValueError(
                f"ArrayDataset: rows {rows.shape} must be 1-D and labels {labels.shape} "
                "(n,) or (n, K) with the same n"
            )
        if rows.size and (rows.min() < 0 or rows.max() >= len(array)):
            raise ValueError(f"ArrayDataset: rows must lie in [0, {len(array)})")
        if kind == "image" and (array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8):
            raise ValueError(
                f"ArrayDataset image array: expected uint8 (N, S, S, 3), got "
                f"{array.dtype} {array.shape}"
            )
        if kind == "signal" and array.ndim != 3:
            raise ValueError(
                f"ArrayDataset signal array: expected (N, leads, samples), got {array.shape}"
            )
        self.array = array
        self.rows = rows
        binary = labels.ndim == 1 and not np.issubdtype(labels.dtype, np.floating)
        self.labels = labels.astype(np.int64 if binary else np.float32)  # float: BCE, targets
        self.kind = kind
        self._mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1) * 255.0
        self._scale = 1.0 / (torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1) * 255.0)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Batch:
        x, y = self.__getitems__([index])
        return x[0], y[0]

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        """A batch ``(inputs, labels)`` read with one indexing call on the array."""
        idx = np.asarray(indices, dtype=np.int64)
        rows = self.rows[idx]
        # Memmaps read fastest in increasing row order; restore the requested order after.
        order = np.argsort(rows, kind="stable")
        data = np.empty((len(rows), *self.array.shape[1:]), dtype=self.array.dtype)
        data[order] = self.array[rows[order]]
        x = torch.from_numpy(data)
        if self.kind == "image":
            x = (x.permute(0, 3, 1, 2).float() - self._mean) * self._scale
        else:
            x = x.float()
        return x, torch.from_numpy(self.labels[idx])


def collate_batch(batch: Batch) -> Batch:
    """DataLoader ``collate_fn`` for datasets whose ``__getitems__`` already batches."""
    return batch
