"""The grid runner: model × task × fraction × seed cells, identity-checked and resumable.

The runner only orders cells and resumes. For every task it prepares the data once —
cohort, split and every cache a cell reads (:meth:`bench.run.context.CellContext.load_task`)
— then for every cell plans its identity (:func:`bench.run.cells.plan_cell`) and compares
it with what the run directory holds (:class:`bench.run.store.RunStore`):

- ``done`` with the same identity: skipped; if the requested metrics or bootstrap recipe
  differ from the stored ones, the records are recomputed from the saved predictions
  (never retrained);
- ``stale`` (stored under another identity): re-run, naming the fields that changed; its
  records leave ``results.jsonl`` before any cell runs;
- ``new`` or ``partial`` (interrupted): run, resuming from the cell's checkpoint.

Running a cell is :func:`bench.run.execution.run_cell` (train, score, record, store);
re-scoring one is :func:`bench.run.execution.rescore_cell`.

With ``--workers 1`` (the default) cells run one after another in this process. Otherwise
the pending cells go to an executor (:mod:`bench.run.dispatch`, :mod:`bench.executors`:
worker processes, Ray, SLURM or a plugin's), which runs each through
:func:`bench.executors.worker.run_cell`, with the same context and functions;
the driver alone rebuilds ``results.jsonl`` as cells come back.
"""

from __future__ import annotations

import traceback
from dataclasses import replace
from typing import Any

from rich.console import Console
from rich.progress import Progress

from bench import __version__
from bench.data.splits import SplitConfig
from bench.data.trainable import fraction_problem
from bench.errors import RunError
from bench.executors import Executor, JobResult
from bench.executors.worker import intra_op_threads
from bench.host.manager import PluginHost
from bench.host.specs import TaskSpec
from bench.progress import counted_progress
from bench.run.cells import CellKey, CellPlan, plan_cell
from bench.run.config import RunConfig
from bench.run.context import CellContext
from bench.run.dispatch import cell_job, create_executor, in_process
from bench.run.estimate import estimate_grid
from bench.run.execution import rescore_cell, run_cell
from bench.run.provenance import environment, git_sha, package_versions
from bench.run.summary import RunSummary, report_prepared
from bench.run.task_data import PreparedTask
from bench.training.devices import resolve_device


class Runner:
    """Runs a :class:`RunConfig` grid using the specs registered in ``host``."""

    def __init__(
        self,
        config: RunConfig,
        host: PluginHost,
        console: Console | None = None,
        score_only: bool = False,
    ):
        """``score_only`` (``bench rescore``): re-score done cells, never train one."""
        self.config = config
        self.score_only = score_only
        self.host = host
        self.console = console or Console(stderr=True)
        self.context = CellContext.open(config, host, self.console)
        self.models = list(self.context.models)
        self.tasks: list[TaskSpec] = [host.registries.tasks.get(n) for n in config.tasks]
        self.run_dir = self.context.run_dir
        self.store = self.context.store
        self.device = str(resolve_device(config.device))
        #: What the executor would do with the pending cells (set by ``run(dry_run=True)``).
        self.described: str | None = None

    def prepare(self, task: TaskSpec, summary: RunSummary) -> PreparedTask:
        """Prepare ``task`` once for all its cells (cohort, split, every cache they read),
        report what preparation found (``--strict``: stop at the first problem) and save
        the split membership."""
        config = self.config
        prepared = self.context.load_task(task)
        report_prepared(prepared, summary, self.console, config.strict)
        if not prepared.usable.get("checked", True):
            self._report_unbuilt(prepared)
        (self.run_dir / "splits").mkdir(exist_ok=True)
        prepared.split.to_json(
            self.run_dir / "splits" / f"{task.name}__{prepared.source}.json",
            config.fractions,
            prepared.manifest,
            config.seeds,
            config.validation_rule,
        )
        return prepared

    def _per_ecg_bytes(self) -> dict[str, int]:
        """Cache bytes per ECG of each input representation the models need."""
        inputs = self.context.inputs
        return {
            m.input.key(): m.input.item_bytes(inputs.preprocess, inputs.render) for m in self.models
        }

    def _unbuilt_bytes(self, prepared: PreparedTask) -> int:
        """Bytes of the input caches a dry run left unbuilt for ``prepared`` (0 when built)."""
        if prepared.usable.get("checked", True):
            return 0
        return len(prepared.manifest) * sum(self._per_ecg_bytes().values())

    def _report_unbuilt(self, prepared: PreparedTask) -> None:
        """A dry run's word on the caches it did not build: their size, and that records
        are unchecked until they are."""
        per_key = self._per_ecg_bytes()
        n = len(prepared.manifest)
        total = n * sum(per_key.values())
        parts = ", ".join(f"{key} {size / 1e3:,.1f} kB" for key, size in per_key.items())
        self.console.print(
            f"[yellow]{prepared.task.name}/{prepared.source}: dry run: the input caches of "
            f"{n:,} ECGs are not built (the real run writes ~{total / 1e9:,.2f} GB to "
            f"{self.context.cache.root}; per ECG: {parts}); records are unchecked, so the "
            "planned identities are provisional[/]"
        )

    def run(self, dry_run: bool = False) -> RunSummary:
        """Run every cell that is not done under its current identity.

        With ``dry_run`` nothing is trained: the executor's description of the pending
        cells (for SLURM, the job script) is kept in :attr:`described`."""
        summary = RunSummary(self.run_dir)
        config = self.config
        if dry_run and not self.context.dry_run:
            self.context = replace(self.context, dry_run=True)
        if not dry_run:  # a dry run leaves the run's own description and report alone
            self.store.write_json(
                "run.json",
                {
                    "config": config.to_dict(),
                    "harness_version": __version__,
                    "git_sha": git_sha(),
                    "packages": package_versions(),
                    "environment": environment(),
                    "device": self.device,
                },
            )
            self.host.call_safely(
                "bench_run_started", run_id=self.run_dir.name, config=config.to_dict()
            )
        n_cells = len(self.tasks) * len(config.fractions) * len(config.seeds) * len(self.models)
        progress = counted_progress(self.console)
        local = in_process(config) and not dry_run
        executor = None if local else create_executor(self.context, dry_run)
        try:
            with progress:
                grid = progress.add_task("cells", total=n_cells)
                to_run: list[tuple[PreparedTask, CellPlan]] = []
                cache_bytes = 0
                for task in self.tasks:
                    prepared = self.prepare(task, summary)
                    cache_bytes += self._unbuilt_bytes(prepared)
                    to_run += self._plan_task(prepared, summary, progress, grid)
                self.console.print(estimate_grid(self.context, to_run, cache_bytes).describe())
                if summary.rerun_stale and not dry_run:
                    self.store.withdraw(stale["cell"] for stale in summary.rerun_stale)
                if executor is None:
                    for prepared, plan in to_run:
                        self._visit(prepared, plan, summary, progress, grid)
                        progress.advance(grid)
                else:
                    plans = [plan for _, plan in to_run]
                    self._dispatch(executor, plans, summary, progress, grid, dry_run)
            if not dry_run:
                self._run_level_metrics(summary)
        except KeyboardInterrupt:
            summary.interrupted = True
            self.console.print("[yellow]interrupted: finished cells are saved; re-run to resume[/]")
            raise
        finally:
            if not dry_run:
                self.store.write_json("report.json", summary.to_dict())
                self.host.call_safely(
                    "bench_run_finished",
                    run_id=self.run_dir.name,
                    output_dir=str(self.run_dir),
                    summary=summary.to_dict(),
                )
        return summary

    def _run_level_metrics(self, summary: RunSummary) -> None:
        """Metrics computed from the finished run (e.g. saliency), through the registry."""
        run_metrics = self.context.run_metrics
        if not run_metrics or not (summary.finished or summary.resumed):
            return
        for run in dict.fromkeys(m.run for m in run_metrics):
            assert run is not None
            names = [m.name for m in run_metrics if m.run is run]
            for path in run(self.run_dir, names):
                self.console.print(f"{', '.join(names)}: {path}")

    def _plan_task(
        self, prepared: PreparedTask, summary: RunSummary, progress: Progress, grid: Any
    ) -> list[tuple[PreparedTask, CellPlan]]:
        """Plan every cell of a prepared task: the cells that must run (new, interrupted or
        stale); done cells are counted (and re-scored where the metrics changed), cells
        that cannot train are skipped with the reason."""
        config, task = self.config, prepared.task
        min_positives = SplitConfig().min_positives
        to_run = []
        for fraction in config.fractions:
            for seed in config.seeds:
                for spec in self.models:
                    key = CellKey(
                        spec.name, task.name, prepared.source, fraction, seed, config.protocol
                    )
                    train_ids = prepared.train_ids(fraction, seed)
                    problem = fraction_problem(
                        prepared.label_values(train_ids), min_positives, task.kind
                    )
                    if not problem and not prepared.validation_ids(
                        fraction, seed, config.validation_rule
                    ):
                        problem = (
                            f"no validation ECG in the split of {len(prepared.manifest)} "
                            "usable ECG(s): training monitors and selects on validation; "
                            "use a cohort with more patients"
                        )
                    if problem:
                        summary.skipped.append({"cell": key.id, "reason": problem})
                        self.console.print(f"[yellow]skipped {key.id}: {problem}[/]")
                    else:
                        plan = plan_cell(self.context, prepared, spec, key, train_ids)
                        if self._must_run(prepared, plan, summary):
                            to_run.append((prepared, plan))
                            continue  # advanced when it has run
                    progress.advance(grid)
        return to_run

    def _visit(
        self,
        prepared: PreparedTask,
        plan: CellPlan,
        summary: RunSummary,
        progress: Progress,
        grid: Any,
    ) -> None:
        """Run one cell that must run, in this process."""
        cell = plan.key.id
        progress.update(grid, description=f"cells ({cell})")
        try:
            with intra_op_threads(self.context.cell_threads):
                records = run_cell(self.context, prepared, plan, progress)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            if self.config.strict:
                raise
            summary.failed.append(
                {
                    "cell": cell,
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(),
                }
            )
            self.console.print(f"[red]cell {cell} failed: {type(exc).__name__}: {exc}[/]")
            return
        summary.finished += 1
        for record in records:
            self.host.call_safely("bench_result", record=record)

    def _must_run(self, prepared: PreparedTask, plan: CellPlan, summary: RunSummary) -> bool:
        """False for a done cell (re-scored if the metrics changed); True for a new,
        interrupted or stale one (a stale one's changed fields are named)."""
        cell = plan.key.id
        status = self.store.status(cell, plan.identity)
        if status.state == "done":
            summary.resumed += 1
            if rescore_cell(self.context, prepared, plan):
                summary.rescored += 1
                self.console.print(f"re-scored {cell} from its saved predictions")
            return False
        if self.score_only:
            reason = (
                f"not done under its current identity ({status.state}); bench rescore never trains"
            )
            summary.skipped.append({"cell": cell, "reason": reason})
            self.console.print(f"[yellow]{cell}: {reason}[/]")
            return False
        if status.state == "stale":
            changed = ", ".join(status.changed[:6]) + (" …" if len(status.changed) > 6 else "")
            summary.rerun_stale.append({"cell": cell, "changed": status.changed})
            self.console.print(f"[yellow]re-running {cell}: its identity changed ({changed})[/]")
        return True

    def _dispatch(
        self,
        executor: Executor,
        pending: list[CellPlan],
        summary: RunSummary,
        progress: Progress,
        grid: Any,
        dry_run: bool,
    ) -> None:
        """Hand the pending cells to ``executor``; as each comes back, rebuild
        ``results.jsonl`` (the driver is its only writer) and call ``bench_result``."""
        jobs = [cell_job(self.context, plan, self.device) for plan in pending]
        if dry_run:
            self.described = executor.describe(jobs)
            return

        def on_result(result: JobResult) -> None:
            cell = result.job.cell
            progress.advance(grid)
            done = result.ok and self.store.has_records(cell)
            records = self.store.cell_records(cell) if done else []
            if not records:
                error = result.error or "the worker returned without writing records"
                summary.failed.append({"cell": cell, "error": error, "attempts": result.attempts})
                self.console.print(
                    f"[red]cell {cell} failed after {result.attempts} attempt(s): {error}[/]"
                )
                return
            self.store.rebuild_results()
            summary.finished += 1
            for record in records:
                self.host.call_safely("bench_result", record=record)

        if jobs:
            self.console.print(f"{len(jobs)} cell(s) to run on executor {self.config.executor!r}")
            executor.run(jobs, on_result)
        if summary.failed and self.config.strict:
            first = summary.failed[0]
            raise RunError(f"--strict: cell {first['cell']} failed: {first['error']}")
