"""One cell's work, from its plan (:class:`bench.run.cells.CellPlan`) to its stored records.

:func:`run_cell` trains a planned cell (:func:`train_cell`), scores its predictions and
stores its records; it is the unit of work an executor runs, in the driver's process or in
a worker (:mod:`bench.executors.worker`). :func:`train_cell` seeds every random draw from
the identity *before* the model is built, so initial weights, heads and data order never
depend on what ran earlier in the process. :func:`rescore_cell` recomputes a done cell's
records from its saved predictions, never retraining.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from bench.run.cells import CellPlan
from bench.run.recording import CellOutcome, scored_records, trained_records
from bench.run.records import ResultRecord
from bench.run.scoring import metrics_for, score_predictions
from bench.run.task_data import PreparedTask
from bench.training.config import EvalProtocol
from bench.training.cost import measure_cost, reset_peak_memory
from bench.training.devices import resolve_device
from bench.training.heads import protocol_model
from bench.training.loop import fine_tune
from bench.training.objectives import head_outputs
from bench.training.probe import linear_probe
from bench.training.runtime import seed_everything
from bench.training.segments import window_scores, window_sets
from bench.training.state import STATE_FILE

if TYPE_CHECKING:
    from rich.progress import Progress

    from bench.host.specs import BuiltModel
    from bench.run.context import CellContext
    from bench.training.datasets import ArrayDataset


def build_cell_model(
    prepared: PreparedTask, plan: CellPlan, protocol: EvalProtocol
) -> tuple[BuiltModel, ArrayDataset, torch.Tensor]:
    """The cell's model as it starts training, seeded from the identity: built by its spec
    and wrapped for ``protocol`` (:func:`bench.training.heads.protocol_model`); with the
    training set and the one-record sample the wrapping was sized on. ``train_cell``
    trains it; ``bench robustness`` loads a done cell's selected weights into it."""
    seed_everything(plan.train_config.seed)
    spec, kind = plan.spec, prepared.task.kind
    outputs = head_outputs(kind, prepared.labels)
    built = spec.build(
        num_classes=outputs,
        profile=plan.model_profile,
        input_size=plan.input_size,
        weights=plan.weights.argument,
    )
    train = prepared.dataset(spec, plan.train_ids)
    sample = train[0][0].unsqueeze(0)
    built = protocol_model(built, spec, protocol, outputs, sample, prepared.labels, kind)
    return built, train, sample


def train_cell(
    prepared: PreparedTask,
    plan: CellPlan,
    protocol: EvalProtocol,
    checkpoint_dir: Path,
    progress: Progress | None = None,
    cost: Mapping[str, Any] | None = None,
) -> CellOutcome:
    """Seed from the identity, build the model, train (or probe) it and predict.

    ``protocol`` is one of :data:`bench.training.heads.PROTOCOLS`; the attention protocols
    wrap the built model in an attention-pooling head on its token features. A segment
    model's evaluation sets are also scored window by window (each real segment alone,
    :func:`bench.training.segments.window_sets`); the predictions table holds both.
    Once predicted, the trained model's compute cost is measured
    (:func:`bench.training.cost.measure_cost` with the ``cost`` keywords).
    """
    started = time.perf_counter()
    device = resolve_device(plan.train_config.device)
    reset_peak_memory(device)
    spec, kind = plan.spec, prepared.task.kind
    built, train, sample = build_cell_model(prepared, plan, protocol)
    validation = prepared.dataset(spec, plan.validation_ids)
    evals = {name: prepared.dataset(spec, ids) for name, ids in prepared.eval_sets.items()}
    windows = window_sets(spec, evals)
    scored = {**evals, **windows}
    sets = (train, validation, scored)
    if protocol == "linear-probe":
        criterion = plan.train_config.probe_criterion
        result = linear_probe(
            built, spec, *sets, plan.train_config, progress, criterion=criterion, kind=kind
        )
    else:
        result = fine_tune(
            built,
            spec,
            *sets,
            plan.train_config,
            checkpoint_dir=checkpoint_dir,
            progress=progress,
            kind=kind,
        )
    per_window = window_scores(result.scores, windows)
    predictions = prepared.predictions(result.scores, per_window, plan.validation_ids)
    timings = {**result.timings, "cell_s": round(time.perf_counter() - started, 3)}
    example = sample.to(memory_format=torch.channels_last) if spec.input.channels_last else sample
    measured = measure_cost(
        built.module, example, device, amp=plan.train_config.autocast, **(cost or {})
    )
    timings["cost_s"] = round(time.perf_counter() - started - timings["cell_s"], 3)
    return CellOutcome(built, result, predictions, measured.params, timings, measured)


def run_cell(
    context: CellContext, prepared: PreparedTask, plan: CellPlan, progress: Progress | None = None
) -> list[ResultRecord]:
    """Train and evaluate one cell; returns its records (already stored)."""
    cell, store = plan.key.id, context.store
    store.start_cell(cell, plan.identity)
    outcome = train_cell(
        prepared,
        plan,
        context.config.protocol,
        checkpoint_dir=store.cell_dir(cell) / "checkpoint",
        progress=progress,
        cost=context.config.profile_spec.cost,
    )
    scores = score_predictions(
        outcome.predictions,
        context.metrics,
        prepared.resamples,
        context.recipe,
        prepared.covariates,
        prepared.task.kind,
        prepared.task.horizons,
    )
    records = trained_records(context, prepared, plan, outcome, scores)
    store.write_cell(cell, records, outcome.predictions)
    keep_checkpoint(store.cell_dir(cell) / "checkpoint", context.config.keep_weights)
    return records


def keep_checkpoint(checkpoint: Path, keep: str) -> None:
    """What a done cell keeps of its ``checkpoint`` directory (``--keep-weights``): the
    selected weights (``selected``: the resumable state is dead weight once the cell is
    done), everything (``all``) or nothing (``none``)."""
    if keep == "none":
        shutil.rmtree(checkpoint, ignore_errors=True)
    elif keep == "selected":
        (checkpoint / STATE_FILE).unlink(missing_ok=True)


def rescore_cell(context: CellContext, prepared: PreparedTask, plan: CellPlan) -> bool:
    """Recompute a done cell's records from its predictions when the requested metrics
    or bootstrap recipe differ from the stored ones; True if it did."""
    cell, store, recipe = plan.key.id, context.store, context.recipe
    stored = store.cell_records(cell)
    wanted = {(m.name, *recipe.key()) for m in metrics_for(prepared.task.kind, context.metrics)}
    have = {(r.metric, *recipe.stored_key(r.bootstrap)) for r in stored}
    if wanted == have or not stored:
        return False
    predictions = store.cell_predictions(cell)
    task = prepared.task
    scores = score_predictions(
        predictions,
        context.metrics,
        prepared.resamples,
        recipe,
        prepared.covariates,
        task.kind,
        task.horizons,
    )
    # each split's stored record carries that split's contamination and details
    splits = {r.split: asdict(r) for r in stored}
    store.write_cell(cell, scored_records(splits, scores))
    return True
