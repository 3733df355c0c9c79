"""The grid runner: model × task × fraction × seed cells, identity-checked and resumable.

For every task the runner prepares the data once (:mod:`bench.run.task_data`), then for every
cell computes its identity (:mod:`bench.run.cells`) and compares it with what the run
directory holds (:class:`bench.run.store.RunStore`):

- ``done`` with the same identity: skipped; if the requested metrics or bootstrap recipe
  differ from the stored ones, the records are recomputed from the saved predictions
  (never retrained);
- ``stale`` (stored under another identity): re-run, naming the fields that changed;
- ``new`` or ``partial`` (interrupted): run, resuming from the cell's checkpoint.

Training a cell is :func:`bench.run.execution.train_cell`; its records are built by
:func:`cell_records` from the predictions (:mod:`bench.run.scoring`).

With ``--workers 1`` (the default) cells run one after another in this process. Otherwise
the pending cells go to an executor (:mod:`bench.executors`: worker processes, Ray,
SLURM or a plugin's), which runs each through :func:`bench.executors.worker.run_cell`;
the driver alone rebuilds ``results.jsonl`` as cells come back.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import __version__
from bench.data.image_cache import ImageCache
from bench.data.preprocess import PreprocessConfig
from bench.data.render import RenderConfig
from bench.data.splits import SplitConfig, fraction_problem
from bench.errors import RunError
from bench.executors import CellJob, Executor, ExecutorSettings, JobResult
from bench.executors.worker import cell_spec, intra_op_threads
from bench.host.manager import PluginHost
from bench.host.specs import MetricSpec, ModelSpec, TaskSpec
from bench.run.cells import CellKey, cell_seed, identity_hash, ids_hash
from bench.run.config import ConfigError, RunConfig, default_cache_dir
from bench.run.execution import CellOutcome, CellPlan, train_cell
from bench.run.preparation import empty_label_notes, load_cohort
from bench.run.provenance import git_sha, package_versions, stable_hash
from bench.run.records import ResultRecord
from bench.run.scoring import BootstrapRecipe, Score, score_predictions
from bench.run.store import RunStore
from bench.run.task_data import Inputs, PreparedTask, prepare_task
from bench.training import TrainConfig
from bench.training.devices import resolve_device
from bench.training.features import FEATURES_VERSION
from bench.training.recipe import DEFAULT_RECIPE, PAPER_RECIPE, FineTuneRecipe
from bench.weights.contamination import Corpus, check
from bench.weights.initial import ResolvedWeights, resolve_weights

#: Engine settings that do not change what a cell computes (kept out of identities).
RUNTIME_TRAIN_FIELDS = ("seed", "device", "num_workers", "compile")


@dataclass
class RunSummary:
    """Counts and locations at the end of a run."""

    run_dir: Path
    finished: int = 0
    resumed: int = 0
    rescored: int = 0
    rerun_stale: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    bad_records: dict[str, dict[str, str]] = field(default_factory=dict)
    notices: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # per task, record
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # per task: usable counts
    interrupted: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON form (report.json and the bench_run_finished hook)."""
        return {
            "run_dir": str(self.run_dir),
            "finished": self.finished,
            "resumed": self.resumed,
            "rescored": self.rescored,
            "rerun_stale": self.rerun_stale,
            "skipped": self.skipped,
            "failed": self.failed,
            "bad_records": self.bad_records,
            "notices": self.notices,
            "inputs": self.inputs,
            "interrupted": self.interrupted,
        }


def determinism_flags() -> dict[str, bool]:
    """The torch nondeterminism settings in force (recorded with every cell: on GPU two
    runs of one identity agree bitwise only under deterministic algorithms)."""
    import torch

    return {
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
    }


def select_metrics(
    host: PluginHost, requested: Sequence[str], defaults: bool = True
) -> list[MetricSpec]:
    """The score metrics of every cell: the defaults (unless ``defaults`` is False) plus
    ``requested`` (registry names).

    A requested metric that ``bench run`` cannot compute is an error, not a warning:
    image-set metrics need their own command, and run-level metrics must provide ``run``.
    """
    regs = host.registries
    chosen = [m for m in regs.metrics if defaults and m.default and m.kind == "scores"]
    for name in requested:
        metric = regs.metrics.get(name)
        if metric.kind == "images":
            raise RunError(
                f"metric {name!r} compares image sets and cannot run per cell; "
                f"use `bench wasserstein` (or the command its plugin provides)"
            )
        if metric.kind != "scores" and metric.run is None:
            raise RunError(f"metric {name!r} ({metric.kind}) has no run-level implementation")
        if metric not in chosen:
            chosen.append(metric)
    if not chosen:
        raise RunError("no metric to compute: with --no-default-metrics pass --metric NAME")
    return chosen


def _with_per_label(details: dict[str, Any], score: Score) -> dict[str, Any]:
    """A record's details with a multi-label score's per-label breakdown (macro records)."""
    return details if score.per_label is None else {**details, "per_label": score.per_label}


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
        regs = host.registries
        self.models: list[ModelSpec] = [regs.models.get(n) for n in config.models]
        self.tasks: list[TaskSpec] = [regs.tasks.get(n) for n in config.tasks]
        metrics = select_metrics(host, config.metrics, config.default_metrics)
        self.metrics = [m for m in metrics if m.kind == "scores"]
        self.run_metrics = [m for m in metrics if m.kind != "scores"]
        profile = config.profile_spec
        self.inputs = Inputs(PreprocessConfig(), RenderConfig(size=profile.image_size))
        self.cache = ImageCache(Path(config.cache_dir) if config.cache_dir else default_cache_dir())
        self.run_dir = Path(config.output) / (config.run_name or config.default_run_name())
        self.store = RunStore(self.run_dir)
        self.device = str(resolve_device(config.device))
        self.recipe = BootstrapRecipe(
            replicates=config.bootstrap_replicates or profile.bootstrap_replicates,
            seed=config.bootstrap_seed,
            unit=config.bootstrap_unit,
        )
        self._weights: dict[str, ResolvedWeights] = {}
        self.train_config()  # a bad ``train`` mapping fails here, before any data is read
        for spec in self.models:  # and so do bad recipe options
            self.fine_tune_recipe(spec)
        #: What the executor would do with the pending cells (set by ``run(dry_run=True)``).
        self.described: str | None = None

    # -- preparation ---------------------------------------------------------------
    def load_task(self, task: TaskSpec) -> PreparedTask:
        """Load the cohort, split it and build (or open) the cached inputs; writes nothing
        to the run directory, so an executor's worker re-creates the driver's prepared task
        with it from the shared cache."""
        config = self.config
        source = config.source_for(task.name, task.default_source)
        cohort = load_cohort(
            task,
            source,
            config.source_options.get(source, {}),
            synthetic=config.profile_spec.synthetic_options(task.name),
        )
        return prepare_task(
            task, source, cohort, config.external, self.models, self.cache, self.inputs,
            self.recipe, self.console,
        )  # fmt: skip

    def prepare(self, task: TaskSpec, summary: RunSummary) -> PreparedTask:
        """:meth:`load_task`, then report bad records, records with notices and labels
        without positives (``--strict``: stop at the first), and save the split membership."""
        config = self.config
        prepared = self.load_task(task)
        split, source = prepared.split, prepared.source
        label_notes = empty_label_notes(task, prepared.cohort, prepared.manifest, split)
        for note in (*split.notes, *label_notes):
            self.console.print(f"[yellow]{task.name}/{source}: {note}[/]")
        summary.inputs[task.name] = prepared.usable
        if prepared.usable.get("records_with_dropped_channels"):
            self.console.print(
                f"{task.name}/{source}: {prepared.usable['records_with_dropped_channels']} "
                f"record(s) carried extra channels, dropped: "
                f"{', '.join(prepared.usable['dropped_channels'])}"
            )
        if prepared.bad_records:
            summary.bad_records[task.name] = prepared.bad_records
            self.console.print(
                f"[yellow]{len(prepared.bad_records)} bad record(s) in {task.name}/{source} "
                f"skipped (listed in report.json)[/]"
            )
            if config.strict:
                first = next(iter(prepared.bad_records.items()))
                raise RunError(f"--strict: bad record {first[0]}: {first[1]}")
        if prepared.notices:
            summary.notices[task.name] = {r: list(n) for r, n in prepared.notices.items()}
            record, notices = next(iter(prepared.notices.items()))
            self.console.print(
                f"[yellow]{len(prepared.notices)} record(s) in {task.name}/{source} with notices "
                f"(listed in report.json), e.g. {escape(notices[0])}[/]"
            )
            if config.strict:
                raise RunError(f"--strict: record {record} refused: {'; '.join(notices)}")
        if label_notes and config.strict:
            raise RunError(f"--strict: {task.name}/{source}: {label_notes[0]}")
        (self.run_dir / "splits").mkdir(exist_ok=True)
        split.to_json(
            self.run_dir / "splits" / f"{task.name}__{source}.json",
            config.fractions,
            prepared.manifest,
            config.seeds,
            config.validation_rule,
        )
        return prepared

    def weights(self, spec: ModelSpec) -> ResolvedWeights:
        """What ``spec`` starts from in this run (resolved once; may create a default)."""
        if spec.name not in self._weights:
            profile = self.config.profile_spec
            self._weights[spec.name] = resolve_weights(
                spec,
                self.config.weights.get(spec.name),
                profile.model_profile,
                spec.input_size(profile.image_size),
            )
        return self._weights[spec.name]

    # -- cells -----------------------------------------------------------------------
    def train_config(self) -> TrainConfig:
        """The engine config of the run (each cell sets its own seed from its identity); a
        ``train`` mapping that makes no valid TrainConfig is a :class:`ConfigError`."""
        options = {**self.config.profile_spec.train, **self.config.train}
        try:
            return TrainConfig(
                **options, device=self.config.device, selection=self.config.selection
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"train: {exc}") from None

    def fine_tune_recipe(self, spec: ModelSpec) -> FineTuneRecipe:
        """The fine-tuning recipe of ``spec`` in this run: the paper's, or the model's
        declared one (:data:`DEFAULT_RECIPE` when it declares none), with the run's
        ``recipe_options`` applied."""
        base = PAPER_RECIPE if self.config.recipe_name == "paper" else spec.recipe or DEFAULT_RECIPE
        try:
            return base.with_options(self.config.recipe_options)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"recipe_options: {exc}") from None

    def plan(
        self, prepared: PreparedTask, spec: ModelSpec, key: CellKey, train_ids: list[str]
    ) -> CellPlan:
        """The identity of one cell and everything it runs with."""
        config, profile = self.config, self.config.profile_spec
        weights = self.weights(spec)
        validation_ids = prepared.validation_ids(key.fraction, key.seed, config.validation_rule)
        base = replace(self.train_config(), recipe=self.fine_tune_recipe(spec))
        if not prepared.labels or key.protocol == "linear-probe":  # BCE weights unused
            base = replace(base, pos_weight=False)
        train = {k: v for k, v in base.to_dict().items() if k not in RUNTIME_TRAIN_FIELDS}
        if key.protocol == "linear-probe":  # the probe optimises no encoder: no recipe
            del train["recipe"]
        else:  # fine-tuning fits no regression
            del train["probe_criterion"]
        experiment = {
            "harness_version": __version__,
            "model": {
                "name": spec.name,
                "plugin": spec.plugin,
                "plugin_version": self.host.versions.get(spec.plugin, ""),
                "input_kind": spec.input_kind,
                "mean": list(spec.mean),
                "std": list(spec.std),
                "optimizer": spec.optimizer,
                "representation": self.inputs.representation_hash(spec),
            },
            "profile": config.profile,
            "model_profile": profile.model_profile,
            "input_size": spec.input_size(profile.image_size),
            "weights": weights.identity,
            "protocol": key.protocol,
            "selection": config.selection,
            "validation_rule": config.validation_rule,
            "train": train,
        }
        if key.protocol != "finetune":  # token-based modes read the features contract
            experiment["features"] = FEATURES_VERSION
        eval_ids = {name: ids_hash(ids) for name, ids in prepared.eval_sets.items()}
        membership = {
            "train": ids_hash(train_ids),
            "validation": ids_hash(validation_ids),
            "eval": eval_ids,
        }
        identity = {
            **experiment,
            "task": key.task,
            "task_version": prepared.task_version,
            "source": key.source,
            "source_version": prepared.cohort.source_version,
            "cohort": prepared.usable_hash,
            "membership": membership,
            "fraction": key.fraction,
            "seed": key.seed,
        }
        if prepared.labels:  # multi-label tasks (binary identities are unchanged)
            identity["labels"] = list(prepared.labels)
        digest = identity_hash(identity)
        return CellPlan(
            key=key,
            spec=spec,
            identity=identity,
            digest=digest,
            experiment=stable_hash(experiment),
            train_ids=train_ids,
            validation_ids=validation_ids,
            train_config=replace(base, seed=cell_seed(digest)),
            weights=weights,
            model_profile=profile.model_profile,
            input_size=spec.input_size(profile.image_size),
            validation_rule=config.validation_rule,
            split_hash=stable_hash(membership, length=16),
        )

    def run_cell(
        self, prepared: PreparedTask, plan: CellPlan, progress: Progress | None = None
    ) -> list[ResultRecord]:
        """Train and evaluate one cell; returns its records (already stored)."""
        cell = plan.key.id
        self.store.start_cell(cell, plan.identity)
        outcome = train_cell(
            prepared,
            plan,
            self.config.protocol,
            checkpoint_dir=self.store.cell_dir(cell) / "checkpoint",
            progress=progress,
        )
        scores = score_predictions(
            outcome.predictions, self.metrics, prepared.resamples, self.recipe
        )
        records = self.cell_records(prepared, plan, outcome, scores)
        self.store.write_cell(cell, records, outcome.predictions)
        return records

    def rescore(self, prepared: PreparedTask, plan: CellPlan) -> bool:
        """Recompute a done cell's records from its predictions when the requested metrics
        or bootstrap recipe differ from the stored ones; True if it did."""
        cell = plan.key.id
        stored = self.store.cell_records(cell)
        wanted = {(m.name, self.recipe.replicates, self.recipe.seed, self.recipe.unit)
                  for m in self.metrics}  # fmt: skip
        have = {(r.metric, r.bootstrap.get("replicates"), r.bootstrap.get("seed"),
                 r.bootstrap.get("unit")) for r in stored}  # fmt: skip
        if wanted == have or not stored:
            return False
        predictions = self.store.cell_predictions(cell)
        scores = score_predictions(predictions, self.metrics, prepared.resamples, self.recipe)
        # each split's stored record carries that split's contamination and details
        templates = {r.split: r for r in stored}
        records = [
            replace(
                templates[s.split],
                **s.record_fields(),
                details=_with_per_label(templates[s.split].details, s),
            )
            for s in scores
        ]
        self.store.write_cell(cell, records)
        return True

    def contamination(
        self, prepared: PreparedTask, plan: CellPlan, outcome: CellOutcome
    ) -> dict[str, str | None]:
        """Per evaluation split, why it overlaps the model's pretraining corpus (or None)."""
        built = outcome.built
        declared = built.config.get("pretrain.corpus")
        if declared:
            corpora = [Corpus.from_metadata(str(declared))]
        elif built.init != "random":
            corpora = [Corpus.from_metadata(name) for name in plan.spec.pretrained_on]
        else:
            corpora = []
        synthetic = prepared.cohort.notes.get("config")
        n_patients = getattr(synthetic, "n_patients", None)
        out: dict[str, str | None] = {}
        for name, ids in prepared.eval_sets.items():
            sites = set(prepared.by_id.loc[ids, "site"])
            reasons = [check(c, prepared.cohort.source, sites, n_patients, name) for c in corpora]
            out[name] = "; ".join(r for r in reasons if r) or None
        return out

    def cell_records(
        self, prepared: PreparedTask, plan: CellPlan, outcome: CellOutcome, scores: list[Score]
    ) -> list[ResultRecord]:
        """The result records of a trained cell, one per metric per evaluation split."""
        by_id = prepared.by_id
        built, result, key = outcome.built, outcome.result, plan.key
        contamination = self.contamination(prepared, plan, outcome)
        pretraining = {
            k.removeprefix("pretrain."): v for k, v in built.config.items()
            if k.startswith("pretrain.")
        }  # fmt: skip
        common: dict[str, Any] = {
            "run_id": self.run_dir.name,
            "model": key.model,
            "task": key.task,
            "source": prepared.cohort.source,
            "fraction": key.fraction,
            "seed": key.seed,
            "harness_version": __version__,
            "git_sha": git_sha(),
            "source_version": prepared.cohort.source_version,
            "task_version": prepared.task_version,
            "profile": self.config.profile,
            "protocol": key.protocol,
            "init": built.init,
            "weights": built.weights,
            "selection": "test (optimistic)" if result.selection == "test" else result.selection,
            "selected_epoch": result.selected_epoch,
            "recipe": plan.identity["train"].get("recipe", {}).get("name", ""),
            "converged": result.converged,
            "config_hash": stable_hash(plan.identity["train"]),
            "cohort_hash": prepared.usable_hash,
            "render_hash": plan.identity["model"]["representation"],
            "arch": built.arch or key.model,
            "n_params": outcome.n_params,
            "weights_hash": plan.weights.sha256,
            "pretraining": pretraining,
            "identity": plan.digest,
            "experiment": plan.experiment,
            "split_hash": plan.split_hash,
            "validation_rule": plan.validation_rule,
            "device": result.device,
            "packages": package_versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        train_labels = prepared.label_values(plan.train_ids)
        details = {
            "predictions": self.store.predictions_path(key.id),
            "model_config": built.config,
            "n_train": len(plan.train_ids),
            "n_train_positive": int(by_id.loc[plan.train_ids, "label"].sum()),
            "n_train_patients": int(by_id.loc[plan.train_ids, "patient_id"].nunique()),
            "n_validation": len(plan.validation_ids),
            "train_config": plan.train_config.to_dict(),
            "cell_seed": plan.train_config.seed,
            "weights_identity": plan.weights.identity,
            "determinism": determinism_flags(),
            "missing_leads": prepared.missing_leads(plan.spec, plan.train_ids, prepared.eval_sets),
            "history": result.history,
            "training": result.details,
        }
        if prepared.labels:
            per_label = dict(zip(prepared.labels, train_labels.sum(axis=0).tolist(), strict=True))
            details["n_train_positive_per_label"] = per_label
        return [
            ResultRecord(
                **common,
                **s.record_fields(),
                contamination=contamination[s.split] is not None,
                timings=outcome.timings,
                details=_with_per_label({**details, "contamination": contamination[s.split]}, s),
            )
            for s in scores
        ]

    # -- the grid --------------------------------------------------------------------
    @property
    def in_process(self) -> bool:
        """Whether cells run one after another in this process (``local``, one worker)."""
        return self.config.executor == "local" and self.config.workers == 1

    def executor(self, dry_run: bool = False) -> Executor:
        """The configured executor (a plugin's, through ``bench_register_executors``)."""
        spec = self.host.registries.executors.get(self.config.executor)
        settings = ExecutorSettings(
            run_dir=self.run_dir,
            workers=self.config.workers,
            retries=self.config.retries,
            options=self.config.executor_options,
            dry_run=dry_run,
            devices=self._round_robin_devices(),
            console=self.console,
        )
        return spec.create(settings)

    def _round_robin_devices(self) -> list[str]:
        """CUDA device ids to hand to local workers when several GPUs serve ``auto``/``cuda``."""
        import torch

        if self.config.device not in ("auto", "cuda") or torch.cuda.device_count() < 2:
            return []
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible:
            return [d.strip() for d in visible.split(",") if d.strip()]
        return [str(i) for i in range(torch.cuda.device_count())]

    def job(self, plan: CellPlan) -> CellJob:
        """The executor job of a planned cell (resources from the profile or the options)."""
        options = self.config.executor_options
        cpus = options.get("num_cpus") or self.config.profile_spec.cell_cpus
        gpus = options.get("num_gpus")
        if gpus is None:
            gpus = 1 if self.device.startswith("cuda") else 0
        return CellJob(plan.key.id, cell_spec(self, plan), num_cpus=int(cpus), num_gpus=gpus)

    @property
    def cell_threads(self) -> int:
        """Intra-op threads of every cell, whichever executor runs it: the cell's CPUs
        (profile ``cell_cpus`` or the ``num_cpus`` option), at most this machine's cores.
        CPU float reductions depend on the thread count, so fixing it is what makes a
        cell's predictions bitwise equal in process, in a worker process and on Ray."""
        cpus = self.config.executor_options.get("num_cpus") or self.config.profile_spec.cell_cpus
        return max(1, min(int(cpus), os.cpu_count() or 1))

    def run(self, dry_run: bool = False) -> RunSummary:
        """Run every cell that is not done under its current identity.

        With ``dry_run`` nothing is trained: the executor's description of the pending
        cells (for SLURM, the job script) is kept in :attr:`described`."""
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
        executor = None if self.in_process and not dry_run else self.executor(dry_run)
        pending: list[CellPlan] | None = None if executor is None else []
        try:
            with progress:
                grid = progress.add_task("cells", total=n_cells)
                for task in self.tasks:
                    self._run_task(task, summary, progress, grid, pending)
                if executor is not None and pending is not None:
                    self._dispatch(executor, pending, summary, progress, grid, dry_run)
            self._run_level_metrics(summary)
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

    def _run_level_metrics(self, summary: RunSummary) -> None:
        """Metrics computed from the finished run (e.g. saliency), through the registry."""
        if not self.run_metrics or not (summary.finished or summary.resumed):
            return
        for run in dict.fromkeys(m.run for m in self.run_metrics):
            assert run is not None
            names = [m.name for m in self.run_metrics if m.run is run]
            for path in run(self.run_dir, names):
                self.console.print(f"{', '.join(names)}: {path}")

    def _run_task(
        self,
        task: TaskSpec,
        summary: RunSummary,
        progress: Progress,
        grid: Any,
        pending: list[CellPlan] | None,
    ) -> None:
        """Visit every cell of ``task``: in process, or appended to ``pending`` if it must
        run and an executor runs the grid."""
        config = self.config
        source = config.source_for(task.name, task.default_source)
        prepared = self.prepare(task, summary)
        min_positives = SplitConfig().min_positives
        for fraction in config.fractions:
            for seed in config.seeds:
                for spec in self.models:
                    key = CellKey(spec.name, task.name, source, fraction, seed, config.protocol)
                    train_ids = prepared.train_ids(fraction, seed)
                    problem = fraction_problem(prepared.label_values(train_ids), min_positives)
                    if problem:
                        summary.skipped.append({"cell": key.id, "reason": problem})
                        self.console.print(f"[yellow]skipped {key.id}: {problem}[/]")
                    else:
                        plan = self.plan(prepared, spec, key, train_ids)
                        if pending is None:
                            self._visit(prepared, plan, summary, progress, grid)
                        elif self._must_run(prepared, plan, summary):
                            pending.append(plan)
                            continue  # advanced when the executor reports it
                    progress.advance(grid)

    def _visit(
        self,
        prepared: PreparedTask,
        plan: CellPlan,
        summary: RunSummary,
        progress: Progress,
        grid: Any,
    ) -> None:
        """Skip, re-score, re-run or run one cell (in this process) by its stored status."""
        cell = plan.key.id
        if not self._must_run(prepared, plan, summary):
            return
        progress.update(grid, description=f"cells ({cell})")
        try:
            with intra_op_threads(self.cell_threads):
                records = self.run_cell(prepared, plan, progress)
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
            if self.rescore(prepared, plan):
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
        jobs = [self.job(plan) for plan in pending]
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
