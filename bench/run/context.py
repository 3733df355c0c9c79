"""What every cell of a run is planned and run with: :class:`CellContext`.

The grid runner (:mod:`bench.run.grid`) opens one context in the driver; an executor's
worker (:mod:`bench.executors.worker`) opens the same context from the driver's resolved
config, so both plan a cell (:func:`bench.run.cells.plan_cell`) and run it
(:func:`bench.run.execution.run_cell`) through the same code. Opening a context checks the
``train`` mapping, the recipe options and the metrics, before any data is read.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench.data.image_cache import CacheMissError, ImageCache
from bench.data.preprocess import PreprocessConfig
from bench.data.render import RenderConfig
from bench.run.config import ConfigError, RunConfig, default_cache_dir
from bench.run.preparation import load_cohort
from bench.run.scoring import BootstrapRecipe, check_metric_options, select_metrics
from bench.run.store import RunStore
from bench.run.task_data import Inputs, PreparedTask, prepare_task
from bench.training import TrainConfig
from bench.training.recipe import DEFAULT_RECIPE, PAPER_RECIPE, FineTuneRecipe
from bench.weights.initial import ResolvedWeights, check_trustable, resolve_weights

if TYPE_CHECKING:
    from rich.console import Console

    from bench.host.manager import PluginHost
    from bench.host.specs import MetricSpec, ModelSpec, TaskSpec


@dataclass(frozen=True)
class CellContext:
    """The resolved config, plugin host, run store, cached inputs and metrics of a run.

    ``metrics`` are the per-cell score metrics, ``run_metrics`` those computed from the
    finished run; ``models`` are the run's model specs (every representation they need is
    prepared for each task). A worker's context has a store opened with ``driver=False``.
    """

    config: RunConfig
    host: PluginHost
    store: RunStore
    console: Console
    models: tuple[ModelSpec, ...]
    metrics: tuple[MetricSpec, ...]
    run_metrics: tuple[MetricSpec, ...]
    inputs: Inputs
    cache: ImageCache
    recipe: BootstrapRecipe
    #: A dry run's context builds no cache and creates no default weights (see
    #: :meth:`load_task` and :meth:`weights`).
    dry_run: bool = False
    _weights: dict[str, ResolvedWeights] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def open(
        cls, config: RunConfig, host: PluginHost, console: Console, driver: bool = True
    ) -> CellContext:
        """The context of ``config`` (its run directory under ``config.output``); a bad
        ``train`` mapping, recipe option or metric fails here, before any data is read."""
        profile = config.profile_spec
        kinds = [host.registries.tasks.get(name).kind for name in config.tasks]
        if config.bootstrap_stratified and "regression" in kinds:
            raise ConfigError(
                "--bootstrap-stratified resamples positive and negative patients separately; "
                "a regression task has no positives (run it without the option)"
            )
        metrics = select_metrics(
            host, config.metrics, config.default_metrics, kinds or ("classification",)
        )
        check_metric_options(config.metric_options, metrics)
        run_dir = Path(config.output) / (config.run_name or config.default_run_name())
        context = cls(
            config=config,
            host=host,
            store=RunStore(run_dir, driver=driver),
            console=console,
            models=tuple(host.registries.models.get(n) for n in config.models),
            metrics=tuple(m for m in metrics if m.kind == "scores"),
            run_metrics=tuple(m for m in metrics if m.kind != "scores"),
            inputs=Inputs(PreprocessConfig(), RenderConfig(size=profile.image_size)),
            cache=ImageCache(Path(config.cache_dir) if config.cache_dir else default_cache_dir()),
            recipe=BootstrapRecipe(
                replicates=config.bootstrap_replicates or profile.bootstrap_replicates,
                seed=config.bootstrap_seed,
                unit=config.bootstrap_unit,
                stratified=config.bootstrap_stratified,
                min_label_positives=config.min_label_positives,
            ),
        )
        context.train_config()
        for spec in context.models:
            context.fine_tune_recipe(spec)
            weights = config.weights.get(spec.name)
            if config.trust_checkpoint and weights and not weights.endswith(".safetensors"):
                check_trustable(spec, Path(weights))
        return context

    @property
    def run_dir(self) -> Path:
        """The run directory (its name is the run id of every record)."""
        return self.store.root

    @property
    def cell_threads(self) -> int:
        """Intra-op threads of every cell, whichever executor runs it: the cell's CPUs
        (profile ``cell_cpus`` or the ``num_cpus`` option), at most this machine's cores.
        CPU float reductions depend on the thread count, so fixing it is what makes a
        cell's predictions bitwise equal in process, in a worker process and on Ray."""
        cpus = self.config.executor_options.get("num_cpus") or self.config.profile_spec.cell_cpus
        return max(1, min(int(cpus), os.cpu_count() or 1))

    def load_task(self, task: TaskSpec, build: bool = True) -> PreparedTask:
        """Load the cohort, split it and build (``build=False``: only open) the cached
        inputs of every model; writes nothing to the run directory, so an executor's worker
        re-creates the driver's prepared task from the caches the driver built.

        A dry run builds nothing: it opens the caches when they hold every record, and
        otherwise plans on the unchecked cohort (every record counted usable), whose
        identities are then provisional (``PreparedTask.usable["checked"]`` is false)."""
        config = self.config
        source = config.source_for(task.name, task.default_source)
        cohort = load_cohort(
            task,
            source,
            config.source_options.get(source, {}),
            synthetic=config.profile_spec.synthetic_options(task.name),
        )
        prepare = functools.partial(
            prepare_task, task, source, cohort, config.external, self.models, self.cache,
            self.inputs, self.recipe, self.console,
        )  # fmt: skip
        if not self.dry_run:
            return prepare(build=build)
        try:
            return prepare(build=False)
        except CacheMissError:
            return prepare(check=False)

    def weights(self, spec: ModelSpec) -> ResolvedWeights:
        """What ``spec`` starts from in this run (resolved once; may create a default, except
        in a dry run)."""
        if spec.name not in self._weights:
            profile = self.config.profile_spec
            self._weights[spec.name] = resolve_weights(
                spec,
                self.config.weights.get(spec.name),
                profile.model_profile,
                spec.input_size(profile.image_size),
                create=not self.dry_run,
                trust_cache=self.cache.root if self.config.trust_checkpoint else None,
            )
            if self._weights[spec.name].identity.get("trusted_unpickling"):
                self.console.print(
                    f"[yellow]warning: {spec.name}'s weights "
                    f"{self.config.weights.get(spec.name)} are unpickled fully "
                    "(--trust-checkpoint; recorded in the cell identity)[/]"
                )
            pending = self._weights[spec.name].identity.get("pending")
            if pending:
                self.console.print(
                    f"[yellow]dry run: {spec.name}'s default weights are not created "
                    f"({pending}: {self._weights[spec.name].identity.get('name')}); its "
                    "planned identities are provisional[/]"
                )
        return self._weights[spec.name]

    def train_config(self) -> TrainConfig:
        """The engine config of the run (each cell sets its own seed from its identity); a
        ``train`` mapping that makes no valid TrainConfig is a :class:`ConfigError`."""
        options = {**self.config.profile_spec.train, **self.config.train}
        try:
            config = TrainConfig(
                **options, device=self.config.device, selection=self.config.selection
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"train: {exc}") from None
        if config.precision == "fp16" and self.config.protocol != "linear-probe":
            raise ConfigError(
                "precision fp16 trains without loss scaling, which underflows small gradients; "
                "use bf16 (or fp16 with --protocol linear-probe)"
            )
        return config

    def fine_tune_recipe(self, spec: ModelSpec) -> FineTuneRecipe:
        """The fine-tuning recipe of ``spec`` in this run: the paper's, or the model's
        declared one (:data:`DEFAULT_RECIPE` when it declares none), with the run's
        ``recipe_options`` applied."""
        base = PAPER_RECIPE if self.config.recipe_name == "paper" else spec.recipe or DEFAULT_RECIPE
        try:
            return base.with_options(self.config.recipe_options)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"recipe_options: {exc}") from None
