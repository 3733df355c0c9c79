"""Handing planned cells to an executor: the executor a run asks for, and one job per cell.

The executor comes from the registry (``bench_register_executors``); each job carries the
cell's spec (:func:`bench.executors.worker.cell_spec`) and the resources it asks for.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from bench.executors import CellJob, Executor, ExecutorSettings
from bench.executors.worker import cell_spec

if TYPE_CHECKING:
    from bench.run.cells import CellPlan
    from bench.run.config import RunConfig
    from bench.run.context import CellContext


def in_process(config: RunConfig) -> bool:
    """Whether cells run one after another in the driver's process (``local``, one worker)."""
    return config.executor == "local" and config.workers == 1


def create_executor(context: CellContext, dry_run: bool = False) -> Executor:
    """The configured executor (a plugin's, through ``bench_register_executors``)."""
    config = context.config
    spec = context.host.registries.executors.get(config.executor)
    settings = ExecutorSettings(
        run_dir=context.run_dir,
        workers=config.workers,
        retries=config.retries,
        options=config.executor_options,
        dry_run=dry_run,
        devices=round_robin_devices(config.device),
        console=context.console,
    )
    return spec.create(settings)


def round_robin_devices(device: str) -> list[str]:
    """CUDA device ids to hand to local workers when several GPUs serve ``auto``/``cuda``."""
    import torch

    if device not in ("auto", "cuda") or torch.cuda.device_count() < 2:
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        return [d.strip() for d in visible.split(",") if d.strip()]
    return [str(i) for i in range(torch.cuda.device_count())]


def cell_job(context: CellContext, plan: CellPlan, device: str) -> CellJob:
    """The executor job of a planned cell (resources from the profile or the options);
    ``device`` is the run's resolved device (a CUDA one asks for a GPU)."""
    options = context.config.executor_options
    cpus = options.get("num_cpus") or context.config.profile_spec.cell_cpus
    gpus = options.get("num_gpus")
    if gpus is None:
        gpus = 1 if device.startswith("cuda") else 0
    return CellJob(plan.key.id, cell_spec(context, plan), num_cpus=int(cpus), num_gpus=gpus)
