"""The result records of a cell, built in one place: :func:`scored_records`.

A trained cell's records (:func:`trained_records`) and a re-scored cell's
(:func:`bench.run.execution.rescore_cell`, from its stored records) are both one record per
score: the fields of the score's split (provenance, identity, contamination, details) with
the score's own fields and, for a multi-label score, its per-label breakdown in the details.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench import __version__
from bench.run.config import portable_path
from bench.run.overlap import split_overlaps
from bench.run.provenance import git_sha, package_versions, stable_hash
from bench.run.records import ResultRecord
from bench.run.scoring import positives

if TYPE_CHECKING:
    import pandas as pd

    from bench.host.specs import BuiltModel
    from bench.run.cells import CellPlan
    from bench.run.context import CellContext
    from bench.run.scoring import Score
    from bench.run.task_data import PreparedTask
    from bench.training import TrainResult
    from bench.training.cost import ModelCost


@dataclass
class CellOutcome:
    """A trained cell: the model as built, how training went, predictions, timings."""

    built: BuiltModel
    result: TrainResult
    predictions: pd.DataFrame
    n_params: int
    timings: dict[str, float] = field(default_factory=dict)
    cost: ModelCost | None = None


def determinism_flags() -> dict[str, bool]:
    """The torch nondeterminism settings in force (recorded with every cell: on GPU two
    runs of one identity agree bitwise only under deterministic algorithms)."""
    import torch

    return {
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
    }


def model_config_pretraining(pretraining: Mapping[str, str]) -> dict[str, str]:
    """The pretraining facts as a record's ``details.model_config`` has always spelled
    them beside the built config: ``pretrain.<fact>``."""
    return {f"pretrain.{fact}": value for fact, value in pretraining.items()}


def scored_records(
    splits: Mapping[str, Mapping[str, Any]], scores: Sequence[Score]
) -> list[ResultRecord]:
    """One record per score: the fields of its split in ``splits`` (every record field but
    those a score determines), then the score's fields; a multi-label score's per-label
    breakdown is added to the details."""
    records = []
    for score in scores:
        fields = dict(splits[score.split])
        details = fields.pop("details")
        if score.per_label is not None:
            details = {**details, "per_label": score.per_label}
        records.append(ResultRecord(**{**fields, **score.record_fields()}, details=details))
    return records


def trained_records(
    context: CellContext,
    prepared: PreparedTask,
    plan: CellPlan,
    outcome: CellOutcome,
    scores: Sequence[Score],
) -> list[ResultRecord]:
    """The result records of a trained cell, one per metric per evaluation split."""
    by_id = prepared.by_id
    built, result, key = outcome.built, outcome.result, plan.key
    contamination = split_overlaps(prepared, plan.spec, built)
    pretraining = built.pretraining.to_dict() if built.pretraining else {}
    common: dict[str, Any] = {
        "run_id": context.run_dir.name,
        "model": key.model,
        "task": key.task,
        "task_kind": prepared.task.kind,
        "source": prepared.cohort.source,
        "fraction": key.fraction,
        "seed": key.seed,
        "harness_version": __version__,
        "git_sha": git_sha(),
        "source_version": prepared.cohort.source_version,
        "task_version": prepared.task_version,
        "profile": context.config.profile,
        "protocol": key.protocol,
        "init": built.init,
        "weights": portable_path(built.weights),
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
        "timings": outcome.timings,
        "compute": {}
        if outcome.cost is None
        else {**outcome.cost.to_dict(), "train_s": outcome.timings.get("train_s")},
    }
    train_labels = prepared.label_values(plan.train_ids)
    details = {
        "predictions": context.store.predictions_path(key.id),
        "model_config": {**built.config, **model_config_pretraining(pretraining)},
        "n_train": len(plan.train_ids),
        "n_train_positive": positives(prepared.task.kind, train_labels),
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
    if prepared.labels and prepared.task.kind == "classification":
        per_label = dict(zip(prepared.labels, train_labels.sum(axis=0).tolist(), strict=True))
        details["n_train_positive_per_label"] = per_label
    splits = {
        split: {
            **common,
            "contamination": reason is not None,
            "details": {**details, "contamination": reason},
        }
        for split, reason in contamination.items()
    }
    return scored_records(splits, scores)
