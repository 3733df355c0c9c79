"""The SLURM executor against a real single-node SLURM cluster (munged, slurmctld and slurmd
in a temporary folder, no accounting: :mod:`tests.executors.slurm_cluster`).

A grid through ``bench run --executor slurm`` equals the in-process grid bitwise; a grid one
of whose array elements is SIGKILLed mid-training still finishes every cell exactly once:
without accounting only the executor's ``squeue`` watch sees the element die (after
``grace_s``), says so in one line naming the cell, the job id and the reason, and
resubmits the cell. Slow; skipped where SLURM is not installed, failed there when
``BENCH_REQUIRE`` names ``slurm`` (as ``.ci/run`` does).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.executors.helpers import (
    CHAOS_CELLS,
    assert_one_record_set,
    assert_same_run,
    chaos_grid_args,
    start_driver,
)
from tests.executors.slurm_cluster import SlurmCluster, missing_programs, slurm_cluster
from tests.requirements import missing, require_module

pytestmark = pytest.mark.slow

#: The grace period of the tests: short, so the killed element is resubmitted quickly.
GRACE_S = 10
#: Generous: each grid takes about a minute on 2 cores.
GRID_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def cluster() -> Iterator[SlurmCluster]:
    require_module("submitit", "slurm")
    absent = missing_programs()
    if absent:
        missing("slurm", f"SLURM is not installed ({', '.join(absent)} not found; on Debian: "
                         "apt-get install slurm-wlm munge)")  # fmt: skip
    with slurm_cluster() as running:
        yield running


@pytest.fixture
def idle(cluster: SlurmCluster) -> Iterator[SlurmCluster]:
    """The cluster, its queue emptied after the test (whatever the test left)."""
    yield cluster
    cluster.cancel_all()


def slurm_args(root: Path) -> list[str]:
    """The chaos grid on the ``slurm`` executor, partition ``debug``."""
    options = {"partition": "debug", "time": 30, "poll_s": 1, "grace_s": GRACE_S}
    args = [*chaos_grid_args(root), "--executor", "slurm"]
    for key, value in options.items():
        args += ["--executor-option", f"{key}={value}"]
    return args


def finish(driver: subprocess.Popen, cluster: SlurmCluster) -> str:
    """The driver's output (whitespace normalised, as rich wraps lines) once it exits 0."""
    try:
        output, _ = driver.communicate(timeout=GRID_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        driver.kill()
        output, _ = driver.communicate()
        pytest.fail(f"the grid did not finish in {GRID_TIMEOUT_S} s (queue: {cluster.jobs()})\n"
                    f"{output[-4000:]}\n{cluster.logs()}")  # fmt: skip
    assert driver.returncode == 0, f"{output[-4000:]}\n{cluster.logs()}"
    return " ".join(output.split())


def submitted(run: Path) -> dict[str, str]:
    """The executor's ledger: job id of each submitted cell, by cell id."""
    ledger = json.loads((run / "slurm" / "submitted.json").read_text())
    return {key.split("@")[0]: job_id for key, job_id in ledger.items()}


def test_a_grid_on_slurm_equals_the_in_process_grid(idle, reference, tmp_path):
    run = tmp_path / "runs" / "g"
    started = time.monotonic()
    output = finish(start_driver(slurm_args(tmp_path), idle.env), idle)
    print(f"grid of {CHAOS_CELLS} cells on SLURM: {time.monotonic() - started:.1f} s")
    jobs = submitted(run)
    assert sorted(jobs) == sorted(p.name for p in run.glob("cells/*")), jobs
    for job_id in jobs.values():  # array elements, each with its submitit log
        assert "_" in job_id and (run / "slurm" / f"{job_id}_0_log.out").exists(), job_id
    assert re.search(r"slurm: \d pending, \d running", output), "no queue counts reported"
    assert "left the SLURM queue" not in output, output
    assert_one_record_set(run, CHAOS_CELLS)
    assert_same_run(reference, run)


def test_a_job_array_sbatch_refuses_is_a_one_line_error(idle, tmp_path):
    args = [*slurm_args(tmp_path), "--executor-option", "partition=no-such-partition"]
    driver = start_driver(args, idle.env)
    output, _ = driver.communicate(timeout=GRID_TIMEOUT_S)
    assert driver.returncode == 2, output
    line = ("error: executor 'slurm': sbatch refused the job array of 4 cell(s): invalid "
            "partition specified: no-such-partition; ")  # fmt: skip
    assert line in output and "Traceback" not in output, output


def read_until(driver: subprocess.Popen, text: str, timeout: float) -> str:
    """The driver's output (whitespace normalised) up to the first line containing
    ``text``; fails after ``timeout`` seconds or when the driver exits first."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(driver.stdout or []), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not any(text in line for line in lines):
        if time.monotonic() > deadline or not reader.is_alive():
            pytest.fail(f"no line with {text!r} in {timeout:g} s:\n{''.join(lines)}")
        time.sleep(0.2)
    return " ".join("".join(lines).split())


def test_a_time_above_the_partitions_limit_is_named_while_the_array_pends(idle, tmp_path):
    """``sbatch`` accepts the array (``EnforcePartLimits=NO``, SLURM's default) and SLURM
    keeps it pending for ever: the driver says why."""
    limit = idle.command("scontrol", "update", "PartitionName=debug", "MaxTime=10")
    assert limit.returncode == 0, limit.stderr
    driver = start_driver(slurm_args(tmp_path), idle.env)  # time=30 minutes per cell
    try:
        output = read_until(driver, "pending for PartitionTimeLimit will not", GRID_TIMEOUT_S)
    finally:
        driver.kill()
        driver.wait()
        idle.command("scontrol", "update", "PartitionName=debug", "MaxTime=INFINITE")
    assert "slurm: 4 pending (PartitionTimeLimit), 0 running" in output, output


def environment(pid: int) -> dict[str, str]:
    """The environment of process ``pid``."""
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").partition("=")[::2] for item in raw if item)


def srun_of(slurm_job: str) -> int:
    """The ``srun`` that launched job ``slurm_job``'s step from its batch script (srun forks
    a helper of its own: the one whose parent is no ``srun``)."""
    sruns = {}
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")[0].decode()
            if (
                Path(command).name == "srun"
                and environment(int(proc.name))["SLURM_JOB_ID"] == slurm_job
            ):
                sruns[int(proc.name)] = int(
                    (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
        except (OSError, ValueError, KeyError):
            continue
    main = [pid for pid, parent in sruns.items() if parent not in sruns]
    assert len(main) == 1, f"expected one srun of job {slurm_job}, found {sorted(sruns)}"
    return main[0]


def kill_one_element(
    run: Path, driver: subprocess.Popen, cluster: SlurmCluster, target: str
) -> tuple[str, str]:
    """SIGKILL the ``target`` (``worker`` or ``srun``) of the first cell seen mid-training (its
    first training state saved, no records yet), checking through ``scontrol listpids`` that
    it is a process of the element's job; the cell and the element's job id."""
    deadline = time.monotonic() + GRID_TIMEOUT_S
    while time.monotonic() < deadline:
        if driver.poll() is not None:
            pytest.fail(f"the grid ended before an element was killed\n{driver.communicate()[0]}")
        for state in sorted(run.glob("cells/*/checkpoint/state.pt")):
            cell = state.parent.parent
            if (cell / "records.jsonl").exists():
                continue
            worker = int(json.loads((cell / "worker.json").read_text())["pid"])
            try:
                env = environment(worker)
                job_id = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
                pid = worker if target == "worker" else srun_of(env["SLURM_JOB_ID"])
            except (OSError, KeyError):  # already gone, or not a SLURM process
                continue
            pids = cluster.command("scontrol", "listpids", env["SLURM_JOB_ID"]).stdout.split()
            assert str(pid) in pids, f"{target} {pid} is no process of job {job_id}: {pids}"
            os.kill(pid, signal.SIGKILL)
            return cell.name, job_id
        time.sleep(0.05)
    pytest.fail(f"no cell reached mid-training in {GRID_TIMEOUT_S} s\n{cluster.logs()}")


@pytest.mark.parametrize("target", ["worker", "srun"])
def test_a_killed_array_element_is_detected_without_accounting_and_resubmitted(
    idle, reference, tmp_path, target
):
    """The element's worker process, or the ``srun`` of its step (the hang of issue 26)."""
    run = tmp_path / "runs" / "g"
    started = time.monotonic()
    env = dict(idle.env)
    if target == "srun":  # the job ends with its srun; SLURM then sends SIGTERM (which
        # submitit's worker bypasses) and SIGKILL KillWait (5 s) later: slow steps keep the
        # cell from finishing in that window, which would leave nothing to retry
        env["BENCH_CHAOS_STEP_SLEEP_S"] = "1.0"
    driver = start_driver(slurm_args(tmp_path), env)
    cell, job_id = kill_one_element(run, driver, idle, target)
    killed_at = time.monotonic()
    output = finish(driver, idle)
    print(f"grid of {CHAOS_CELLS} cells on SLURM, one element's {target} killed "
          f"{killed_at - started:.1f} s in: {time.monotonic() - started:.1f} s")  # fmt: skip
    line = (f"{cell} (job {job_id}): left the SLURM queue without a result for {GRACE_S} s "
            "(killed, preempted or its node failed); retrying")  # fmt: skip
    assert line in output, output
    assert output.count("left the SLURM queue") == 1, output
    print(line)
    assert submitted(run)[cell] != job_id, "the killed cell was not resubmitted"
    assert_one_record_set(run, CHAOS_CELLS)
    assert_same_run(reference, run)
