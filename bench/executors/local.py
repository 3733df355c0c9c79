"""The ``local`` executor: N worker processes on this machine, one cell at a time each.

Workers are ``spawn``-ed processes managed one by one rather than through a process pool,
so a worker killed by a signal (SIGKILL, the OOM killer) fails exactly the cell it was
running, which is retried in a new worker, instead of breaking a whole pool. By default a
worker runs one cell and exits (``cells_per_worker=1``, the effect of
``max_tasks_per_child=1``: no torch state or CUDA memory survives into the next cell);
``--executor-option cells_per_worker=0`` keeps workers for the whole grid (no limit) and
saves the interpreter start-up (torch import, plugin host) per cell, which dominates
short cells. Cells seed every draw from their identity, so reuse changes no prediction.
With several GPUs each worker sees one device (``CUDA_VISIBLE_DEVICES``, set before torch
is imported), given to the least used device. A worker exits on its own when the driver
dies, so a restarted driver never races an orphan for a cell.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from bench.executors import (
    CellJob,
    ExecutorError,
    ExecutorSettings,
    JobResult,
    OnResult,
    error_text,
)

#: Seconds between a worker's checks that its driver is still alive (non-Linux).
ORPHAN_POLL_S = 0.5
#: prctl option: the signal a process receives when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(ORPHAN_POLL_S)
    os._exit(3)


def _die_with_parent(parent: int) -> None:
    """End this worker when the driver that started it is gone: on Linux the kernel sends
    SIGKILL (``PR_SET_PDEATHSIG``); elsewhere a thread polls the parent id."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the driver died before the signal was armed
        os._exit(3)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _serve(run_dir: str, parent: int, conn: Connection) -> None:
    """Worker process body: run the cell specs it receives, one at a time, answering each
    with ``("ok", path)`` or ``("error", text)``; ``None`` ends it."""
    _die_with_parent(parent)
    from bench.executors.worker import run_cell

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
        self.cells_per_worker = settings.option("cells_per_worker", 1, kind=int)
        if self.cells_per_worker < 0:
            raise ExecutorError(
                f"executor option 'cells_per_worker': expected >= 0 (0 = no limit), "
                f"got {self.cells_per_worker}"
            )
        self.context = multiprocessing.get_context("spawn")

    def describe(self, jobs: Sequence[CellJob]) -> str:
        """The cells and how many run at once."""
        lines = [f"local executor: {len(jobs)} cell(s), {self.settings.workers} at a time"]
        lines += [f"  {job.cell}" for job in jobs]
        return "\n".join(lines)

    def _spawn(self, workers: list[_Worker]) -> _Worker:
        """A new worker process, on the device the fewest workers use."""
        devices = list(self.settings.devices)
        busy = collections.Counter(w.device for w in workers)
        device = min(devices, key=lambda d: busy[d]) if devices else None
        mine, theirs = self.context.Pipe()
        process = self.context.Process(
            target=_serve, args=(str(self.settings.run_dir), os.getpid(), theirs)
        )
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
        try:
            while queue or any(w.job for w in workers):
                while queue:
                    idle = next((w for w in workers if w.job is None), None)
                    if idle is None and len(workers) >= self.settings.workers:
                        break
                    worker = idle or self._spawn(workers)
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
                    limit = self.cells_per_worker
                    if not worker.process.is_alive() or (limit and worker.cells >= limit):
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


def create(settings: ExecutorSettings) -> LocalExecutor:
    """The ``local`` executor (one worker means in-process; the runner never calls this)."""
    return LocalExecutor(replace(settings, workers=max(1, settings.workers)))
