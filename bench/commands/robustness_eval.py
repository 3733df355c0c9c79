"""One done cell under the robustness conditions: its selected model re-run on perturbed
evaluation sets, scored against its own clean predictions (``bench robustness``).

The model is rebuilt as the cell built it (:func:`bench.run.execution.build_cell_model`)
and given the cell's selected weights (``cells/<cell>/checkpoint/best.safetensors``). A
linear-probe cell keeps no fitted probe, so its probe is fitted again exactly as the cell
fitted it (:func:`bench.training.probe.linear_probe` on the frozen features of the cell's
own clean training and validation records: deterministic, and checked against the saved
clean predictions, ``clean_reinference_max_abs_diff``), once per cell, and applied to the
frozen features of every condition's perturbed evaluation sets (the models:
:mod:`bench.commands.robustness_models`). A condition's model inputs are built by the
model's own representation from the perturbed raw ECGs
(:func:`bench.data.perturbations.perturbed_cohort`), into a cache of their own below
``<cache>/robustness`` that the clean cache never shares. The clean reference is the
cell's saved predictions, so the clean value is the run's own record; the records a
condition refuses (a lead subset under a contract that refuses missing leads) are left
out of both sides, and the paired difference uses the shared resamples restricted to the
records scored.

The metric is the task kind's headline (:data:`HEADLINE`: AUROC, MAE, C-index), taken
from the metric registry. The *drop* is signed so that positive means worse under the
perturbation: clean − perturbed for a metric where higher is better, perturbed − clean
for one where lower is (MAE).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench.commands.robustness_models import CellModel, ProbeModel
from bench.data.cohort import TIME_COLUMN
from bench.data.image_cache import ImageCache
from bench.data.labels import label_column, prediction_labels, score_column
from bench.data.perturbations import condition, perturbed_cohort
from bench.host.specs import MetricSpec, ScoreData
from bench.run.records import ResultRecord
from bench.run.scoring import macro_values, positives
from bench.statistics.intervals import metric_replicates, percentile_ci
from bench.statistics.paired import paired_bootstrap
from bench.training.datasets import ArrayDataset

if TYPE_CHECKING:
    from bench.host.specs import ModelSpec
    from bench.run.cells import CellPlan
    from bench.run.context import CellContext
    from bench.run.task_data import PreparedTask

#: The metric robustness reports per task kind (registry names).
HEADLINE = {"classification": "auroc", "regression": "mae", "survival": "c_index"}
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


def drop_definition(metric: MetricSpec) -> str:
    """How the drop of ``metric`` is signed (positive: worse under the perturbation)."""
    if metric.higher_is_better:
        return "clean - perturbed (higher is better; positive: worse)"
    return "perturbed - clean (lower is better; positive: worse)"


@dataclass(frozen=True)
class Drop:
    """A metric on the clean and the perturbed scores of the same records, and the paired
    difference (the drop, positive: worse; :func:`drop_definition`) on the same resamples."""

    clean: tuple[float, float, float]  # value, CI low, CI high
    perturbed: tuple[float, float, float]
    paired: dict[str, Any]  # paired_bootstrap(worse side, better side)


def paired_drop(
    metric: MetricSpec,
    y_true: np.ndarray,
    clean: np.ndarray,
    perturbed: np.ndarray,
    groups: np.ndarray,
    resamples: np.ndarray,
    min_label_positives: int = 1,
    times: np.ndarray | None = None,
    horizons: tuple[float, ...] = (),
) -> Drop:
    """``metric`` on ``clean`` and ``perturbed`` scores of the same records with the drop
    (:func:`drop_definition`) and its paired-bootstrap CI over ``resamples``
    (multiplicities); ``(n, K)`` labels and scores give the macro over the labels, as
    records do (``min_label_positives``: 0 for regression targets); a survival task's
    follow-up ``times`` and ``horizons`` go to its metric."""
    sides = []
    for scores in (clean, perturbed):
        if y_true.ndim == 2:
            macro = macro_values(metric, y_true, scores, groups, resamples, min_label_positives)
            point, replicates = macro.point, macro.replicates
        else:
            data = ScoreData(y_true, scores, groups, resamples, times=times, horizons=horizons)
            point = float(metric.compute(data).value)
            replicates = metric_replicates(
                metric, y_true, scores, groups, resamples, times, horizons
            )
        sides.append((point, replicates))
    worse, better = sides if metric.higher_is_better else sides[::-1]
    return Drop(
        clean=(sides[0][0], *percentile_ci(sides[0][1])),
        perturbed=(sides[1][0], *percentile_ci(sides[1][1])),
        paired=paired_bootstrap(worse[1], better[1], worse[0], better[0]),
    )


@dataclass(frozen=True)
class ConditionInputs:
    """One condition's perturbed evaluation sets for one model: per split, the positions
    of the records scored and their dataset, the records refused (id → reason) and the
    leads zero-filled (lead → records)."""

    kept: dict[str, list[int]]
    datasets: dict[str, ArrayDataset]
    refused: dict[str, dict[str, str]]
    zero_filled: dict[str, dict[str, int]]


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
    #: A linear-probe cell's scores of every condition's sets (``condition/split``),
    #: from its one refit.
    probed: dict[str, np.ndarray] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        store, cell = self.context.store, self.plan.key.id
        self.stored = store.cell_predictions(cell)
        stored = store.cell_records(cell)  # each split's headline record, else any record
        self.templates = {r.split: r for r in stored}
        self.templates.update({r.split: r for r in stored if r.metric == self.metric.name})
        self.cache = ImageCache(perturbed_cache_root(self.context))
        spec, prepared = self.plan.spec, self.prepared
        clean = {split: prepared.dataset(spec, ids) for split, ids in prepared.eval_sets.items()}
        self.model: CellModel | ProbeModel
        if self.plan.key.protocol == "linear-probe":
            self.model = ProbeModel(self.context, prepared, self.plan)
            perturbed = {
                f"{name}/{split}": dataset
                for name in self.hashes
                for split, dataset in self.inputs(name).datasets.items()
            }
            self.probed = self.model.scores({**clean, **perturbed})
            clean_scores = {split: self.probed[split] for split in clean}
        else:
            self.model = CellModel(self.context, prepared, self.plan)
            clean_scores = self.model.scores(clean)
        self.reproduced = self._clean_difference(clean_scores)

    def _clean_difference(self, scores: Mapping[str, np.ndarray]) -> float:
        """Largest absolute difference between the reloaded model's clean ``scores`` (per
        split) and the cell's saved predictions (0 when the selected model is reproduced
        exactly)."""
        worst = 0.0
        for name, ids in self.prepared.eval_sets.items():
            rows = self.stored[self.stored["split"] == name]
            saved = rows[_set_columns(rows)[1]].to_numpy(dtype=np.float64)
            difference = np.abs(saved - scores[name].reshape(len(ids), -1))
            worst = max(worst, float(np.max(difference)))
        return worst

    def inputs(self, name: str) -> ConditionInputs:
        """Condition ``name``'s perturbed evaluation sets for this cell's model (built once
        per condition and representation, then read from the perturbed cache)."""
        spec, prepared = self.plan.spec, self.prepared
        ids = [r for split in prepared.eval_sets.values() for r in split]
        cached = self.context.inputs.build(
            self.cache, perturbed_cohort(prepared.cohort, name), ids, spec
        )
        clean_missing = prepared.arrays[spec.input.key()].missing_leads
        out = ConditionInputs({}, {}, {}, {})
        for split, split_ids in prepared.eval_sets.items():
            kept = [i for i, r in enumerate(split_ids) if r in cached.index]
            out.kept[split] = kept
            out.refused[split] = {r: cached.failed[r] for r in split_ids if r in cached.failed}
            zero_filled = out.zero_filled.setdefault(split, {})
            for record_id in (split_ids[i] for i in kept):
                for lead in cached.missing_leads.get(record_id, ()):
                    if lead not in clean_missing.get(record_id, ()):
                        zero_filled[lead] = zero_filled.get(lead, 0) + 1
            if kept:
                kept_ids = [split_ids[i] for i in kept]
                out.datasets[split] = ArrayDataset(
                    cached.array,
                    cached.rows(kept_ids),
                    prepared.training_labels(kept_ids),
                    kind=spec.input.kind,
                    mean=spec.input.mean,
                    std=spec.input.std,
                )
        return out

    def _scores(self, name: str, inputs: ConditionInputs) -> dict[str, np.ndarray]:
        """Each split's scores under condition ``name`` (of the records kept)."""
        if isinstance(self.model, ProbeModel):
            return {split: self.probed[f"{name}/{split}"] for split in inputs.datasets}
        return self.model.scores(inputs.datasets)

    def evaluate(self, name: str) -> tuple[list[ResultRecord], pd.DataFrame]:
        """The records of condition ``name`` (one per evaluation split) and the perturbed
        predictions of the records scored."""
        prepared, kind = self.prepared, self.prepared.task.kind
        inputs = self.inputs(name)
        all_scores = self._scores(name, inputs)
        records, frames = [], []
        for split in prepared.eval_sets:
            kept, refused = inputs.kept[split], inputs.refused[split]
            details: dict[str, Any] = {
                "condition": name,
                "condition_description": condition(name).description,
                "lead_contract": lead_contract(self.plan.spec),
                "refused": len(refused),
                "zero_filled": inputs.zero_filled[split],
                "perturbed_inputs_hash": self.hashes[name],
                "clean_reinference_max_abs_diff": self.reproduced,
            }
            if refused:
                details["refused_example"] = next(iter(refused.items()))
            rows = self.stored[self.stored["split"] == split].reset_index(drop=True)
            if not kept:
                records.append(self._record(split, details, None, rows.iloc[[]], None))
                continue
            scores = all_scores[split].reshape(len(kept), -1)
            rows = rows.iloc[kept].reset_index(drop=True)
            label_cols, score_cols = _set_columns(rows)
            survival = kind == "survival"
            drop = paired_drop(
                self.metric,
                _as_task(rows[label_cols].to_numpy()),
                _as_task(rows[score_cols].to_numpy(dtype=np.float64)),
                _as_task(scores),
                rows["patient_id"].astype(str).to_numpy(),
                prepared.resamples[split][:, kept],
                self.context.recipe.min_label_positives if kind == "classification" else 0,
                rows[TIME_COLUMN].to_numpy(dtype=np.float64) if survival else None,
                prepared.task.horizons,
            )
            times = [TIME_COLUMN] if survival else []
            columns = ["record_id", "patient_id", *label_cols, *times, *score_cols, "split"]
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
                metric=self.metric.name,
                higher_is_better=self.metric.higher_is_better,
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
            metric=self.metric.name,
            higher_is_better=self.metric.higher_is_better,
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
                "clean_value": drop.clean[0],
                "clean_ci_low": drop.clean[1],
                "clean_ci_high": drop.clean[2],
                "drop_definition": drop_definition(self.metric),
                "drop": paired["diff"],
                "drop_ci_low": low,
                "drop_ci_high": high,
                "drop_p_value": paired["p_value"],
            },
        )
