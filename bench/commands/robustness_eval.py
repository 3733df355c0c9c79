"""One done cell under the robustness conditions: its selected model re-run on perturbed
evaluation sets, scored against its own clean predictions (``bench robustness``).

The model is rebuilt as the cell built it (:func:`bench.run.execution.build_cell_model`)
and given the cell's selected weights (``cells/<cell>/checkpoint/best.safetensors``). A
condition's model inputs are built by the model's own representation from the perturbed
raw ECGs (:func:`bench.data.perturbations.perturbed_cohort`), into a cache of their own
below ``<cache>/robustness`` that the clean cache never shares. The clean reference is the
cell's saved predictions, so the clean AUROC is the run's own record; the records a
condition refuses (a lead subset under a contract that refuses missing leads) are left
out of both sides, and the paired difference uses the shared resamples restricted to the
records scored.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from bench.data.image_cache import ImageCache
from bench.data.labels import label_column, prediction_labels, score_column
from bench.data.perturbations import condition, perturbed_cohort
from bench.executors.worker import intra_op_threads
from bench.host.specs import MetricSpec, ScoreData
from bench.run.execution import build_cell_model
from bench.run.records import ResultRecord
from bench.run.scoring import macro_values, positives
from bench.statistics.intervals import metric_replicates, percentile_ci
from bench.statistics.paired import paired_bootstrap
from bench.training.datasets import ArrayDataset
from bench.training.devices import resolve_device
from bench.training.objectives import Objective
from bench.training.runtime import DeviceBatches, predict, sequential_batches, worker_count
from bench.training.state import BEST_FILE
from bench.weights.checkpoints import load_state_dict_file

if TYPE_CHECKING:
    from bench.host.specs import ModelSpec
    from bench.run.cells import CellPlan
    from bench.run.context import CellContext
    from bench.run.task_data import PreparedTask

#: What the records of a condition say of a model's missing-lead contract.
ZERO_FILLS = "zero-fills missing leads (its signal recipe)"
REFUSES = "refuses a record without one of its leads (III, aVR, aVL and aVF derived from I and II)"


def perturbed_cache_root(context: CellContext) -> Path:
    """Where perturbed model inputs are cached: ``<cache>/robustness``, one folder per
    condition and representation, apart from the clean inputs."""
    return context.cache.root / "robustness"


def lead_contract(spec: ModelSpec) -> str:
    """How ``spec``'s input handles a lead the record lacks (:data:`ZERO_FILLS` or
    :data:`REFUSES`)."""
    return ZERO_FILLS if spec.input.recipe is not None else REFUSES


@dataclass(frozen=True)
class Drop:
    """A metric on the clean and the perturbed scores of the same records, and the paired
    difference clean − perturbed (the drop) on the same resamples."""

    clean: tuple[float, float, float]  # value, CI low, CI high
    perturbed: tuple[float, float, float]
    paired: dict[str, Any]  # paired_bootstrap(clean, perturbed)


def paired_drop(
    metric: MetricSpec,
    y_true: np.ndarray,
    clean: np.ndarray,
    perturbed: np.ndarray,
    groups: np.ndarray,
    resamples: np.ndarray,
    min_label_positives: int = 1,
) -> Drop:
    """``metric`` on ``clean`` and ``perturbed`` scores of the same records with the drop
    ``clean − perturbed`` and its paired-bootstrap CI over ``resamples`` (multiplicities);
    ``(n, K)`` labels and scores give the macro over the labels, as records do."""
    sides = []
    for scores in (clean, perturbed):
        if y_true.ndim == 2:
            macro = macro_values(metric, y_true, scores, groups, resamples, min_label_positives)
            point, replicates = macro.point, macro.replicates
        else:
            value = metric.compute(ScoreData(y_true, scores, groups, resamples))
            point = float(value.value)
            replicates = metric_replicates(metric, y_true, scores, groups, resamples)
        sides.append((point, replicates))
    (clean_point, clean_reps), (pert_point, pert_reps) = sides
    return Drop(
        clean=(clean_point, *percentile_ci(clean_reps)),
        perturbed=(pert_point, *percentile_ci(pert_reps)),
        paired=paired_bootstrap(clean_reps, pert_reps, clean_point, pert_point),
    )


class CellModel:
    """A done cell's selected model, ready to score datasets as its training run did."""

    def __init__(self, context: CellContext, prepared: PreparedTask, plan: CellPlan) -> None:
        cell = plan.key.id
        path = context.store.root / "cells" / cell / "checkpoint" / BEST_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: the cell's selected weights are not kept (a run with "
                "--keep-weights none, or a cell finished before weights were kept)"
            )
        built, train, _ = build_cell_model(prepared, plan, context.config.protocol)
        self.config = plan.train_config
        self.device = resolve_device(self.config.device)
        self.channels_last = plan.spec.input.channels_last
        module = built.module
        module.load_state_dict(load_state_dict_file(path))
        self.module = module.to(self.device)
        if self.channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)
        self.objective = Objective.for_task(
            prepared.task.kind, train.labels, self.config.pos_weight
        )
        self.workers = worker_count(self.device, self.config.num_workers)
        self.threads = context.cell_threads

    def scores(self, dataset: ArrayDataset) -> np.ndarray:
        """P(positive) per record (``(n, K)`` for multi-label), batched as training scored
        and with the cell's intra-op threads (CPU reductions depend on their number)."""
        order = sequential_batches(len(dataset), 2 * self.config.batch_size)
        batches = DeviceBatches(dataset, order, self.device, self.workers, self.channels_last)
        with intra_op_threads(self.threads):
            logits, labels = predict(
                self.module, self.module, batches, self.device, self.config.autocast
            )
        return self.objective.evaluate(logits, labels)[0]


def _set_columns(rows: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Label and score columns of a predictions table (one pair for a binary task)."""
    names = prediction_labels(rows)
    if not names:
        return ["label"], ["score"]
    return [label_column(n) for n in names], [score_column(n) for n in names]


def _as_task(values: np.ndarray) -> np.ndarray:
    """``(n, 1)`` columns as the ``(n,)`` vector of a binary task, else unchanged."""
    return values[:, 0] if values.shape[1] == 1 else values


@dataclass
class CellRobustness:
    """Evaluates one done cell under conditions (see the module docstring)."""

    context: CellContext
    prepared: PreparedTask
    plan: CellPlan
    metric: MetricSpec
    hashes: dict[str, str]  # condition → hash of its perturbed evaluation records

    def __post_init__(self) -> None:
        store, cell = self.context.store, self.plan.key.id
        self.model = CellModel(self.context, self.prepared, self.plan)
        self.stored = store.cell_predictions(cell)
        stored = store.cell_records(cell)  # each split's auroc record, else any of its records
        self.templates = {r.split: r for r in stored}
        self.templates.update({r.split: r for r in stored if r.metric == "auroc"})
        self.cache = ImageCache(perturbed_cache_root(self.context))
        self.reproduced = self._clean_difference()

    def _clean_difference(self) -> float:
        """Largest absolute difference between the reloaded model's clean scores and the
        cell's saved predictions (0 when the selected model is reproduced exactly)."""
        worst = 0.0
        spec = self.plan.spec
        for name, ids in self.prepared.eval_sets.items():
            rows = self.stored[self.stored["split"] == name]
            scores = self.model.scores(self.prepared.dataset(spec, ids))
            saved = rows[_set_columns(rows)[1]].to_numpy(dtype=np.float64)
            worst = max(worst, float(np.max(np.abs(saved - scores.reshape(len(ids), -1)))))
        return worst

    def evaluate(self, name: str) -> tuple[list[ResultRecord], pd.DataFrame]:
        """The records of condition ``name`` (one per evaluation split) and the perturbed
        predictions of the records scored."""
        spec, prepared = self.plan.spec, self.prepared
        ids = [r for split in prepared.eval_sets.values() for r in split]
        cohort = perturbed_cohort(prepared.cohort, name)
        cached = self.context.inputs.build(self.cache, cohort, ids, spec)
        clean_missing = prepared.arrays[spec.input.key()].missing_leads
        records, frames = [], []
        for split, split_ids in prepared.eval_sets.items():
            kept = [i for i, r in enumerate(split_ids) if r in cached.index]
            refused = {r: cached.failed[r] for r in split_ids if r in cached.failed}
            zero_filled: dict[str, int] = {}
            for record_id in (split_ids[i] for i in kept):
                for lead in cached.missing_leads.get(record_id, ()):
                    if lead not in clean_missing.get(record_id, ()):
                        zero_filled[lead] = zero_filled.get(lead, 0) + 1
            details: dict[str, Any] = {
                "condition": name,
                "condition_description": condition(name).description,
                "lead_contract": lead_contract(spec),
                "refused": len(refused),
                "zero_filled": zero_filled,
                "perturbed_inputs_hash": self.hashes[name],
                "clean_reinference_max_abs_diff": self.reproduced,
            }
            if refused:
                details["refused_example"] = next(iter(refused.items()))
            rows = self.stored[self.stored["split"] == split].reset_index(drop=True)
            if not kept:
                records.append(self._record(split, details, None, rows.iloc[[]], None))
                continue
            kept_ids = [split_ids[i] for i in kept]
            dataset = ArrayDataset(
                cached.array,
                cached.rows(kept_ids),
                prepared.training_labels(kept_ids),
                kind=spec.input.kind,
                mean=spec.input.mean,
                std=spec.input.std,
            )
            scores = self.model.scores(dataset).reshape(len(kept), -1)
            rows = rows.iloc[kept].reset_index(drop=True)
            label_cols, score_cols = _set_columns(rows)
            drop = paired_drop(
                self.metric,
                _as_task(rows[label_cols].to_numpy()),
                _as_task(rows[score_cols].to_numpy(dtype=np.float64)),
                _as_task(scores),
                rows["patient_id"].astype(str).to_numpy(),
                prepared.resamples[split][:, kept],
                self.context.recipe.min_label_positives,
            )
            columns = ["record_id", "patient_id", *label_cols, *score_cols, "split"]
            perturbed = rows[columns].copy()  # no clean window scores of a segment model
            perturbed[score_cols] = scores
            frames.append(perturbed.assign(condition=name))
            records.append(self._record(split, details, drop, rows, label_cols))
        predictions = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return records, predictions

    def _record(
        self,
        split: str,
        details: dict[str, Any],
        drop: Drop | None,
        rows: pd.DataFrame,
        label_cols: Sequence[str] | None,
    ) -> ResultRecord:
        """The record of one condition on one split (``drop=None``: every record refused)."""
        template = self.templates[split]
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        recipe = self.context.recipe.to_dict()
        if drop is None:
            reason = details.get("refused_example", ("", "no record scored"))[1]
            return replace(
                template,
                metric="auroc",
                value=float("nan"),
                ci_low=None,
                ci_high=None,
                n=0,
                n_positive=0,
                bootstrap=recipe,
                created=created,
                details={**details, "status": "refused", "reason": reason},
            )
        assert label_cols is not None
        labels = rows[list(label_cols)].to_numpy()
        paired = drop.paired
        low, high = paired["diff_ci"]
        return replace(
            template,
            metric="auroc",
            value=drop.perturbed[0],
            ci_low=drop.perturbed[1],
            ci_high=drop.perturbed[2],
            n=len(rows),
            n_positive=positives(self.prepared.task.kind, labels),
            bootstrap={**recipe, "valid_replicates": paired["valid_replicates"]},
            created=created,
            details={
                **details,
                "status": "scored",
                "clean_auroc": drop.clean[0],
                "clean_ci_low": drop.clean[1],
                "clean_ci_high": drop.clean[2],
                "drop": paired["diff"],
                "drop_ci_low": low,
                "drop_ci_high": high,
                "drop_p_value": paired["p_value"],
            },
        )
