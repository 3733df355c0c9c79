"""The ``ray`` executor: one Ray task per cell (``pip install ecg-bench[ray]``).

Options (``executor_options`` in the YAML config, or ``--executor-option KEY=VALUE``):

- ``address``: the cluster to join (``ray.init(address=...)``, e.g. ``auto`` or
  ``ray://head:10001``); without it a local instance is started (with ``num_cpus`` =
  ``--workers`` when more than one is asked for) and shut down at the end. If Ray is
  already initialised in this process, that instance is used.
- ``num_cpus`` / ``num_gpus``: resources of one cell (default: the profile's ``cell_cpus``,
  and one GPU when the run's device is CUDA); Ray sets ``CUDA_VISIBLE_DEVICES``.

A CPU cell runs in a reused Ray worker (``max_calls=0``, Ray's default for CPU tasks), so a
worker pays the interpreter start-up (torch, timm, the plugin host) once, not per cell
(Ray workers belong to one driver process, so a later grid from the same process finds
them warm); cells seed every draw from their identity, so reuse changes no prediction. A cell that uses a GPU gets a fresh worker (``max_calls=1``),
so no CUDA memory survives into the next cell. A task whose worker dies
(SIGKILL, node loss) or raises is retried up to ``retries`` times by Ray
(``max_retries``, ``retry_exceptions``); results stream back with ``ray.wait`` as cells
finish, and the driver alone writes ``results.jsonl``. Every worker reads the image cache
the driver built, so on a multi-node cluster the cache directory must be on a shared
filesystem (``--cache-dir``), as must the run directory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from bench.api import (
    CellJob,
    ExecutorSettings,
    JobResult,
    OnResult,
    error_text,
    import_backend,
)

OPTIONS = ("address", "num_cpus", "num_gpus")


class RayExecutor:
    """Cells as Ray tasks (see the module docstring)."""

    def __init__(self, settings: ExecutorSettings) -> None:
        settings.unknown_options(OPTIONS, "ray")
        self.settings = settings
        self.address = settings.option("address", kind=str)

    def describe(self, jobs: Sequence[CellJob]) -> str:
        """The cells, their resources and the cluster they would go to."""
        where = self.address or "a local Ray instance"
        lines = [f"ray executor: {len(jobs)} task(s) on {where}, {self.settings.retries} retries"]
        lines += [f"  {j.cell} (num_cpus={j.num_cpus}, num_gpus={j.num_gpus})" for j in jobs]
        return "\n".join(lines)

    def _init(self, ray: Any) -> bool:
        """Connect (or start a local instance); True if this executor must shut it down."""
        if ray.is_initialized():
            return False
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if self.address:
            kwargs["address"] = self.address
        elif self.settings.workers > 1:
            kwargs["num_cpus"] = self.settings.workers
        ray.init(**kwargs)
        return True

    def run(self, jobs: Sequence[CellJob], on_result: OnResult) -> None:
        """Submit every job as a task and report each as it finishes."""
        ray = import_backend("ray", "ray", "ray")
        from bench.api import run_cell

        owned = self._init(ray)
        # max_calls cannot be set per call (.options): one remote function per kind of cell
        remotes = {gpu: ray.remote(max_calls=1 if gpu else 0)(run_cell) for gpu in (False, True)}
        retries = self.settings.retries
        try:
            refs = {}
            for job in jobs:
                remote = remotes[bool(job.num_gpus)].options(
                    num_cpus=job.num_cpus,
                    num_gpus=job.num_gpus,
                    max_retries=retries,
                    retry_exceptions=True,
                    name=f"bench-cell-{job.cell}",
                )
                refs[remote.remote(job.spec, str(self.settings.run_dir))] = job
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1)
                job = refs.pop(ready[0])
                try:
                    path = ray.get(ready[0])
                except Exception as exc:  # RayTaskError, WorkerCrashedError after retries
                    on_result(JobResult(job, retries + 1, error=error_text(exc).splitlines()[0]))
                else:
                    on_result(JobResult(job, 1, path=path))
        finally:
            if owned:
                ray.shutdown()


def create(settings: ExecutorSettings) -> RayExecutor:
    """The ``ray`` executor (fails early, naming the extra, when ray is missing)."""
    if not settings.dry_run:
        import_backend("ray", "ray", "ray")
    return RayExecutor(settings)
