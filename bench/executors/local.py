"""The ``local`` executor: N worker processes on this machine, one fresh process per cell.

Each cell runs in its own ``spawn``-ed process (the effect of ``max_tasks_per_child=1``:
nothing — imported modules, torch state, CUDA memory — survives from one cell to the
next). Processes are managed one per cell rather than through a process pool, so a
worker killed by a signal (SIGKILL, the OOM killer) fails exactly its own cell, which is
retried, instead of breaking a whole pool. With several GPUs each worker sees one device
(``CUDA_VISIBLE_DEVICES``, set before torch is imported), handed out to the least busy
device in turn. A worker exits on its own when the driver dies, so a restarted driver never
races an orphan for a cell.
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
from typing import Any

from bench.executors import CellJob, ExecutorSettings, JobResult, OnResult, error_text

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


def _child(spec: dict[str, Any], run_dir: str, parent: int, conn: Connection) -> None:
    """Worker process body: run the cell, send back ``("ok", path)`` or ``("error", text)``."""
    _die_with_parent(parent)
    from bench.executors.worker import run_cell

    try:
        message = ("ok", run_cell(spec, run_dir))
    except BaseException as exc:
        message = ("error", error_text(exc))
    conn.send(message)
    conn.close()


@dataclass
class _Running:
    job: CellJob
    attempt: int
    process: BaseProcess
    conn: Connection
    device: str | None


class LocalExecutor:
    """``--workers N`` processes on this machine (see the module docstring)."""

    def __init__(self, settings: ExecutorSettings) -> None:
        settings.unknown_options(("num_cpus", "num_gpus"), "local")
        self.settings = settings
        self.context = multiprocessing.get_context("spawn")

    def describe(self, jobs: Sequence[CellJob]) -> str:
        """The cells and how many run at once."""
        lines = [f"local executor: {len(jobs)} cell(s), {self.settings.workers} at a time"]
        lines += [f"  {job.cell}" for job in jobs]
        return "\n".join(lines)

    def _device(self, running: dict[int, _Running]) -> str | None:
        devices = list(self.settings.devices)
        if not devices:
            return None
        busy = collections.Counter(r.device for r in running.values())
        return min(devices, key=lambda d: busy[d])

    def _start(self, job: CellJob, attempt: int, running: dict[int, _Running]) -> None:
        device = self._device(running)
        spec = {**job.spec, "devices": device}
        receive, send = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=_child,
            args=(spec, str(self.settings.run_dir), os.getpid(), send),
            name=f"bench-cell-{job.cell}",
        )
        process.start()
        send.close()
        running[process.sentinel] = _Running(job, attempt, process, receive, device)

    @staticmethod
    def _outcome(entry: _Running) -> tuple[str | None, str | None]:
        """(path, error) of a finished worker process."""
        message = None
        try:
            if entry.conn.poll():
                message = entry.conn.recv()
        except (EOFError, OSError):
            message = None
        entry.process.join()
        entry.conn.close()
        if message is not None and message[0] == "ok":
            return message[1], None
        if message is not None:
            return None, message[1]
        code = entry.process.exitcode
        if code is not None and code < 0:
            return None, f"worker process killed by signal {-code}"
        return None, f"worker process exited with code {code} without a result"

    def run(self, jobs: Sequence[CellJob], on_result: OnResult) -> None:
        """Run every job, at most ``workers`` at once, each tried ``1 + retries`` times."""
        queue = collections.deque((job, 1) for job in jobs)
        running: dict[int, _Running] = {}
        try:
            while queue or running:
                while queue and len(running) < self.settings.workers:
                    job, attempt = queue.popleft()
                    self._start(job, attempt, running)
                ready = set(wait(list(running)))
                for sentinel in [s for s in running if s in ready]:
                    entry = running.pop(sentinel)
                    path, error = self._outcome(entry)
                    if path is None and entry.attempt <= self.settings.retries:
                        if self.settings.console is not None:
                            self.settings.console.print(
                                f"[yellow]cell {entry.job.cell} attempt {entry.attempt} "
                                f"failed ({error}); retrying[/]"
                            )
                        queue.append((entry.job, entry.attempt + 1))
                        continue
                    on_result(JobResult(entry.job, entry.attempt, path=path, error=error))
        finally:
            for entry in running.values():  # interrupted: leave no worker behind
                entry.process.kill()
                entry.process.join()


def create(settings: ExecutorSettings) -> LocalExecutor:
    """The ``local`` executor (one worker means in-process; the runner never calls this)."""
    return LocalExecutor(replace(settings, workers=max(1, settings.workers)))
