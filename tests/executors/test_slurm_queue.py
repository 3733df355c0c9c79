"""The SLURM executor's queue watch: an array element gone from ``squeue`` without a result
is failed after the grace period and retried under the retry rule (without accounting,
submitit alone would wait for it forever), and the array's counts are reported."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest
from bench.plugins.executors.slurm import SlurmExecutor, squeue_states
from rich.console import Console

from bench.api import CellJob, ExecutorSettings, JobResult


class FakeHandle:
    """A submitit job handle: done when told; a result file where told."""

    def __init__(self, job_id: str, folder: Path, result: str | None = None) -> None:
        self.job_id = job_id
        self.paths = SimpleNamespace(result_pickle=folder / f"{job_id}_result.pkl")
        self.finished = result is not None
        self._result = result

    def done(self) -> bool:
        return self.finished

    def result(self) -> str:
        assert self._result is not None
        return self._result


def _executor(tmp_path: Path, retries: int, console: Console) -> SlurmExecutor:
    settings = ExecutorSettings(
        run_dir=tmp_path, retries=retries, options={"grace_s": 0.05, "poll_s": 0.01},
        console=console,
    )  # fmt: skip
    return SlurmExecutor(settings)


def test_an_element_gone_from_the_queue_is_retried_and_the_grid_finishes(tmp_path) -> None:
    out = io.StringIO()
    executor = _executor(tmp_path, retries=1, console=Console(file=out, width=200))
    jobs = [CellJob("cell-a", {}), CellJob("cell-b", {})]
    rounds = [
        [FakeHandle("100_0", tmp_path, "runs/a"), FakeHandle("100_1", tmp_path)],  # b dies
        [FakeHandle("101_0", tmp_path, "runs/b")],
    ]
    submitted: list[list[str]] = []

    def submit(_submitit, todo):
        submitted.append([job.cell for job in todo])
        return rounds.pop(0)

    executor._submit = submit  # type: ignore[method-assign]
    executor.queue_states = lambda ids: {}  # type: ignore[assignment]  # nothing queued
    results: list[JobResult] = []
    executor.run(jobs, results.append)
    assert submitted == [["cell-a", "cell-b"], ["cell-b"]]
    assert {(r.job.cell, r.attempts, r.path) for r in results} == {
        ("cell-a", 1, "runs/a"),
        ("cell-b", 2, "runs/b"),
    }
    text = " ".join(out.getvalue().split())
    assert "cell-b (job 100_1): left the SLURM queue without a result for 0.05 s" in text
    assert "retrying" in text


def test_without_retries_a_dead_element_is_a_failed_cell_naming_why(tmp_path) -> None:
    executor = _executor(tmp_path, retries=0, console=Console(file=io.StringIO()))
    executor._submit = lambda _s, todo: [FakeHandle("7_0", tmp_path)]  # type: ignore[method-assign]
    executor.queue_states = lambda ids: {}  # type: ignore[assignment]
    results: list[JobResult] = []
    executor.run([CellJob("cell-x", {})], results.append)
    (result,) = results
    assert not result.ok and "left the SLURM queue without a result" in str(result.error)


def test_a_queued_element_or_one_with_a_result_file_is_never_declared_dead(tmp_path) -> None:
    """Pending/running in squeue, or gone but with its result written: waited for."""
    out = io.StringIO()
    executor = _executor(tmp_path, retries=0, console=Console(file=out, width=200))
    queued, written = FakeHandle("9_0", tmp_path), FakeHandle("9_1", tmp_path)
    written.paths.result_pickle.write_text("done")
    polls = {"n": 0}

    def states(ids):
        polls["n"] += 1
        if polls["n"] > 20:  # then both finish
            queued.finished, queued._result = True, "runs/q"
            written.finished, written._result = True, "runs/w"
        return {"9_0": "PD"}

    executor._submit = lambda _s, todo: [queued, written]  # type: ignore[method-assign]
    executor.queue_states = states  # type: ignore[assignment]
    results: list[JobResult] = []
    executor.run([CellJob("q", {}), CellJob("w", {})], results.append)
    assert all(r.ok for r in results) and len(results) == 2
    assert "slurm: 1 pending, 0 running" in out.getvalue()


def test_squeue_that_cannot_run_says_nothing_about_absence(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert squeue_states(["1_0"]) is None


@pytest.mark.parametrize("value", [-1, "soon"])
def test_grace_must_be_a_number(tmp_path, value) -> None:
    from bench.api import ExecutorError

    with pytest.raises(ExecutorError, match="grace_s"):
        SlurmExecutor(ExecutorSettings(run_dir=tmp_path, options={"grace_s": value}))


def test_a_restarted_driver_reattaches_to_elements_still_queued_or_finished(tmp_path) -> None:
    """The first driver submits three cells and dies; the second, with the same cells,
    re-attaches to the one still queued and the one whose result is written, and submits
    only the one that is gone; a cell of another identity is never re-attached."""
    out = io.StringIO()
    first = _executor(tmp_path, retries=0, console=Console(file=out, width=200))
    jobs = [CellJob(f"cell-{c}", {"digest": "d1"}) for c in "abc"]
    first._record([(job, FakeHandle(f"50_{i}", tmp_path)) for i, job in enumerate(jobs)])
    FakeHandle("50_1", tmp_path).paths.result_pickle.write_text("done")

    second = _executor(tmp_path, retries=0, console=Console(file=out, width=200))
    attached = {"50_0": FakeHandle("50_0", tmp_path, "runs/a"),
                "50_1": FakeHandle("50_1", tmp_path, "runs/b")}  # fmt: skip
    second._attach = lambda _s, job_id: attached.get(job_id, FakeHandle(job_id, tmp_path))  # type: ignore[method-assign]
    second.queue_states = lambda ids: {"50_0": "R"}  # type: ignore[assignment]
    submitted: list[list[str]] = []

    def submit(_submitit, todo):
        submitted.append([job.cell for job in todo])
        return [FakeHandle(f"60_{i}", tmp_path, f"runs/{job.cell}") for i, job in enumerate(todo)]

    second._submit = submit  # type: ignore[method-assign]
    results: list[JobResult] = []
    stale = CellJob("cell-a", {"digest": "d2"})  # cell a under another identity
    second.run([*jobs, stale], results.append)
    assert submitted == [["cell-c", "cell-a"]]
    assert sorted((r.job.cell, r.path) for r in results) == [
        ("cell-a", "runs/a"), ("cell-a", "runs/cell-a"), ("cell-b", "runs/b"),
        ("cell-c", "runs/cell-c"),
    ]  # fmt: skip
    assert "re-attached to 2 element(s)" in " ".join(out.getvalue().split())


def test_submitting_without_slurm_commands_names_them(tmp_path, monkeypatch) -> None:
    submitit = pytest.importorskip("submitit")
    from bench.api import ExecutorError

    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch, srun or squeue here
    executor = SlurmExecutor(ExecutorSettings(run_dir=tmp_path))
    with pytest.raises(ExecutorError, match="sbatch, srun, squeue not found on PATH"):
        executor._submit(submitit, [CellJob("cell-a", {})])


def test_a_bad_executor_option_is_one_line_from_the_cli(tmp_path) -> None:
    pytest.importorskip("submitit")
    from tests.executors.helpers import chaos_host, grid_args, invoke

    args = [*grid_args(tmp_path, "x"), "--executor", "slurm", "--executor-option", "grace_s=-1"]
    result = invoke(chaos_host(), [*args, "--dry-run"])
    assert result.exit_code == 2, result.output
    assert "error: executor options 'grace_s' (>= 0)" in result.output
    assert "Traceback" not in result.output


def test_pending_reasons_are_reported_and_one_that_never_passes_is_a_warning(tmp_path) -> None:
    out = io.StringIO()
    executor = _executor(tmp_path, retries=0, console=Console(file=out, width=300))
    handle = FakeHandle("8_0", tmp_path)
    polls = iter(["PD Priority", "PD Priority", "PD PartitionTimeLimit", "R None"])

    def states(ids):
        state = next(polls, None)
        if state is None:  # then it finishes
            handle.finished, handle._result = True, "runs/a"
            return {}
        return {"8_0": state}

    executor._submit = lambda _s, todo: [handle]  # type: ignore[method-assign]
    executor.queue_states = states  # type: ignore[assignment]
    results: list[JobResult] = []
    executor.run([CellJob("a", {})], results.append)
    assert [r.path for r in results] == ["runs/a"]
    lines = [line for line in out.getvalue().splitlines() if line.startswith("slurm: ")]
    assert [line.split(",")[0] for line in lines] == [
        "slurm: 1 pending (Priority)", "slurm: 1 pending (PartitionTimeLimit)",
        "slurm: elements pending for PartitionTimeLimit will not start as submitted: check the "
        "options partition", "slurm: 0 pending", "slurm: 0 pending",
    ]  # fmt: skip


def test_a_dead_element_is_resubmitted_while_the_rest_of_its_array_runs(tmp_path) -> None:
    executor = _executor(tmp_path, retries=1, console=Console(file=io.StringIO()))
    running = FakeHandle("100_0", tmp_path)  # finishes only once cell-b is resubmitted
    submitted: list[list[str]] = []

    def submit(_submitit, todo):
        submitted.append([job.cell for job in todo])
        if len(submitted) == 1:
            return [running, FakeHandle("100_1", tmp_path)]  # 100_1 dies
        running.finished, running._result = True, "runs/a"
        return [FakeHandle("101_0", tmp_path, "runs/b")]

    polls = {"n": 0}

    def states(ids):
        polls["n"] += 1
        assert polls["n"] < 500, "cell-b was not resubmitted while cell-a ran"
        return {"100_0": "R None"} if "100_0" in ids and not running.finished else {}

    executor._submit = submit  # type: ignore[method-assign]
    executor.queue_states = states  # type: ignore[assignment]
    results: list[JobResult] = []
    executor.run([CellJob("cell-a", {}), CellJob("cell-b", {})], results.append)
    assert submitted == [["cell-a", "cell-b"], ["cell-b"]]
    assert sorted((r.job.cell, r.attempts, r.path) for r in results) == [
        ("cell-a", 1, "runs/a"),
        ("cell-b", 2, "runs/b"),
    ]


def test_an_element_that_finished_or_died_no_longer_counts_as_gone(tmp_path) -> None:
    executor = _executor(tmp_path, retries=0, console=Console(file=io.StringIO()))
    executor.queue_states = lambda ids: {}  # type: ignore[assignment]
    finished, dying = FakeHandle("3_0", tmp_path), FakeHandle("3_1", tmp_path)
    gone_since = {finished: 0.0, dying: 0.0}  # both seen gone long ago
    assert executor._dead({dying: "cell"}, gone_since) == [dying]
    assert gone_since == {}
