"""The ``slurm`` executor: one SLURM job array through submitit (``ecg-bench[slurm]``).

Options (``executor_options``, or ``--executor-option KEY=VALUE``):

- ``partition``, ``time`` (minutes per cell, default 240), ``gpus`` (per cell, default:
  one when the run's device is CUDA), ``cpus`` (per cell, default the profile's
  ``cell_cpus``), ``mem_gb``, ``max_parallel`` (the array's concurrency cap, default 64)
  and ``extra``: a mapping of further ``#SBATCH`` parameters (``{"account": "ecg"}``);
- ``folder``: where submitit keeps job scripts, pickles and logs (default
  ``<run dir>/slurm``); ``cluster``: ``slurm`` (default) or ``local`` (submitit's local
  executor, one subprocess per job, used by the tests).

All pending cells go into one job array; the driver polls the jobs, reports each cell as
it finishes, and resubmits failed cells (one new array per round) up to ``retries``
times. Compute nodes must see the run directory and the image cache directory
(``--cache-dir``) on a shared filesystem: the driver builds the cache before submitting.
``bench run --executor slurm --dry-run`` prints the job script without submitting.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.api import (
    CellJob,
    ExecutorError,
    ExecutorSettings,
    JobResult,
    OnResult,
    error_text,
    import_backend,
)

OPTIONS = ("partition", "time", "gpus", "cpus", "mem_gb", "max_parallel", "extra", "folder",
           "cluster", "poll_s")  # fmt: skip
DEFAULT_TIME_MIN = 240
DEFAULT_MAX_PARALLEL = 64


class SlurmExecutor:
    """Cells as one submitit job array (see the module docstring)."""

    def __init__(self, settings: ExecutorSettings) -> None:
        settings.unknown_options(OPTIONS, "slurm")
        self.settings = settings
        self.partition = settings.option("partition", kind=str)
        self.time_min = settings.option("time", DEFAULT_TIME_MIN, kind=(int, float))
        self.gpus = settings.option("gpus", kind=int)
        self.cpus = settings.option("cpus", kind=int)
        self.mem_gb = settings.option("mem_gb", kind=(int, float))
        self.max_parallel = settings.option("max_parallel", DEFAULT_MAX_PARALLEL, kind=int)
        self.extra: Mapping[str, Any] = settings.option("extra", {}, kind=Mapping)
        self.folder = Path(settings.option("folder", str(settings.run_dir / "slurm"), kind=str))
        self.cluster = settings.option("cluster", "slurm", kind=str)
        self.poll_s = settings.option("poll_s", 5.0, kind=(int, float))
        if self.cluster not in ("slurm", "local"):
            raise ExecutorError(
                f"executor option 'cluster': expected 'slurm' or 'local', got {self.cluster!r}"
            )

    def parameters(self, jobs: Sequence[CellJob]) -> dict[str, Any]:
        """submitit's generic parameters for ``jobs`` (resources of the first cell)."""
        first = jobs[0] if jobs else CellJob("", {})
        gpus = self.gpus if self.gpus is not None else int(first.num_gpus)
        params: dict[str, Any] = {
            "timeout_min": int(self.time_min),
            "cpus_per_task": self.cpus or first.num_cpus,
            "nodes": 1,
            "tasks_per_node": 1,
            "name": "bench-cells",
        }
        if gpus:
            params["gpus_per_node"] = gpus
        if self.mem_gb is not None:
            params["mem_gb"] = self.mem_gb
        if self.cluster == "slurm":
            params["slurm_array_parallelism"] = self.max_parallel
            if self.partition:
                params["slurm_partition"] = self.partition
            if self.extra:
                params["slurm_additional_parameters"] = dict(self.extra)
        return params

    def describe(self, jobs: Sequence[CellJob]) -> str:
        """The sbatch script of the job array submitit would submit for ``jobs``."""
        submitit = import_backend("submitit", "slurm", "slurm")
        from submitit.slurm.slurm import _make_sbatch_string

        params = self.parameters(jobs)
        command = " ".join(
            [
                shlex.quote(sys.executable),
                "-u -m submitit.core._submit",
                shlex.quote(str(self.folder)),
            ]
        )
        sbatch = _make_sbatch_string(
            command=command,
            folder=self.folder,
            job_name=params["name"],
            partition=self.partition,
            time=params["timeout_min"],
            nodes=1,
            ntasks_per_node=1,
            cpus_per_task=params["cpus_per_task"],
            gpus_per_node=params.get("gpus_per_node"),
            mem=f"{params['mem_gb']}GB" if "mem_gb" in params else None,
            array_parallelism=self.max_parallel,
            map_count=len(jobs),
            additional_parameters=dict(self.extra) or None,
        )
        cells = "\n".join(f"#   {i}: {job.cell}" for i, job in enumerate(jobs))
        return (
            f"# submitit {submitit.__version__}: job array of {len(jobs)} cell(s), "
            f"at most {self.max_parallel} at once\n{cells}\n{sbatch}"
        )

    def _submit(self, submitit: Any, jobs: Sequence[CellJob]) -> list[Any]:
        from bench.api import run_cell

        executor = submitit.AutoExecutor(folder=self.folder, cluster=self.cluster)
        executor.update_parameters(**self.parameters(jobs))
        run_dir = str(self.settings.run_dir)
        specs = [job.spec for job in jobs]
        return list(executor.map_array(run_cell, specs, [run_dir] * len(jobs)))

    def run(self, jobs: Sequence[CellJob], on_result: OnResult) -> None:
        """Submit the job array, poll it, resubmit failed cells up to ``retries`` times."""
        submitit = import_backend("submitit", "slurm", "slurm")
        todo, attempt = list(jobs), 1
        while todo:
            submitted = dict(zip(self._submit(submitit, todo), todo, strict=True))
            retry: list[CellJob] = []
            while submitted:
                finished = [j for j in submitted if j.done()]
                if not finished:
                    time.sleep(self.poll_s)
                    continue
                for handle in finished:
                    job = submitted.pop(handle)
                    try:
                        path = handle.result()
                    except Exception as exc:  # FailedJobError, UncompletedJobError
                        if attempt <= self.settings.retries:
                            retry.append(job)
                        else:
                            error = error_text(exc).splitlines()[0]
                            on_result(JobResult(job, attempt, error=error))
                    else:
                        on_result(JobResult(job, attempt, path=path))
            todo, attempt = retry, attempt + 1


def create(settings: ExecutorSettings) -> SlurmExecutor:
    """The ``slurm`` executor (fails early, naming the extra, when submitit is missing)."""
    import_backend("submitit", "slurm", "slurm")
    return SlurmExecutor(settings)
