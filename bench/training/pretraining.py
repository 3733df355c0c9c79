"""Machinery every pretraining recipe shares (HeartBEiT's MIM, ECG-FM's WCR): process-group
set-up under ``torchrun``, the warm-up + cosine schedule, DistributedDataParallel wrapping,
train-state files for ``--resume`` and the pretraining loop (:func:`pretrain_loop`, on the
shared step loop of :mod:`bench.training.steps`); a recipe supplies its step and
checkpoints. Devices and bf16 autocast come from :mod:`bench.training.devices`.

Multi-GPU / multi-node: launch with ``torchrun --nproc-per-node N -m bench pretrain ...``;
:func:`init_distributed` joins the process group (NCCL on GPUs, gloo on CPU), gradients are
averaged by DistributedDataParallel and rank 0 writes files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
import torch.distributed as dist
from rich.progress import Progress
from torch import nn

from bench.training.recipe import cosine_decay
from bench.training.steps import StepOutput, Updater, run_steps, save_atomic


class ScheduleSettings(Protocol):
    """What :func:`warmup_cosine` reads from a pretraining config."""

    @property
    def steps(self) -> int: ...
    @property
    def warmup_steps(self) -> int: ...
    @property
    def min_lr_ratio(self) -> float: ...


def warmup_cosine(config: ScheduleSettings) -> Callable[[int], float]:
    """LR multiplier: linear warm-up, then cosine decay to ``min_lr_ratio``."""

    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        return cosine_decay(step, config.warmup_steps, config.steps, config.min_lr_ratio)

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


@dataclass
class LoopResult:
    """What a pretraining loop produced: the final checkpoint and the per-step history
    (``loss`` plus the step's logs) of the steps this call ran."""

    checkpoint: Path | None
    steps: int
    history: list[dict[str, float]] = field(default_factory=list)
    items_per_s: float = 0.0


class LoopConfig(ScheduleSettings, Protocol):
    """What :func:`pretrain_loop` reads from a pretraining config."""

    @property
    def clip_grad(self) -> float: ...
    @property
    def checkpoint_every(self) -> int: ...
    @property
    def compile(self) -> bool: ...


@dataclass
class Checkpointing:
    """How a recipe saves and restores its model.

    ``save(path, metadata)`` writes the model file; ``state()``/``load(state)`` give and
    take the model part of ``train-state.pt``; ``extra`` is stored beside it and must be
    equal on resume (e.g. the tokenizer's hash), ``final``/``every`` name the files.
    """

    save: Callable[[Path, dict[str, str]], None]
    state: Callable[[], dict[str, torch.Tensor]]
    load: Callable[[dict[str, torch.Tensor]], None]
    final: str
    every: str = "step{step}.safetensors"
    extra: dict[str, str] = field(default_factory=dict)


TRAIN_STATE = "train-state.pt"


def pretrain_loop(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    config: LoopConfig,
    output_dir: Path,
    make_step: Callable[[nn.Module, int], Callable[[int], StepOutput]],
    checkpointing: Checkpointing,
    metadata: dict[str, str],
    *,
    resume: bool = False,
    progress: bool = True,
    label: str = "pretraining",
    unit: str = "items",
) -> LoopResult:
    """The pretraining loop: resume, DDP/compile wrapping, warm-up + cosine, gradient
    clipping, periodic and final checkpoints (rank 0) with ``metadata`` plus the running
    ``steps`` and ``loss``, and ``train-state.pt``; the steps themselves run in
    :func:`bench.training.steps.run_steps`, as fine-tuning's do.

    ``make_step(train_module, start)`` returns the per-step function (it gets the wrapped
    module and the step training starts from, so a resumed run draws fresh data).
    """
    rank, world = rank_world()
    device = next(model.parameters()).device
    out = Path(output_dir)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(config))
    updater = Updater(optimizer, scheduler, config.clip_grad)
    state_path, start = out / TRAIN_STATE, 0
    if resume and state_path.is_file():
        state = torch.load(state_path, map_location=device, weights_only=True)
        for key, value in checkpointing.extra.items():
            if state.get(key) != value:
                raise ValueError(
                    f"{state_path}: was trained with {key.replace('_', ' ')} {state.get(key)}, "
                    f"not {value}; resume with the same settings or use a new --output"
                )
        checkpointing.load(state["model"])
        updater.load_state_dict(state)
        start = int(state["step"])
    step_fn = make_step(wrap_for_training(model, device, config.compile), start)
    result = LoopResult(checkpoint=None, steps=start)
    meta = {"world_size": str(world), **metadata}

    def save(name: str) -> Path:
        path = out / name
        checkpointing.save(path, meta)
        save_atomic(state_path, {
            "model": checkpointing.state(), **updater.state_dict(), "step": result.steps,
            **checkpointing.extra,
        })  # fmt: skip
        return path

    model.train()
    seen, t0 = 0, time.perf_counter()
    with _progress(label, unit, progress and rank == 0) as bar:
        task = bar.add_task(label, total=config.steps, completed=start, logs="", rate=0.0)

        def after(done: int, output: StepOutput) -> bool:
            nonlocal seen
            logs = {"loss": float(output.loss.detach()), **output.logs}
            result.history.append(logs)
            seen += output.items * world
            result.items_per_s = seen / (time.perf_counter() - t0)
            result.steps = done
            shown = " ".join(f"{k} {v:.3f}" for k, v in logs.items())
            bar.update(task, advance=1, logs=shown, rate=result.items_per_s)
            total = done * output.items * world  # items seen since step 0
            meta.update({"steps": str(done), unit: str(total), "loss": f"{logs['loss']:.5f}"})
            meta.update({k: f"{v:.5f}" for k, v in output.logs.items()})
            every = config.checkpoint_every
            if rank == 0 and every and done % every == 0 and done < config.steps:
                save(checkpointing.every.format(step=done))
            return False

        run_steps(step_fn, updater, start, config.steps, after)
    if rank == 0 and result.steps > start:
        result.checkpoint = save(checkpointing.final)
    elif (out / checkpointing.final).is_file():
        result.checkpoint = out / checkpointing.final
    return result


def _progress(label: str, unit: str, enabled: bool) -> Progress:
    from rich.progress import BarColumn, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[logs]}"),
        TextColumn(f"{{task.fields[rate]:.0f}} {unit}/s"),
        TimeRemainingColumn(),
        disable=not enabled,
    )
