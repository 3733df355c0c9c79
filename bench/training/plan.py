"""The step plan of a training run: batches per epoch, total steps, evaluation points.

Data order is a pure function of (seed, epoch) through a seeded ``torch.Generator``, so a
resumed run sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bench.training.config import TrainConfig

_EPOCH_STRIDE = 1_000_003


def split_batches(order: torch.Tensor, batch_size: int) -> list[list[int]]:
    """Consecutive batches of ``order``; a trailing batch of one joins the previous one
    (batch-norm cannot train on a single example)."""
    batches = [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2].extend(batches.pop())
    return batches


@dataclass(frozen=True)
class Plan:
    """Steps per epoch, total optimiser steps and the steps after which to evaluate."""

    n_train: int
    batch_size: int
    seed: int
    steps_per_epoch: int
    total_steps: int
    eval_steps: tuple[int, ...]

    @classmethod
    def from_config(cls, n_train: int, config: TrainConfig) -> Plan:
        """The plan for ``n_train`` examples under ``config``: ``epochs`` epochs extended to
        at least ``min_steps`` steps, capped at ``max_steps``; evaluations every
        ``eval_every`` steps (else after every epoch, or at ``evaluations`` evenly spread
        points), and always at the last step."""
        if n_train < 2:
            raise ValueError(f"training set has {n_train} example(s); at least 2 are needed")
        per_epoch = len(split_batches(torch.arange(n_train), config.batch_size))
        total = config.epochs * per_epoch
        if config.min_steps is not None:
            total = max(total, config.min_steps)
        if config.max_steps is not None:
            total = min(total, config.max_steps)
        if config.evaluations is None:
            every = config.eval_every or per_epoch
            steps = sorted(set(range(every, total + 1, every)) | {total})
        else:
            k = min(config.evaluations, total)
            steps = sorted({math.ceil(total * i / k) for i in range(1, k + 1)})
        return cls(n_train, config.batch_size, config.seed, per_epoch, total, tuple(steps))

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """The shuffled batches of ``epoch`` (0-based)."""
        generator = torch.Generator().manual_seed(self.seed * _EPOCH_STRIDE + epoch)
        return split_batches(torch.randperm(self.n_train, generator=generator), self.batch_size)

    def epoch_of(self, step: int) -> int:
        """1-based epoch in which optimiser step ``step`` (1-based) happens."""
        return max(1, math.ceil(step / self.steps_per_epoch))
