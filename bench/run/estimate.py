"""What a grid will cost, printed before any cell runs: time and disk, from throughput
measured on this machine.

Each model's throughput is measured once per machine and setting — one training step
(forward, backward, AdamW update) at the profile's batch size and one inference batch, on
zero inputs of the model's input shape, at the cells' thread count, after one warm-up step
— and kept in ``throughput.json`` in the cache directory, so later runs reuse it. A cell's
time is then:

- fine-tuning: its planned optimiser steps × the step time, plus every planned evaluation
  of the validation set and the final scoring of validation and evaluation sets at the
  inference time per ECG. Early stopping can end a cell sooner: the estimate is an upper
  bound of the steps;
- ``frozen-attn``: as fine-tuning, with the step time of the forward pass alone (only the
  small head trains);
- ``linear-probe``: the features of every training, validation and evaluation ECG.

Disk: the input caches the run still has to build (ECGs × bytes per ECG of each
representation), the predictions of each cell, and each fine-tuned cell's checkpoint (the
resumable state — weights and AdamW's two moments — plus the selected weights: 16 bytes per
parameter). Cells run side by side by the local executor's workers divide the wall time.
The throughput is an idle machine's: when the 1-minute load average is at or above the
CPU count as the estimate is made, it says that the times will run longer.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.run.provenance import stable_hash
from bench.run.store import atomic_write_text
from bench.training.heads import protocol_model
from bench.training.objectives import head_outputs
from bench.training.plan import Plan
from bench.weights.files import RANDOM

if TYPE_CHECKING:
    from bench.run.cells import CellPlan
    from bench.run.context import CellContext
    from bench.run.task_data import PreparedTask

THROUGHPUT_FILE = "throughput.json"
#: Bytes of one row of a predictions table (ids, label, score, split), roughly.
PREDICTION_ROW_BYTES = 80
#: Bytes per parameter a fine-tuned cell keeps: its weights, AdamW's two moments (the
#: resumable state) and the selected weights, in float32.
CHECKPOINT_BYTES_PER_PARAM = 16
#: Timed steps (after one warm-up); the median is kept.
TIMED_STEPS = 3


@dataclass(frozen=True)
class Throughput:
    """A model's measured speed: seconds per training step and per ECG of inference."""

    step_s: float
    infer_s_per_ecg: float
    params: int


@dataclass
class GridEstimate:
    """The estimated cost of the cells a run will train."""

    cells: int = 0
    seconds: float = 0.0
    disk_bytes: int = 0
    cache_bytes: int = 0
    workers: int = 1
    #: Models whose throughput could not be measured, with the reason (their cells are
    #: left out of the estimate).
    unmeasured: dict[str, str] = field(default_factory=dict)
    #: The 1-minute load average and the CPU count when the estimate was made (None where
    #: the platform has no load average): the throughput is that of an idle machine.
    load: float | None = None
    cores: int | None = None

    def describe(self) -> str:
        """What the console prints before the cells run."""
        wall = self.seconds / max(1, min(self.workers, self.cells or 1))
        parallel = f" on {self.workers} workers" if self.workers > 1 else ""
        line = (
            f"estimate: {self.cells} cell(s) to train, at most ~{_duration(wall)}{parallel} "
            f"(throughput measured on this machine) and ~{_size(self.disk_bytes)} of disk "
            f"({_size(self.cache_bytes)} of input caches still to build)"
        )
        if self.load is not None and self.cores and self.load >= self.cores:
            line += (
                f"\nestimate: the machine is busy (1-minute load {self.load:.1f} on "
                f"{self.cores} CPU(s)): the times are an idle machine's, expect longer"
            )
        for model, reason in self.unmeasured.items():
            line += f"\nestimate: {model} left out, its throughput could not be measured ({reason})"
        return line


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:.0f} B"


def _timed(step: Callable[[], None], repeats: int = TIMED_STEPS) -> float:
    """Median seconds of ``step()`` over ``repeats`` calls after one warm-up call."""
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(context: CellContext, prepared: PreparedTask, plan: CellPlan) -> Throughput:
    """Measure ``plan``'s model (see the module docstring)."""
    import torch

    from bench.executors.worker import intra_op_threads

    spec, config = plan.spec, plan.train_config
    inputs = context.inputs
    shape = spec.input.item_shape(inputs.preprocess, inputs.render)
    outputs = head_outputs(prepared.task.kind, prepared.labels)
    with intra_op_threads(context.cell_threads):
        built = spec.build(
            num_classes=outputs,
            profile=plan.model_profile,
            input_size=plan.input_size,
            weights=RANDOM,
        )
        x = torch.zeros((config.batch_size, *shape))
        protocol, labels, kind = plan.key.protocol, prepared.labels, prepared.task.kind
        built = protocol_model(built, spec, protocol, outputs, x[:1], labels, kind)
        module = built.module
        if spec.input.channels_last:
            module = module.to(memory_format=torch.channels_last)
            x = x.to(memory_format=torch.channels_last)
        optimizer = torch.optim.AdamW(module.parameters(), lr=1e-6)

        def train_step() -> None:
            module.train()
            optimizer.zero_grad()
            module(x).float().square().mean().backward()
            optimizer.step()

        def infer() -> None:
            module.eval()
            with torch.no_grad():
                module(x)

        step_s = _timed(train_step)
        infer_s = _timed(infer) / config.batch_size
    params = sum(p.numel() for p in module.parameters())
    return Throughput(step_s, infer_s, params)


class ThroughputCache:
    """Measured throughputs by setting, kept in the cache directory's ``throughput.json``
    (``write=False``, a dry run's: read, never written)."""

    def __init__(self, root: Path, write: bool = True) -> None:
        self.path = root / THROUGHPUT_FILE
        self.write = write
        self.values: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            try:
                self.values = json.loads(self.path.read_text())
            except (OSError, ValueError):
                self.values = {}  # a damaged file is measured again

    @staticmethod
    def key(context: CellContext, plan: CellPlan) -> str:
        """What a measurement depends on: model, representation, profile, batch size,
        threads, device and torch version."""
        import torch

        return stable_hash(
            {
                "model": plan.spec.name,
                "representation": context.inputs.representation_hash(plan.spec),
                "profile": plan.model_profile,
                "input_size": plan.input_size,
                "batch_size": plan.train_config.batch_size,
                "threads": context.cell_threads,
                "device": str(plan.train_config.device),
                "torch": torch.__version__,
            }
        )

    def get(self, context: CellContext, prepared: PreparedTask, plan: CellPlan) -> Throughput:
        """The throughput of ``plan``'s setting, measured now if it is not stored yet."""
        key = self.key(context, plan)
        if key not in self.values:
            self.values[key] = asdict(measure(context, prepared, plan))
            if self.write:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(self.path, json.dumps(self.values, indent=1, sort_keys=True))
        return Throughput(**self.values[key])


def cell_cost(prepared: PreparedTask, plan: CellPlan, speed: Throughput) -> tuple[float, int]:
    """Seconds and bytes of disk of one cell (see the module docstring)."""
    protocol = plan.key.protocol
    n_val = len(plan.validation_ids)
    n_eval = sum(len(ids) for ids in prepared.eval_sets.values())
    predictions = (n_val + n_eval) * PREDICTION_ROW_BYTES
    if protocol == "linear-probe":
        return (len(plan.train_ids) + n_val + n_eval) * speed.infer_s_per_ecg, predictions
    schedule = Plan.from_config(len(plan.train_ids), plan.train_config)
    step_s = speed.infer_s_per_ecg * plan.train_config.batch_size
    step_s = step_s if protocol == "frozen-attn" else speed.step_s
    scoring = (len(schedule.eval_steps) * n_val + n_val + n_eval) * speed.infer_s_per_ecg
    disk = predictions + CHECKPOINT_BYTES_PER_PARAM * speed.params
    return schedule.total_steps * step_s + scoring, disk


def estimate_grid(
    context: CellContext,
    cells: Sequence[tuple[PreparedTask, CellPlan]],
    cache_bytes: int,
) -> GridEstimate:
    """The estimate of ``cells`` (those the run will train) plus ``cache_bytes`` of caches
    still to build, measuring each model's throughput where it is not stored yet."""
    cache = ThroughputCache(context.cache.root, write=not context.dry_run)
    out = GridEstimate(cache_bytes=cache_bytes, disk_bytes=cache_bytes)
    out.workers = context.config.workers
    out.load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    out.cores = os.cpu_count()
    for prepared, plan in cells:
        try:
            speed = cache.get(context, prepared, plan)
        except Exception as exc:  # an estimate never stops a run: say what is missing
            out.unmeasured.setdefault(plan.spec.name, f"{type(exc).__name__}: {exc}")
            continue
        seconds, disk = cell_cost(prepared, plan, speed)
        out.cells += 1
        out.seconds += seconds
        out.disk_bytes += disk
    return out
