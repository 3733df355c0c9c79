"""Executors: options and config, the plugin registry, dry runs, the worker entry point,
and (slow) grids on worker processes, Ray and submitit that equal the in-process grid."""

from __future__ import annotations

import importlib.util
import json

import pytest

from bench import hookimpl
from bench.api import ExecutorError, ExecutorSettings, ExecutorSpec
from bench.run.config import ConfigError, RunConfig, build_config
from tests.executors.helpers import (
    assert_one_record_set,
    assert_same_run,
    chaos_host,
    grid_args,
    invoke,
)

HAS_RAY = importlib.util.find_spec("ray") is not None
HAS_SUBMITIT = importlib.util.find_spec("submitit") is not None


@pytest.fixture(scope="module")
def host():
    return chaos_host()


def test_builtin_executors_are_registered_through_the_hook(host):
    registry = host.registries.executors
    assert registry.names() == ["local", "ray", "slurm"]
    assert {registry.owner(n) for n in registry.names()} == {"bench.plugins.executors"}
    with pytest.raises(KeyError, match="did you mean: slurm"):
        registry.get("slurn")


def test_executor_keys_leave_the_run_name_alone(tmp_path):
    config = tmp_path / "grid.yaml"
    config.write_text(
        "executor: slurm\nworkers: 3\nretries: 1\nlog: mlflow\n"
        "executor_options: {partition: gpu, extra: {account: ecg}}\n"
    )
    built = build_config(config, {})
    assert built.executor == "slurm" and built.workers == 3 and built.log == ("mlflow",)
    assert built.executor_options["extra"] == {"account": "ecg"}
    assert built.default_run_name() == RunConfig().default_run_name()
    assert RunConfig.from_dict(json.loads(json.dumps(built.to_dict()))) == built


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("workers: 0\n", "workers must be an integer >= 1"),
        ("retries: -1\n", "retries must be an integer >= 0"),
        ("executor_options: [a]\n", "executor_options must be a mapping"),
    ],
)
def test_bad_executor_keys_name_the_key(tmp_path, text, message):
    config = tmp_path / "grid.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        build_config(config, {})


def test_unknown_executor_and_options_are_errors(host, tmp_path):
    result = invoke(host, [*grid_args(tmp_path, "x"), "--executor", "kubernetes"])
    assert result.exit_code == 2
    assert "unknown executor 'kubernetes'" in result.output
    local = host.registries.executors.get("local")
    settings = ExecutorSettings(tmp_path, options={"adress": "auto"})
    with pytest.raises(ExecutorError, match=r"unknown option\(s\) \['adress'\]"):
        local.create(settings)
    slurm_settings = ExecutorSettings(tmp_path, options={"time": "long"})
    if HAS_SUBMITIT:
        with pytest.raises(ExecutorError, match="option 'time': expected int/float"):
            host.registries.executors.get("slurm").create(slurm_settings)


def test_executor_option_values_are_yaml(host, tmp_path):
    result = invoke(
        host,
        [*grid_args(tmp_path, "opts"), "--executor-option", "num_cpus=[1", "--dry-run"],
    )
    assert result.exit_code == 2
    assert "not valid YAML" in result.output


def test_dry_run_lists_pending_cells_and_runs_nothing(host, tmp_path):
    result = invoke(host, [*grid_args(tmp_path, "dry"), "--workers", "2", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "local executor: 2 cell(s), 2 at a time" in result.output
    assert "tiny-cnn__stemi__synthetic__f0.5__s0__finetune" in result.output
    assert not list((tmp_path / "runs" / "dry").glob("cells/*"))


@pytest.mark.skipif(not HAS_SUBMITIT, reason="submitit not installed (pip install .[slurm])")
def test_slurm_dry_run_prints_the_job_array_script(host, tmp_path):
    args = [*grid_args(tmp_path, "sl"), "--executor", "slurm", "--dry-run",
            "--executor-option", "partition=gpu", "--executor-option", "max_parallel=1",
            "--executor-option", "time=90", "--executor-option", "gpus=1",
            "--executor-option", "extra={account: ecg}"]  # fmt: skip
    result = invoke(host, args)
    assert result.exit_code == 0, result.output
    script = result.output
    assert "#SBATCH --array=0-1%1" in script
    assert "#SBATCH --partition=gpu" in script
    assert "#SBATCH --time=90" in script
    assert "#SBATCH --gpus-per-node=1" in script
    assert "#SBATCH --account=ecg" in script
    assert "submitit.core._submit" in script
    assert "#   1: tiny-cnn__stemi__synthetic__f1__s0__finetune" in script
    assert not list((tmp_path / "runs" / "sl").glob("cells/*"))


def test_a_worker_refuses_a_cell_whose_identity_differs(host, tmp_path):
    from rich.console import Console

    from bench.executors.worker import IdentityMismatchError, cell_spec, run_cell
    from bench.run.cells import CellKey, plan_cell
    from bench.run.context import CellContext

    config = build_config(None, {"models": ("tiny-cnn",), "fractions": (1.0,), "profile": "tiny",
                                 "output": str(tmp_path / "runs"), "run_name": "id",
                                 "cache_dir": str(tmp_path / "cache")})  # fmt: skip
    context = CellContext.open(config, host, Console(quiet=True))
    prepared = context.load_task(host.registries.tasks.get("stemi"))
    key = CellKey("tiny-cnn", "stemi", "synthetic", 1.0, 0, "finetune")
    spec = host.registries.models.get("tiny-cnn")
    plan = plan_cell(context, prepared, spec, key, prepared.train_ids(1.0, 0))
    job = cell_spec(context, plan)
    assert job["plugins"] == [
        {"name": "chaos-models", "ref": "tests.executors.chaos_plugin:ChaosModels"}
    ]
    with pytest.raises(IdentityMismatchError, match="the driver 0000"):
        run_cell({**job, "digest": "0000"}, str(context.run_dir))
    assert not (context.run_dir / "cells").exists()


def test_a_worker_opens_the_drivers_caches_and_never_builds_one(host, tmp_path):
    from rich.console import Console

    from bench.data.image_cache import CacheMissError
    from bench.executors.worker import cell_spec, run_cell
    from bench.run.cells import CellKey, plan_cell
    from bench.run.context import CellContext

    config = build_config(None, {"models": ("tiny-cnn",), "fractions": (1.0,), "profile": "tiny",
                                 "output": str(tmp_path / "runs"), "run_name": "c",
                                 "cache_dir": str(tmp_path / "cache")})  # fmt: skip
    context = CellContext.open(config, host, Console(quiet=True))
    task = host.registries.tasks.get("stemi")
    with pytest.raises(CacheMissError, match="not cached"):
        context.load_task(task, build=False)
    assert not list((tmp_path / "cache").glob("*"))
    prepared = context.load_task(task)
    key = CellKey("tiny-cnn", "stemi", "synthetic", 1.0, 0, "finetune")
    spec = host.registries.models.get("tiny-cnn")
    plan = plan_cell(context, prepared, spec, key, prepared.train_ids(1.0, 0))
    job = cell_spec(context, plan)
    for folder in (tmp_path / "cache").iterdir():  # the driver's caches go missing
        for file in folder.iterdir():
            file.unlink()
    with pytest.raises(CacheMissError, match="caches are built when a run prepares"):
        run_cell(job, str(context.run_dir))


class Inline:
    """An executor plugin that runs each cell in this process through the worker entry."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def create(self, settings: ExecutorSettings):
        from bench.executors import JobResult
        from bench.executors.worker import run_cell

        seen = self.seen

        class Executor:
            def describe(self, jobs):
                return f"flaky: {len(jobs)}"

            def run(self, jobs, on_result):
                for job in jobs:
                    seen.append(job.cell)
                    on_result(JobResult(job, 1, path=run_cell(job.spec, str(settings.run_dir))))

        return Executor()

    @hookimpl
    def bench_register_executors(self, register):
        register(ExecutorSpec("inline-test", "runs cells in process", self.create))


def test_a_plugin_executor_runs_the_grid_and_the_driver_writes_results(host, tmp_path):
    plugin = Inline()
    host.register(plugin, "inline-executor")
    try:
        result = invoke(host, [*grid_args(tmp_path, "plug"), "--executor", "inline-test"])
    finally:
        host.unregister("inline-executor")
    assert result.exit_code == 0, result.output
    assert len(plugin.seen) == 2
    run = tmp_path / "runs" / "plug"
    assert_one_record_set(run, 2)
    again = invoke(host, [*grid_args(tmp_path, "plug"), "--workers", "2"])
    assert "resumed 2" in " ".join(again.output.split())


def _worker_pids(root) -> list[int]:
    return [json.loads(p.read_text())["pid"] for p in root.glob("**/worker.json")]


@pytest.mark.slow
def test_workers_2_equal_workers_1(host, tmp_path):
    one = invoke(host, grid_args(tmp_path / "a", "g", seeds=(0, 1)))
    assert one.exit_code == 0, one.output
    two = invoke(host, [*grid_args(tmp_path / "b", "g", seeds=(0, 1)), "--workers", "2"])
    assert two.exit_code == 0, two.output
    assert_same_run(tmp_path / "a" / "runs" / "g", tmp_path / "b" / "runs" / "g")
    assert_one_record_set(tmp_path / "b" / "runs" / "g", 4)
    assert len(set(_worker_pids(tmp_path / "b"))) <= 2, "CPU workers are kept for the grid"
    fresh = [*grid_args(tmp_path / "c", "g", seeds=(0, 1)), "--workers", "2",
             "--executor-option", "cells_per_worker=1"]  # fmt: skip
    assert invoke(host, fresh).exit_code == 0
    assert_same_run(tmp_path / "a" / "runs" / "g", tmp_path / "c" / "runs" / "g")
    pids = _worker_pids(tmp_path / "c")
    assert len(pids) == len(set(pids)) == 4, "cells_per_worker=1: a fresh process per cell"


@pytest.mark.slow
def test_workers_take_the_drivers_current_directory_and_environment(host, tmp_path, monkeypatch):
    """Workers come from a forkserver that an earlier grid started in another directory
    and environment; they must still see the driver's current ones: the relative run
    directory and the cache of ``$BENCH_CACHE_DIR`` (a stale one would gain a folder)."""
    first, second = tmp_path / "first", tmp_path / "second"

    def grid(root, task):
        root.mkdir()
        monkeypatch.chdir(root)
        monkeypatch.setenv("BENCH_CACHE_DIR", str(root / "cache"))
        args = ["run", "-m", "tiny-cnn", "-t", task, "--profile", "tiny", "-f", "1.0",
                "--output", "runs", "--run-name", "g", "--workers", "2"]  # fmt: skip
        result = invoke(host, args)
        assert result.exit_code == 0, result.output
        assert_one_record_set(root / "runs" / "g", 1)

    grid(first, "hcm")
    cached = sorted(p.name for p in (first / "cache").iterdir())
    grid(second, "stemi")
    assert sorted(p.name for p in (first / "cache").iterdir()) == cached


@pytest.mark.slow
@pytest.mark.skipif(not HAS_SUBMITIT, reason="submitit not installed (pip install .[slurm])")
def test_slurm_executor_through_submitit_local_equals_in_process(host, tmp_path):
    one = invoke(host, grid_args(tmp_path / "a", "g"))
    assert one.exit_code == 0, one.output
    args = [*grid_args(tmp_path / "b", "g"), "--executor", "slurm",
            "--executor-option", "cluster=local", "--executor-option", "time=10",
            "--executor-option", "poll_s=0.5"]  # fmt: skip
    via = invoke(host, args)
    assert via.exit_code == 0, via.output
    run = tmp_path / "b" / "runs" / "g"
    assert_same_run(tmp_path / "a" / "runs" / "g", run)
    assert list((run / "slurm").glob("*_0_log.out")), "submitit's job logs are in the run dir"


@pytest.mark.slow
def test_local_executor_retries_a_failing_cell_then_reports_it(tmp_path):
    from bench.plugins.executors.local import create

    from bench.executors import CellJob

    job = CellJob("broken-cell", {"config": {"no_such_key": 1}, "sys_path": []})
    results = []
    create(ExecutorSettings(tmp_path, workers=2, retries=1)).run([job], results.append)
    (result,) = results
    assert not result.ok and result.attempts == 2
    assert "no_such_key" in result.error


def test_local_workers_are_kept_for_cpu_cells_and_fresh_for_gpu_cells(tmp_path):
    from bench.plugins.executors.local import create

    from bench.executors import CellJob

    cpu, gpu = CellJob("cpu", {}), CellJob("gpu", {}, num_gpus=1)
    default = create(ExecutorSettings(tmp_path, workers=2, dry_run=True))
    assert (default.limit(cpu), default.limit(gpu)) == (0, 1)
    options = {"cells_per_worker": 3}
    chosen = create(ExecutorSettings(tmp_path, workers=2, dry_run=True, options=options))
    assert (chosen.limit(cpu), chosen.limit(gpu)) == (3, 3)
    with pytest.raises(ExecutorError, match=r"cells_per_worker.*>= 0"):
        create(ExecutorSettings(tmp_path, workers=2, options={"cells_per_worker": -1}))
