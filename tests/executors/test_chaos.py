"""Chaos tests: workers SIGKILLed mid-training (local processes and Ray) and a driver
killed mid-grid; every grid finishes with exactly one record set per cell and predictions
bitwise equal to an undisturbed in-process run. Slow: run by ``nox -s slow``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.executors.helpers import (
    CHAOS_CELLS,
    assert_one_record_set,
    assert_same_run,
    chaos_grid_args,
    chaos_host,
    invoke,
    start_driver,
)
from tests.requirements import require_module

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def host():
    return chaos_host()


class Killer(threading.Thread):
    """SIGKILLs the worker of up to ``limit`` cells once each, after the cell's first
    training state is saved (mid-training: the tiny profile evaluates twice)."""

    def __init__(self, run: Path, limit: int) -> None:
        super().__init__(daemon=True)
        self.run_dir, self.limit = run, limit
        self.killed: dict[str, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and len(self.killed) < self.limit:
            for state in self.run_dir.glob("cells/*/checkpoint/state.pt"):
                cell = state.parent.parent
                if cell.name in self.killed or (cell / "records.jsonl").exists():
                    continue
                pid = json.loads((cell / "worker.json").read_text())["pid"]
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                self.killed[cell.name] = pid
            time.sleep(0.02)


def run_with_killer(host, root: Path, extra: list[str], limit: int = 1) -> tuple[Path, Killer]:
    run = root / "runs" / "g"
    run.mkdir(parents=True)
    killer = Killer(run, limit)
    killer.start()
    try:
        result = invoke(host, [*chaos_grid_args(root), *extra])
    finally:
        killer.stop.set()
        killer.join()
    assert result.exit_code == 0, result.output
    return run, killer


def test_local_workers_killed_mid_training_grid_finishes_identically(host, reference, tmp_path):
    run, killer = run_with_killer(host, tmp_path, ["--workers", "2"])
    assert killer.killed, "no worker was killed mid-training"
    assert_one_record_set(run, CHAOS_CELLS)
    assert_same_run(reference, run)


@pytest.fixture(scope="module")
def ray_cluster():
    ray = require_module("ray", "ray")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must be short
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=temp)
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def test_ray_equals_in_process_and_survives_killed_workers(host, reference, ray_cluster, tmp_path):
    run, killer = run_with_killer(host, tmp_path, ["--executor", "ray"])
    assert killer.killed, "no Ray worker was killed mid-training"
    assert_one_record_set(run, CHAOS_CELLS)
    assert_same_run(reference, run)


def _driver(root: Path) -> subprocess.Popen:
    return start_driver([*chaos_grid_args(root), "--workers", "2"])


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie awaiting its reaper does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_driver_killed_mid_grid_resumes_from_finished_cells(reference, tmp_path):
    run = tmp_path / "runs" / "g"
    first = _driver(tmp_path)
    deadline = time.monotonic() + 240
    while not list(run.glob("cells/*/records.jsonl")) and time.monotonic() < deadline:
        assert first.poll() is None, first.communicate()[0]
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    done = {p.parent.name: p.stat().st_mtime_ns for p in run.glob("cells/*/records.jsonl")}
    assert 1 <= len(done) < CHAOS_CELLS, "the driver must die mid-grid"
    workers = [json.loads(p.read_text())["pid"] for p in run.glob("cells/*/worker.json")]
    deadline = time.monotonic() + 10
    while [pid for pid in workers if _alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)], "workers outlived their driver"

    second = _driver(tmp_path)
    output, _ = second.communicate(timeout=300)
    assert second.returncode == 0, output
    assert f"resumed {len(done)}" in " ".join(output.split())
    for cell, mtime in done.items():  # finished cells were not run again
        assert (run / "cells" / cell / "records.jsonl").stat().st_mtime_ns == mtime
    assert_one_record_set(run, CHAOS_CELLS)
    assert_same_run(reference, run)
