"""The ``slurm`` executor: one SLURM job array through submitit (``ecg-bench[slurm]``).

Options (``executor_options``, or ``--executor-option KEY=VALUE``):

- ``partition``, ``time`` (minutes per cell, default 240), ``gpus`` (per cell, default:
  one when the run's device is CUDA), ``cpus`` (per cell, default the profile's
  ``cell_cpus``), ``mem_gb``, ``max_parallel`` (the array's concurrency cap, default 64)
  and ``extra``: a mapping of further ``#SBATCH`` parameters (``{"account": "ecg"}``);
- ``folder``: where submitit keeps job scripts, pickles and logs (default
  ``<run dir>/slurm``); ``cluster``: ``slurm`` (default) or ``local`` (submitit's local
  executor, one subprocess per job, used by the tests);
- ``poll_s`` (default 5): seconds between polls; ``grace_s`` (default 300): how long an
  element may be gone from ``squeue`` without a result before it counts as dead.

All pending cells go into one job array; the driver polls the jobs, reports each cell as
it finishes, and submits a failed cell again at once (the cells that failed in one poll
as a new array), up to ``retries`` times. Without SLURM accounting submitit cannot tell a killed element (``srun`` killed, a
node lost, preemption without requeue) from a running one and would wait forever, so the
driver also watches ``squeue``: an element absent from it for ``grace_s`` with no result
file is failed ("left the queue without a result"), one line names the cell, the job id
and the reason, and the retry rule applies. While waiting it prints the array's pending
and running counts whenever they change, with SLURM's reasons for the pending ones
(``Resources``, ``Priority``, ``JobArrayTaskLimit``), and warns when a reason does not pass
by waiting (``PartitionTimeLimit``: ``time`` exceeds the partition's limit, which ``sbatch``
accepts under SLURM's default ``EnforcePartLimits=NO``).

The driver can go away: every submitted element is recorded in ``<folder>/submitted.json``
(cell, its identity digest, job id). A driver restarted with the same command re-attaches
to an element of the same cell and identity that is still in ``squeue`` or has written its
result, instead of submitting the cell again. Compute nodes must see the run directory and the image cache directory
(``--cache-dir``) on a shared filesystem: the driver builds the cache before submitting.
``bench run --executor slurm --dry-run`` prints the job script without submitting; a job
array ``sbatch`` refuses (an unknown partition or account) is a one-line error quoting
``sbatch``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
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
           "cluster", "poll_s", "grace_s")  # fmt: skip
DEFAULT_TIME_MIN = 240
DEFAULT_MAX_PARALLEL = 64
DEFAULT_GRACE_S = 300.0
#: Reasons SLURM gives for keeping a job pending that do not pass by waiting: the job as
#: submitted exceeds a limit (with ``EnforcePartLimits=NO``, SLURM's default, ``sbatch``
#: accepts such a job and it pends until an administrator changes the limit).
NEVER_STARTS = frozenset({
    "PartitionTimeLimit", "PartitionNodeLimit", "PartitionConfig", "BadConstraints",
    "InvalidAccount", "InvalidQOS", "QOSMaxWallDurationPerJobLimit",
    "AssocMaxWallDurationPerJobLimit",
})  # fmt: skip


def squeue_states(job_ids: Sequence[str]) -> dict[str, str] | None:
    """SLURM's state code (``PD``, ``R``, ``CG``, …) and reason (``PD Resources``) of each of
    ``job_ids`` still in the queue (array elements as ``JOB_INDEX``); ``None`` when
    ``squeue`` cannot be run, so nothing can be said about absence."""
    import subprocess

    arrays = sorted({job_id.split("_")[0] for job_id in job_ids})
    try:
        out = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i %t %r", "-j", ",".join(arrays)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 and "Invalid job id" not in out.stderr:
        return None  # a failing squeue says nothing; finished arrays give 'Invalid job id'
    states = {}
    for line in out.stdout.splitlines():
        job_id, _, state = line.strip().partition(" ")
        if state:
            states[job_id] = state
    return {job_id: states[job_id] for job_id in job_ids if job_id in states}


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
        self.grace_s = settings.option("grace_s", DEFAULT_GRACE_S, kind=(int, float))
        if self.grace_s < 0 or self.poll_s <= 0:
            raise ExecutorError(
                f"executor options 'grace_s' (>= 0) and 'poll_s' (> 0): got {self.grace_s} "
                f"and {self.poll_s}"
            )
        #: How the queue is read (``squeue``; replaced in tests).
        self.queue_states = squeue_states
        #: The pending and running counts and the pending reasons last reported, so only
        #: changes are printed.
        self._last_counts: tuple[int, int, tuple[str, ...]] | None = None
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

    @property
    def ledger(self) -> Path:
        """Where the submitted elements are recorded (cell@digest → job id)."""
        return self.folder / "submitted.json"

    def _recorded(self) -> dict[str, str]:
        try:
            data = json.loads(self.ledger.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _record(self, pairs: Sequence[tuple[CellJob, Any]]) -> None:
        ledger = {**self._recorded(), **{_ledger_key(job): str(h.job_id) for job, h in pairs}}
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.ledger.with_name(self.ledger.name + ".tmp")
        tmp.write_text(json.dumps(ledger, indent=1, sort_keys=True))
        os.replace(tmp, self.ledger)

    def _attach(self, submitit: Any, job_id: str) -> Any:
        """A handle on an element a previous driver submitted."""
        return submitit.SlurmJob(folder=self.folder, job_id=job_id)

    def _reattached(self, submitit: Any, jobs: Sequence[CellJob]) -> dict[Any, CellJob]:
        """The elements of ``jobs`` a previous driver submitted that are still queued or
        running, or have written their result: re-attached rather than submitted again."""
        recorded = self._recorded()
        known = [(job, recorded[_ledger_key(job)]) for job in jobs if _ledger_key(job) in recorded]
        if not known or self.cluster != "slurm":
            return {}
        states = self.queue_states([job_id for _, job_id in known]) or {}
        attached = {}
        for job, job_id in known:
            handle = self._attach(submitit, job_id)
            if job_id in states or handle.paths.result_pickle.exists():
                attached[handle] = job
        if attached:
            self._say(
                f"slurm: re-attached to {len(attached)} element(s) a previous driver submitted "
                f"(still queued, running or finished): "
                f"{', '.join(sorted(str(h.job_id) for h in attached))}"
            )
        return attached

    def _submit(self, submitit: Any, jobs: Sequence[CellJob]) -> list[Any]:
        from submitit.core.utils import FailedJobError

        from bench.api import run_cell

        missing = [cmd for cmd in ("sbatch", "srun", "squeue") if shutil.which(cmd) is None]
        if self.cluster == "slurm" and missing:
            raise ExecutorError(
                f"executor 'slurm': {', '.join(missing)} not found on PATH; run bench on a "
                "machine that submits SLURM jobs (a login node)"
            )
        executor = submitit.AutoExecutor(folder=self.folder, cluster=self.cluster)
        executor.update_parameters(**self.parameters(jobs))
        run_dir = str(self.settings.run_dir)
        specs = [job.spec for job in jobs]
        try:
            return list(executor.map_array(run_cell, specs, [run_dir] * len(jobs)))
        except FailedJobError as exc:  # sbatch's own words: bad partition, time, account, …
            said = "; ".join(
                line.strip().removeprefix("sbatch: error: ")
                for line in str(exc).splitlines()
                if line.strip()
            )
            raise ExecutorError(
                f"executor 'slurm': sbatch refused the job array of {len(jobs)} cell(s): "
                f"{said}; check the options partition, time, gpus, cpus, mem_gb and extra "
                "(--dry-run prints the job script)"
            ) from exc

    def _say(self, text: str) -> None:
        console = self.settings.console
        if console is not None:
            console.print(text)
        else:
            print(text, file=sys.stderr)

    def _dead(self, submitted: Mapping[Any, object], gone_since: dict[Any, float]) -> list[Any]:
        """Elements of ``submitted`` gone from ``squeue`` for ``grace_s`` without a result
        file (dead), after updating when each unfinished one was first seen gone; reports
        the array's counts when they change."""
        if self.cluster != "slurm" or not submitted:
            return []
        states = self.queue_states([str(h.job_id) for h in submitted])
        if states is None:
            return []
        for handle in [h for h in gone_since if h not in submitted]:  # finished since
            del gone_since[handle]
        now, dead = time.monotonic(), []
        for handle in submitted:
            if str(handle.job_id) in states or handle.paths.result_pickle.exists():
                gone_since.pop(handle, None)
            elif now - gone_since.setdefault(handle, now) >= self.grace_s:
                dead.append(handle)
                del gone_since[handle]
        self._report(states, len(gone_since), len(submitted))
        return dead

    def _report(self, states: Mapping[str, str], gone: int, unfinished: int) -> None:
        """Print the array's counts and why SLURM keeps elements pending, when they change;
        a reason that does not pass by waiting (:data:`NEVER_STARTS`) gets a warning."""
        entries = [state.partition(" ") for state in states.values()]
        running = sum(code in ("R", "CG") for code, _, _ in entries)
        reasons = {reason for code, _, reason in entries if code == "PD" and reason}
        counts = (len(states) - running, running, tuple(sorted(reasons - {"None"})))
        if counts == self._last_counts:
            return
        self._last_counts = counts
        why = f" ({', '.join(counts[2])})" if counts[2] else ""
        self._say(
            f"slurm: {counts[0]} pending{why}, {running} running, {gone} gone from the queue "
            f"awaiting a result (of {unfinished} unfinished)"
        )
        stuck = sorted(reasons & NEVER_STARTS)
        if stuck:
            self._say(
                f"[yellow]slurm: elements pending for {', '.join(stuck)} will not start as "
                "submitted: check the options partition, time, gpus, cpus, mem_gb and extra "
                "against the partition's limits (scontrol show partition)[/]"
            )

    def run(self, jobs: Sequence[CellJob], on_result: OnResult) -> None:
        """Submit the job array and poll it; a failed cell is submitted again at once (the
        cells that failed in one poll as a new array), up to ``retries`` times."""
        submitit = import_backend("submitit", "slurm", "slurm")
        attached = self._reattached(submitit, jobs)
        waiting: dict[Any, tuple[CellJob, int]] = {h: (job, 1) for h, job in attached.items()}
        todo = [(job, 1) for job in jobs if job not in attached.values()]
        gone_since: dict[Any, float] = {}
        while todo or waiting:
            if todo:
                cells = [job for job, _ in todo]
                handles = self._submit(submitit, cells)
                self._record(list(zip(cells, handles, strict=True)))
                waiting.update(zip(handles, todo, strict=True))
            todo = self._poll(waiting, gone_since, on_result)

    def _poll(
        self,
        waiting: dict[Any, tuple[CellJob, int]],
        gone_since: dict[Any, float],
        on_result: OnResult,
    ) -> list[tuple[CellJob, int]]:
        """One look at the unfinished elements (each with its cell and attempt): reports the
        finished ones, fails the dead ones, and returns the cells to submit again with their
        next attempt; sleeps ``poll_s`` when nothing finished."""
        retry: list[tuple[CellJob, int]] = []

        def failed(handle: Any, error: str) -> None:
            job, attempt = waiting.pop(handle)
            if attempt > self.settings.retries:
                on_result(JobResult(job, attempt, error=error))
            else:
                retry.append((job, attempt + 1))

        for handle in self._dead(waiting, gone_since):
            job, attempt = waiting[handle]
            reason = (
                f"left the SLURM queue without a result for {self.grace_s:g} s "
                "(killed, preempted or its node failed)"
            )
            outcome = "failed" if attempt > self.settings.retries else "retrying"
            self._say(f"[yellow]{job.cell} (job {handle.job_id}): {reason}; {outcome}[/]")
            failed(handle, reason)
        finished = [h for h in waiting if h.done()]
        for handle in finished:
            try:
                path = handle.result()
            except Exception as exc:  # FailedJobError, UncompletedJobError
                failed(handle, error_text(exc).splitlines()[0])
            else:
                job, attempt = waiting.pop(handle)
                on_result(JobResult(job, attempt, path=path))
        if waiting and not finished and not retry:
            time.sleep(self.poll_s)
        return retry


def _ledger_key(job: CellJob) -> str:
    """A submitted element's key: its cell and identity (another identity never re-attaches)."""
    return f"{job.cell}@{job.spec.get('digest', '')}"


def create(settings: ExecutorSettings) -> SlurmExecutor:
    """The ``slurm`` executor (fails early, naming the extra, when submitit is missing)."""
    import_backend("submitit", "slurm", "slurm")
    return SlurmExecutor(settings)
