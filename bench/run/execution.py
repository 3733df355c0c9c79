"""One cell, from its plan to its predictions: seed, build, train or probe, predict.

:class:`CellPlan` is everything the cell needs, decided before it runs (its identity, the
records it trains, selects and evaluates on, its engine config, its resolved weights).
:func:`train_cell` seeds every random draw from the identity *before* the model is built,
so initial weights, heads and data order never depend on what ran earlier in the process.
This is the unit of work an executor runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bench.host.specs import BuiltModel, ModelSpec
from bench.run.cells import CellKey
from bench.run.task_data import PreparedTask
from bench.training import TrainConfig, TrainResult, fine_tune, linear_probe
from bench.training.heads import protocol_model
from bench.training.runtime import seed_everything
from bench.training.segments import window_scores, window_sets
from bench.weights.initial import ResolvedWeights

if TYPE_CHECKING:
    from rich.progress import Progress


@dataclass(frozen=True)
class CellPlan:
    """A cell ready to run: key, identity (and its hash), records and settings."""

    key: CellKey
    spec: ModelSpec
    identity: dict[str, Any]
    digest: str
    experiment: str
    train_ids: list[str]
    validation_ids: list[str]
    train_config: TrainConfig
    weights: ResolvedWeights
    model_profile: str
    input_size: int
    validation_rule: str
    split_hash: str


@dataclass
class CellOutcome:
    """A trained cell: the model as built, how training went, predictions, timings."""

    built: BuiltModel
    result: TrainResult
    predictions: pd.DataFrame
    n_params: int
    timings: dict[str, float] = field(default_factory=dict)


def train_cell(
    prepared: PreparedTask,
    plan: CellPlan,
    protocol: str,
    checkpoint_dir: Path,
    progress: Progress | None = None,
) -> CellOutcome:
    """Seed from the identity, build the model, train (or probe) it and predict.

    ``protocol`` is one of :data:`bench.training.heads.PROTOCOLS`; the attention protocols
    wrap the built model in an attention-pooling head on its token features. A segment
    model's evaluation sets are also scored window by window (each real segment alone,
    :func:`bench.training.segments.window_sets`); the predictions table holds both.
    """
    started = time.perf_counter()
    seed_everything(plan.train_config.seed)
    spec = plan.spec
    outputs = len(prepared.labels) or 2  # K sigmoid outputs, or the binary 2-logit head
    built = spec.build(
        num_classes=outputs,
        profile=plan.model_profile,
        input_size=plan.input_size,
        weights=plan.weights.argument,
    )
    train = prepared.dataset(spec, plan.train_ids)
    validation = prepared.dataset(spec, plan.validation_ids)
    evals = {name: prepared.dataset(spec, ids) for name, ids in prepared.eval_sets.items()}
    sample = train[0][0].unsqueeze(0)
    built = protocol_model(built, spec, protocol, outputs, sample, prepared.labels)
    windows = window_sets(spec, evals)
    scored = {**evals, **windows}
    sets = (train, validation, scored)
    if protocol == "linear-probe":
        criterion = plan.train_config.probe_criterion
        result = linear_probe(built, spec, *sets, plan.train_config, progress, criterion=criterion)
    else:
        result = fine_tune(
            built, spec, *sets, plan.train_config, checkpoint_dir=checkpoint_dir, progress=progress
        )
    per_window = window_scores(result.scores, windows)
    n_params = sum(p.numel() for p in built.module.parameters())
    timings = {**result.timings, "cell_s": round(time.perf_counter() - started, 3)}
    predictions = prepared.predictions(result.scores, per_window)
    return CellOutcome(built, result, predictions, n_params, timings)
