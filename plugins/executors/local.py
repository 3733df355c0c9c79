"""The ``local`` executor: N worker processes on this machine, one cell at a time each.

Workers are managed one by one rather than through a process pool, so a worker killed
by a signal (SIGKILL, the OOM killer) fails exactly the cell it was running, which is
retried in a new worker, instead of breaking a whole pool; a worker whose cell raised is
replaced too.

**Start-up.** A fresh interpreter spends seconds importing torch, timm and the harness,
more than a short cell trains. Workers are therefore forked from a *forkserver* (where
the platform has one; ``spawn`` elsewhere) that imports :data:`PRELOAD` once per driver
process. The forkserver starts as early as the driver knows it will need workers (``bench
run`` starts it before importing the runner; otherwise it starts when the executor is
created), so its imports overlap the driver's own and its task preparation. It never runs
a computation: no OpenMP pool, CUDA
context or thread of the driver's leaks into a worker. Like a spawned process, a worker
starts in the driver's current working directory and ``sys.path`` (multiprocessing sends
them) and environment (sent with the worker's arguments: the forkserver's own is that of
the moment it started).

**Reuse.** A worker runs ``cells_per_worker`` cells and exits (0: no limit). The default
keeps CPU workers for the whole grid and gives a cell that uses a GPU a fresh process
(``1``), so no CUDA memory survives into the next cell. Cells seed every draw from their
identity, so reuse changes no prediction (tested).

With several GPUs each worker sees one device (``CUDA_VISIBLE_DEVICES``, set before CUDA
is initialised), given to the least used device. A worker exits on its own the moment
the driver dies (it watches a pipe that only the driver holds open for writing), so a
restarted driver never races an orphan for a cell.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess

from bench.api import (
    WORKER_MODULES,
    CellJob,
    ExecutorError,
    ExecutorSettings,
    JobResult,
    OnResult,
    error_text,
)

#: What the forkserver imports once for all workers: torch, timm (which the built-in image
#: models and :mod:`bench.weights.files` use) and the worker's own code path.
PRELOAD = ("torch", "timm", *WORKER_MODULES, __name__)


def _exit_with_driver(lifeline: Connection) -> None:
    """End this worker the moment its driver is gone, however it ended: the driver holds
    the only write end of the ``lifeline`` pipe and never writes to it, so reading it
    returns (EOF) exactly when the driver's process is gone."""

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            lifeline.recv_bytes()
        os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def _serve(
    run_dir: str, conn: Connection, lifeline: Connection, environ: Mapping[str, str]
) -> None:
    """Worker process body: take the driver's environment, then run the cell specs it
    receives, one at a time, answering each with ``("ok", path)`` or ``("error", text)``;
    ``None`` ends it."""
    _exit_with_driver(lifeline)
    os.environ.clear()
    os.environ.update(environ)
    from bench.api import run_cell

    while True:
        try:
            spec = conn.recv()
        except EOFError:
            return
        if spec is None:
            return
        try:
            message = ("ok", run_cell(spec, run_dir))
        except BaseException as exc:
            message = ("error", error_text(exc))
        conn.send(message)


def worker_context() -> ForkServerContext | SpawnContext:
    """The ``forkserver`` context with :data:`PRELOAD` (``spawn`` where there is none)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    return context


def start_forkserver(workers: int) -> None:
    """Start the forkserver that ``workers`` (> 1) worker processes are forked from, if the
    platform has one and it is not running yet, so that its imports overlap whatever the
    driver does next (the executor's ``warm_up``)."""
    if workers > 1 and worker_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    device: str | None
    cells: int = 0
    job: CellJob | None = None
    attempt: int = 0


class LocalExecutor:
    """``--workers N`` processes on this machine (see the module docstring)."""

    def __init__(self, settings: ExecutorSettings) -> None:
        settings.unknown_options(("num_cpus", "num_gpus", "cells_per_worker"), "local")
        self.settings = settings
        self.cells_per_worker: int | None = settings.option("cells_per_worker", kind=int)
        if self.cells_per_worker is not None and self.cells_per_worker < 0:
            raise ExecutorError(
                f"executor option 'cells_per_worker': expected >= 0 (0 = no limit), "
                f"got {self.cells_per_worker}"
            )
        self.context = worker_context()

    def describe(self, jobs: Sequence[CellJob]) -> str:
        """The cells and how many run at once."""
        lines = [f"local executor: {len(jobs)} cell(s), {self.settings.workers} at a time"]
        lines += [f"  {job.cell}" for job in jobs]
        return "\n".join(lines)

    def limit(self, job: CellJob) -> int:
        """How many cells a worker that ran ``job`` may run (0: no limit): the option, else
        one for a cell on a GPU and no limit on the CPU."""
        if self.cells_per_worker is not None:
            return self.cells_per_worker
        return 1 if job.num_gpus or self.settings.devices else 0

    def _spawn(self, workers: list[_Worker], lifeline: Connection) -> _Worker:
        """A new worker process, on the device the fewest workers use."""
        devices = list(self.settings.devices)
        busy = collections.Counter(w.device for w in workers)
        device = min(devices, key=lambda d: busy[d]) if devices else None
        mine, theirs = self.context.Pipe()
        args = (str(self.settings.run_dir), theirs, lifeline, dict(os.environ))
        process = self.context.Process(target=_serve, args=args)
        process.start()
        theirs.close()
        worker = _Worker(process, mine, device)
        workers.append(worker)
        return worker

    @staticmethod
    def _outcome(worker: _Worker) -> tuple[str | None, str | None]:
        """(path, error) of the cell a worker was running, once it answered or died."""
        message = None
        try:
            if worker.conn.poll():
                message = worker.conn.recv()
        except (EOFError, OSError):
            message = None
        if message is not None:
            return (message[1], None) if message[0] == "ok" else (None, message[1])
        worker.process.join()
        code = worker.process.exitcode
        if code is not None and code < 0:
            return None, f"worker process killed by signal {-code}"
        return None, f"worker process exited with code {code} without a result"

    @staticmethod
    def _stop(worker: _Worker, kill: bool) -> None:
        if kill:
            worker.process.kill()
        else:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        worker.process.join()
        worker.conn.close()

    def run(self, jobs: Sequence[CellJob], on_result: OnResult) -> None:
        """Run every job, at most ``workers`` at once, each tried ``1 + retries`` times."""
        queue = collections.deque((job, 1) for job in jobs)
        workers: list[_Worker] = []
        lifeline, held = self.context.Pipe(duplex=False)  # workers read; only we hold ``held``
        try:
            while queue or any(w.job for w in workers):
                while queue:
                    idle = next((w for w in workers if w.job is None), None)
                    if idle is None and len(workers) >= self.settings.workers:
                        break
                    worker = idle or self._spawn(workers, lifeline)
                    worker.job, worker.attempt = queue.popleft()
                    worker.conn.send({**worker.job.spec, "devices": worker.device})
                busy = [w for w in workers if w.job is not None]
                ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
                for worker in busy:
                    if worker.conn not in ready and worker.process.sentinel not in ready:
                        continue
                    job, attempt = worker.job, worker.attempt
                    assert job is not None
                    path, error = self._outcome(worker)
                    worker.job, worker.cells = None, worker.cells + 1
                    limit = self.limit(job)
                    spent = path is None or bool(limit and worker.cells >= limit)
                    if spent or not worker.process.is_alive():
                        self._stop(worker, kill=False)
                        workers.remove(worker)
                    if path is None and attempt <= self.settings.retries:
                        if self.settings.console is not None:
                            self.settings.console.print(
                                f"[yellow]cell {job.cell} attempt {attempt} failed ({error}); "
                                "retrying[/]"
                            )
                        queue.append((job, attempt + 1))
                        continue
                    on_result(JobResult(job, attempt, path=path, error=error))
        finally:
            for worker in workers:  # done, or interrupted: leave no worker behind
                self._stop(worker, kill=worker.job is not None)
            held.close()
            lifeline.close()


def create(settings: ExecutorSettings) -> LocalExecutor:
    """The ``local`` executor (one worker means in-process; the runner never calls this),
    its forkserver already starting unless this is a dry run."""
    executor = LocalExecutor(replace(settings, workers=max(1, settings.workers)))
    if not settings.dry_run:
        start_forkserver(executor.settings.workers)
    return executor
