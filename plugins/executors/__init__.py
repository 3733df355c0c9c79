"""The built-in executors, registered through ``bench_register_executors`` like a plugin's.

Each ``create`` imports its backend module (and ray or submitit) only when chosen.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.api import ExecutorSpec, LazyFunction, hookimpl


@hookimpl
def bench_register_executors(register: Callable[[ExecutorSpec], None]) -> None:
    """``local`` (worker processes), ``ray`` (one task per cell), ``slurm`` (a job array)."""
    register(
        ExecutorSpec(
            "local",
            "--workers N processes on this machine, one per cell",
            LazyFunction("bench.plugins.executors.local:create"),
            warm_up=LazyFunction("bench.plugins.executors.local:start_forkserver"),
        )
    )
    register(
        ExecutorSpec(
            "ray",
            "one Ray task per cell (pip install ecg-bench[ray])",
            LazyFunction("bench.plugins.executors.ray_executor:create"),
        )
    )
    register(
        ExecutorSpec(
            "slurm",
            "one SLURM job array via submitit (ecg-bench[slurm])",
            LazyFunction("bench.plugins.executors.slurm:create"),
        )
    )
