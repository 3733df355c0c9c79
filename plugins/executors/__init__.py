"""The built-in executors, registered through ``bench_register_executors`` like a plugin's.

Each ``create`` imports its backend module (and ray or submitit) only when chosen.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.api import Executor, ExecutorSettings, ExecutorSpec, hookimpl


def _local(settings: ExecutorSettings) -> Executor:
    from bench.plugins.executors import local

    return local.create(settings)


def _ray(settings: ExecutorSettings) -> Executor:
    from bench.plugins.executors import ray_executor

    return ray_executor.create(settings)


def _slurm(settings: ExecutorSettings) -> Executor:
    from bench.plugins.executors import slurm

    return slurm.create(settings)


@hookimpl
def bench_register_executors(register: Callable[[ExecutorSpec], None]) -> None:
    """``local`` (worker processes), ``ray`` (one task per cell), ``slurm`` (a job array)."""
    register(ExecutorSpec("local", "--workers N processes on this machine, one per cell", _local))
    register(ExecutorSpec("ray", "one Ray task per cell (pip install ecg-bench[ray])", _ray))
    register(ExecutorSpec("slurm", "one SLURM job array via submitit (ecg-bench[slurm])", _slurm))
