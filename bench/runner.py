"""The grid runner: model × task × fraction × seed cells, resumable and leakage-guarded."""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import __version__
from bench.cohort import Cohort
from bench.config import RunConfig, default_cache_dir
from bench.data.image_cache import ImageCache
from bench.data.preprocess import PreprocessConfig
from bench.data.render import RenderConfig
from bench.datasets import ArrayDataset
from bench.devices import resolve_device
from bench.engine import TrainConfig, TrainResult, fine_tune, linear_probe
from bench.errors import RunError
from bench.plugin_manager import PluginHost
from bench.provenance import git_sha, package_versions, stable_hash
from bench.records import ResultRecord
from bench.resampling import bootstrap_indices
from bench.specs import (
    BuiltModel,
    MetricSpec,
    ModelSpec,
    ScoreData,
    TaskSpec,
    representation_key,
)
from bench.splits import Split, SplitConfig, fraction_problem, split_cohort
from bench.store import RunStore, cell_id


@dataclass
class RunSummary:
    """Counts and locations at the end of a run."""

    run_dir: Path
    finished: int = 0
    resumed: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    bad_records: dict[str, dict[str, str]] = field(default_factory=dict)
    interrupted: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON form (report.json and the bench_run_finished hook)."""
        return {
            "run_dir": str(self.run_dir),
            "finished": self.finished,
            "resumed": self.resumed,
            "skipped": self.skipped,
            "failed": self.failed,
            "bad_records": self.bad_records,
            "interrupted": self.interrupted,
        }


@dataclass
class PreparedTask:
    """A task's cohort, split and representations, shared by all its cells."""

    task: TaskSpec
    cohort: Cohort
    manifest: pd.DataFrame  # usable records only (bad records dropped)
    split: Split
    validation: list[str]
    eval_sets: dict[str, list[str]]
    resamples: dict[str, np.ndarray]
    arrays: dict[str, Any] = field(default_factory=dict)  # representation_key → cached array

    @functools.cached_property
    def by_id(self) -> pd.DataFrame:
        """The usable manifest indexed by record id (built once, used by every cell)."""
        return self.manifest.set_index("record_id")


class Runner:
    """Runs a :class:`RunConfig` grid using the specs registered in ``host``."""

    def __init__(self, config: RunConfig, host: PluginHost, console: Console | None = None):
        self.config = config
        self.host = host
        self.console = console or Console(stderr=True)
        regs = host.registries
        self.models: list[ModelSpec] = [regs.models.get(n) for n in config.models]
        self.tasks: list[TaskSpec] = [regs.tasks.get(n) for n in config.tasks]
        # score metrics run per cell; others (saliency) are computed by their plugins from
        # the finished run (bench_run_finished). Without score metrics named, the defaults.
        requested = [regs.metrics.get(n) for n in config.metrics]
        self.metrics: list[MetricSpec] = [m for m in requested if m.kind == "scores"] or [
            m for m in regs.metrics if m.default and m.kind == "scores"
        ]
        profile = config.profile_spec
        self.preprocess = PreprocessConfig()
        self.render = RenderConfig(size=profile.image_size)
        self.cache = ImageCache(Path(config.cache_dir) if config.cache_dir else default_cache_dir())
        self.run_dir = Path(config.output) / (config.run_name or config.default_run_name())
        self.store = RunStore(self.run_dir)
        self.device = str(resolve_device(config.device))
        self.replicates = config.bootstrap_replicates or profile.bootstrap_replicates

    # -- preparation ---------------------------------------------------------------
    def _source_options(self, task: TaskSpec, source: str) -> dict[str, Any]:
        options: dict[str, Any] = {"task": task.name}
        if source == "synthetic":
            options["n_patients"] = self.config.profile_spec.synthetic_patients
        options.update(self.config.source_options.get(source, {}))
        return options

    def prepare(self, task: TaskSpec, summary: RunSummary) -> PreparedTask:
        """Load the cohort, split it, and build the cached representations."""
        source = self.config.source_for(task.name, task.default_source)
        if source not in task.loaders:
            raise RunError(
                f"task {task.name!r} has no data source {source!r}; "
                f"available: {', '.join(sorted(task.loaders))}"
            )
        cohort = task.loaders[source](self._source_options(task, source))
        split = split_cohort(task, cohort, self.config.external)
        fractions = self.config.fractions
        (self.run_dir / "splits").mkdir(exist_ok=True)
        split.to_json(
            self.run_dir / "splits" / f"{task.name}__{source}.json", fractions, cohort.manifest
        )
        all_ids = [
            r for name in ("train", "validation", "test", "external") for r in split.sets[name]
        ]
        arrays: dict[str, Any] = {}
        failed: dict[str, str] = {}
        for key, spec in {representation_key(m): m for m in self.models}.items():
            self.console.print(f"[bold]{task.name}[/]: preparing {key} of {len(all_ids):,} ECGs")
            if spec.input_kind == "image":
                cached = self.cache.images(cohort, all_ids, self.preprocess, self.render)
            elif spec.signal_recipe is not None:
                cached = self.cache.recipe_signals(cohort, all_ids, spec.signal_recipe)
                if cached.missing_leads:
                    self.console.print(
                        f"[yellow]{len(cached.missing_leads)} record(s) lack lead(s) the "
                        f"{spec.name} recipe needs; zero-filled[/]"
                    )
            else:
                cached = self.cache.signals(cohort, all_ids, self.preprocess)
            arrays[key] = cached
            failed.update(cached.failed)
        if failed:
            summary.bad_records[task.name] = failed
            self.console.print(
                f"[yellow]{len(failed)} bad record(s) in {task.name}/{source} skipped "
                f"(listed in report.json)[/]"
            )
            if self.config.strict:
                first = next(iter(failed.items()))
                raise RunError(f"--strict: bad record {first[0]}: {first[1]}")
        manifest = cohort.manifest[~cohort.manifest["record_id"].isin(failed)]
        usable = set(manifest["record_id"])
        eval_sets = {
            "internal": [r for r in split.sets["test"] if r in usable],
            "external": [r for r in split.sets["external"] if r in usable],
        }
        eval_sets = {k: v for k, v in eval_sets.items() if v}
        validation = [r for r in split.sets["validation"] if r in usable]
        prepared = PreparedTask(task, cohort, manifest, split, validation, eval_sets, {}, arrays)
        by_id = prepared.by_id
        prepared.resamples = {
            name: bootstrap_indices(
                by_id.loc[ids, "patient_id"].to_numpy(),
                replicates=self.replicates,
                seed=self.config.bootstrap_seed,
                unit=self.config.bootstrap_unit,
            )
            for name, ids in eval_sets.items()
        }
        return prepared

    # -- cells -----------------------------------------------------------------------
    def _dataset(self, prepared: PreparedTask, spec: ModelSpec, ids: Sequence[str]) -> ArrayDataset:
        cached = prepared.arrays[representation_key(spec)]
        labels = prepared.by_id.loc[list(ids), "label"].to_numpy()
        return ArrayDataset(
            cached.array,
            cached.rows(ids),
            labels,
            kind=spec.input_kind,
            mean=spec.mean,
            std=spec.std,
        )

    def train_config(self, seed: int) -> TrainConfig:
        """The engine config of one cell: profile defaults, then the run's overrides."""
        options = {**self.config.profile_spec.train, **self.config.train}
        return TrainConfig(
            **options, seed=seed, device=self.config.device, selection=self.config.selection
        )

    def run_cell(
        self,
        prepared: PreparedTask,
        spec: ModelSpec,
        fraction: float,
        seed: int,
        train_ids: list[str],
        cell: str,
        progress: Progress,
    ) -> list[ResultRecord]:
        """Train and evaluate one cell; returns its records (already stored)."""
        started = time.perf_counter()
        built = spec.build(
            num_classes=2,
            profile=self.config.profile_spec.model_profile,
            input_size=self.config.profile_spec.image_size,
            weights=self.config.weights.get(spec.name),
        )
        train = self._dataset(prepared, spec, train_ids)
        validation = self._dataset(prepared, spec, prepared.validation)
        evals = {
            name: self._dataset(prepared, spec, ids) for name, ids in prepared.eval_sets.items()
        }
        train_config = self.train_config(seed)
        if self.config.protocol == "linear-probe":
            result = linear_probe(built, spec, train, validation, evals, train_config, progress)
        else:
            result = fine_tune(
                built,
                spec,
                train,
                validation,
                evals,
                train_config,
                checkpoint_dir=self.store.cell_dir(cell) / "checkpoint",
                progress=progress,
            )
        records = self._records(
            prepared,
            spec,
            built,
            fraction,
            seed,
            train_ids,
            train_config,
            result,
            cell,
            started,
        )
        self.store.write_cell(cell, records, self._predictions(prepared, result))
        return records

    def _predictions(self, prepared: PreparedTask, result: TrainResult) -> pd.DataFrame:
        by_id = prepared.by_id
        frames = []
        for name, ids in prepared.eval_sets.items():
            rows = by_id.loc[ids]
            frames.append(
                pd.DataFrame(
                    {
                        "record_id": ids,
                        "patient_id": rows["patient_id"].to_numpy(),
                        "label": rows["label"].to_numpy(),
                        "score": result.scores[name],
                        "split": name,
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    def _records(
        self,
        prepared: PreparedTask,
        spec: ModelSpec,
        built: BuiltModel,
        fraction: float,
        seed: int,
        train_ids: list[str],
        train_config: TrainConfig,
        result: TrainResult,
        cell: str,
        started: float,
    ) -> list[ResultRecord]:
        by_id = prepared.by_id
        task, cohort = prepared.task, prepared.cohort
        selection = "test (optimistic)" if result.selection == "test" else result.selection
        common: dict[str, Any] = {
            "run_id": self.run_dir.name,
            "model": spec.name,
            "task": task.name,
            "source": cohort.source,
            "fraction": fraction,
            "seed": seed,
            "harness_version": __version__,
            "git_sha": git_sha(),
            "source_version": cohort.source_version,
            "task_version": cohort.notes.get("task_version", task.version),
            "profile": self.config.profile,
            "protocol": self.config.protocol,
            "init": built.init,
            "weights": built.weights,
            "selection": selection,
            "selected_epoch": result.selected_epoch,
            "config_hash": stable_hash(
                {"grid": self.config.grid_hash(), "train": train_config.to_dict()}
            ),
            "cohort_hash": cohort.content_hash(),
            "render_hash": stable_hash([self.preprocess.hash(), self.render.hash()]),
            "contamination": cohort.source in spec.pretrained_on,
            "device": result.device,
            "packages": package_versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        train_labels = by_id.loc[train_ids, "label"].to_numpy()
        timings = {**result.timings, "cell_s": round(time.perf_counter() - started, 3)}
        details = {
            "predictions": self.store.predictions_path(cell),
            "model_config": built.config,
            "n_train": len(train_ids),
            "n_train_positive": int(train_labels.sum()),
            "n_train_patients": int(by_id.loc[train_ids, "patient_id"].nunique()),
            "train_config": train_config.to_dict(),
            "history": result.history,
        }
        records = []
        for split_name, ids in prepared.eval_sets.items():
            rows = by_id.loc[ids]
            data = ScoreData(
                y_true=rows["label"].to_numpy(),
                y_score=result.scores[split_name],
                groups=rows["patient_id"].to_numpy(),
                replicate_indices=prepared.resamples[split_name],
            )
            for metric in self.metrics:
                value = metric.compute(data)
                records.append(
                    ResultRecord(
                        **common,
                        split=split_name,
                        metric=metric.name,
                        value=value.value,
                        ci_low=value.ci_low,
                        ci_high=value.ci_high,
                        n=len(ids),
                        n_positive=int(data.y_true.sum()),
                        higher_is_better=metric.higher_is_better,
                        bootstrap={
                            "replicates": self.replicates,
                            "seed": self.config.bootstrap_seed,
                            "unit": self.config.bootstrap_unit,
                            **value.details,
                        },
                        timings=timings,
                        details=details,
                    )
                )
        return records

    # -- the grid --------------------------------------------------------------------
    def run(self) -> RunSummary:
        """Run every unfinished cell; finished cells (from earlier runs) are skipped."""
        summary = RunSummary(self.run_dir)
        config = self.config
        self.store.write_json(
            "run.json",
            {
                "config": config.to_dict(),
                "harness_version": __version__,
                "git_sha": git_sha(),
                "packages": package_versions(),
                "device": self.device,
            },
        )
        self.host.call_safely(
            "bench_run_started", run_id=self.run_dir.name, config=config.to_dict()
        )
        n_cells = len(self.tasks) * len(config.fractions) * len(config.seeds) * len(self.models)
        progress = Progress(
            TextColumn("[bold blue]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        try:
            with progress:
                grid = progress.add_task("cells", total=n_cells)
                for task in self.tasks:
                    self._run_task(task, summary, progress, grid)
        except KeyboardInterrupt:
            summary.interrupted = True
            self.console.print("[yellow]interrupted: finished cells are saved; re-run to resume[/]")
            raise
        finally:
            self.store.write_json("report.json", summary.to_dict())
            self.host.call_safely(
                "bench_run_finished",
                run_id=self.run_dir.name,
                output_dir=str(self.run_dir),
                summary=summary.to_dict(),
            )
        return summary

    def _run_task(self, task: TaskSpec, summary: RunSummary, progress: Progress, grid: Any) -> None:
        config = self.config
        todo = [
            (
                fraction,
                seed,
                spec,
                cell_id(
                    spec.name,
                    task.name,
                    config.source_for(task.name, task.default_source),
                    fraction,
                    seed,
                    config.protocol,
                ),
            )
            for fraction in config.fractions
            for seed in config.seeds
            for spec in self.models
        ]
        pending = [item for item in todo if not self.store.is_done(item[3])]
        summary.resumed += len(todo) - len(pending)
        progress.advance(grid, len(todo) - len(pending))
        if not pending:
            return
        prepared = self.prepare(task, summary)
        labels = prepared.by_id["label"]
        for fraction, seed, spec, cell in pending:
            train_ids = prepared.split.fraction_records(prepared.manifest, fraction)
            problem = fraction_problem(
                labels.loc[train_ids].to_numpy(), SplitConfig().min_positives
            )
            if problem:
                summary.skipped.append({"cell": cell, "reason": problem})
                self.console.print(f"[yellow]skipped {cell}: {problem}[/]")
                progress.advance(grid)
                continue
            progress.update(grid, description=f"cells ({cell})")
            try:
                records = self.run_cell(prepared, spec, fraction, seed, train_ids, cell, progress)
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                if config.strict:
                    raise
                summary.failed.append(
                    {
                        "cell": cell,
                        "error": f"{type(exc).__name__}: {exc}",
                        "traceback": traceback.format_exc(),
                    }
                )
                self.console.print(f"[red]cell {cell} failed: {type(exc).__name__}: {exc}[/]")
                progress.advance(grid)
                continue
            summary.finished += 1
            for record in records:
                self.host.call_safely("bench_result", record=record)
            progress.advance(grid)
