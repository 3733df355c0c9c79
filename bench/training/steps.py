"""The step loop every training run shares: fine-tuning (:mod:`bench.training.loop`) and
the pretraining recipes (:func:`bench.training.pretraining.pretrain_loop`).

A run supplies ``step(index) -> StepOutput`` (draw a batch, forward under
:func:`bench.training.devices.autocast`, return the loss) and an ``after`` hook (record,
evaluate, checkpoint, stop early); :func:`run_steps` turns each loss into an update through
an :class:`Updater` (zero the gradients, backpropagate, clip, step the optimiser, then the
scheduler). The updater's :meth:`Updater.state_dict` is the optimiser-and-schedule part of
a resumable train state, written with :func:`save_atomic`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn


@dataclass
class StepOutput:
    """One optimiser step's loss, the scalars to show and keep, and the items it consumed."""

    loss: Tensor
    logs: dict[str, float]
    items: int


@dataclass
class Updater:
    """Turns a loss into one optimiser update under a learning-rate schedule.

    ``clip_grad`` (None: no clipping) bounds the total gradient norm of the optimised
    parameters before the optimiser steps.
    """

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    clip_grad: float | None = None

    def update(self, loss: Tensor) -> None:
        """Zero the gradients, backpropagate ``loss``, clip, step the optimiser, then the
        scheduler."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip_grad is not None:
            parameters = [p for group in self.optimizer.param_groups for p in group["params"]]
            nn.utils.clip_grad_norm_(parameters, self.clip_grad)
        self.optimizer.step()
        self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        """The optimiser's and the scheduler's state (``optimizer``, ``scheduler``)."""
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` gave (other keys of ``state`` are ignored)."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


def run_steps(
    step: Callable[[int], StepOutput],
    updater: Updater,
    start: int,
    stop: int,
    after: Callable[[int, StepOutput], bool],
) -> int:
    """Run optimiser steps ``start`` … ``stop - 1`` (0-based): ``step(index)`` computes the
    loss, ``updater`` applies it, then ``after(done, output)`` sees the number of steps
    done so far and returns True to stop early. Returns the number of steps done."""
    done = start
    for index in range(start, stop):
        output = step(index)
        updater.update(output.loss)
        done = index + 1
        if after(done, output):
            break
    return done


def save_atomic(path: Path, payload: Mapping[str, Any]) -> None:
    """``torch.save`` ``payload`` to ``path`` atomically (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(dict(payload), tmp)
    os.replace(tmp, path)
