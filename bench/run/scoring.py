"""Metrics of a finished cell, computed from its saved predictions.

Score metrics are functions of the predictions alone, so adding a metric or changing the
bootstrap replicates never retrains: :func:`score_predictions` runs on a predictions table
(``record_id, patient_id, label, score, split``) and the shared resamples of each test set.
The bootstrap recipe stored in a record is the one the resamples were built with, not
whatever a metric plugin reports as its own default.

Multi-label predictions (``label:<name>``/``score:<name>`` columns, :mod:`bench.data.labels`)
give one :class:`Score` per metric and split whose value is the macro mean over the labels
that have both classes in that split; its CI comes from the macro on each shared patient
resample. A rare label can be undefined on a resample (its positives all left out): it then
contributes its full-sample value, so the macro always averages the same labels (dropping
it instead would bias the interval towards the common labels). ``per_label`` holds every
label's value, CI and positives (``None`` value for a one-class label); the bootstrap
details count the label values filled in (``filled_label_values``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench.data.cohort import TIME_COLUMN
from bench.data.labels import label_column, prediction_labels, score_column
from bench.errors import RunError
from bench.host.specs import MetricSpec, MetricValue, ScoreData
from bench.statistics.intervals import metric_replicates, percentile_ci
from bench.statistics.resampling import bootstrap_indices
from bench.training.selection import VALIDATION

if TYPE_CHECKING:
    from bench.host.manager import PluginHost


def select_metrics(
    host: PluginHost,
    requested: Sequence[str],
    defaults: bool = True,
    kinds: Sequence[str] = ("classification",),
) -> list[MetricSpec]:
    """The score metrics of the cells of tasks of ``kinds``: the defaults (unless
    ``defaults`` is False) plus ``requested`` (registry names). Each cell computes those
    that apply to its task's kind (:func:`metrics_for`).

    A requested metric that ``bench run`` cannot compute is an error, not a warning:
    image-set metrics need their own command, run-level metrics must provide ``run``, and a
    score metric must apply to the kind of at least one task of the run.
    """
    regs = host.registries
    chosen = [
        m
        for m in regs.metrics
        if defaults and m.default and m.kind == "scores" and set(m.task_kinds) & set(kinds)
    ]
    for name in requested:
        metric = regs.metrics.get(name)
        if metric.kind == "scores" and not set(metric.task_kinds) & set(kinds):
            raise RunError(
                f"metric {name!r} scores {' and '.join(metric.task_kinds)} tasks; this run's "
                f"tasks are {' and '.join(sorted(set(kinds)))}"
            )
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


def check_metric_options(options: Mapping[str, Any], metrics: Sequence[MetricSpec]) -> None:
    """``metric_options`` names only entries that a metric of ``metrics`` reads
    (:attr:`MetricSpec.options`), each a mapping that passes that metric's check; else a
    :class:`RunError` naming the entry, before anything trains."""
    readers = {m.options: m for m in metrics if m.options}
    if not isinstance(options, Mapping):
        raise RunError(f"metric_options: expected {{PLUGIN: {{KEY: VALUE}}}}, got {options!r}")
    for name, settings in options.items():
        if name not in readers:
            read = ", ".join(sorted(readers)) or "none"
            raise RunError(
                f"metric_options: no requested metric reads {name!r} (they read: {read})"
            )
        if not isinstance(settings, Mapping):
            raise RunError(f"metric_options.{name}: expected KEY: VALUE settings, got {settings!r}")
        check = readers[name].check_options
        try:
            if check is not None:
                check(settings)
        except ValueError as exc:
            raise RunError(f"metric_options.{name}: {exc}") from None


def metrics_for(kind: str, metrics: Sequence[MetricSpec]) -> list[MetricSpec]:
    """The ``metrics`` that apply to a task of ``kind`` (:attr:`MetricSpec.task_kinds`)."""
    return [m for m in metrics if kind in m.task_kinds]


def positives(kind: str, y_true: np.ndarray) -> int:
    """A score's ``n_positive``: positive records (classification, any label for
    multi-label), events (survival), 0 for regression (its targets have no positives)."""
    if kind == "regression":
        return 0
    return int((y_true.reshape(len(y_true), -1) == 1).any(axis=1).sum())


@dataclass(frozen=True)
class BootstrapRecipe:
    """How the shared resamples of every test set are drawn (goes into every record)."""

    replicates: int
    seed: int
    unit: str
    stratified: bool = False
    #: Multi-label macro scores leave out labels with fewer test positives (stored only
    #: when not 1, so records scored before the option keep their key).
    min_label_positives: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as stored under ``bootstrap`` in result records."""
        out: dict[str, Any] = {
            "replicates": self.replicates,
            "seed": self.seed,
            "unit": self.unit,
            "stratified": self.stratified,
        }
        if self.min_label_positives != 1:
            out["min_label_positives"] = self.min_label_positives
        return out

    def key(self) -> tuple[int, int, str, bool, int]:
        """What a stored record's ``bootstrap`` must match to need no re-scoring."""
        return (self.replicates, self.seed, self.unit, self.stratified, self.min_label_positives)

    @staticmethod
    def stored_key(bootstrap: Mapping[str, Any]) -> tuple[Any, Any, Any, bool, int]:
        """:meth:`key` of a record's stored ``bootstrap`` (unstratified, and every label
        with both classes scored, before those options)."""
        return (
            bootstrap.get("replicates"),
            bootstrap.get("seed"),
            bootstrap.get("unit"),
            bool(bootstrap.get("stratified", False)),
            int(bootstrap.get("min_label_positives", 1)),
        )

    def resamples(self, groups: np.ndarray, positive: np.ndarray | None = None) -> np.ndarray:
        """The multiplicity matrix of one test set with patient ids ``groups``; a stratified
        recipe draws the patients of ``positive`` (per record) and the others separately."""
        return bootstrap_indices(
            groups,
            replicates=self.replicates,
            seed=self.seed,
            unit=self.unit,  # type: ignore[arg-type]
            stratify=positive.astype(np.int8) if self.stratified and positive is not None else None,
        )


@dataclass(frozen=True)
class Score:
    """One metric on one evaluation split of a cell."""

    split: str
    metric: MetricSpec
    value: MetricValue
    n: int
    n_positive: int
    bootstrap: dict[str, Any] = field(default_factory=dict)
    per_label: dict[str, dict[str, Any]] | None = None

    def record_fields(self) -> dict[str, Any]:
        """The fields of a :class:`bench.run.records.ResultRecord` this score determines."""
        return {
            "split": self.split,
            "metric": self.metric.name,
            "value": self.value.value,
            "ci_low": self.value.ci_low,
            "ci_high": self.value.ci_high,
            "n": self.n,
            "n_positive": self.n_positive,
            "higher_is_better": self.metric.higher_is_better,
            "bootstrap": self.bootstrap,
        }


def _covariates_of(rows: pd.DataFrame, covariates: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """The covariate columns of ``rows``' records, aligned with them."""
    if covariates is None:
        return {}
    aligned = covariates.reindex(rows["record_id"].astype(str).to_numpy())
    return {str(name): aligned[name].to_numpy() for name in aligned.columns}


def score_predictions(
    predictions: pd.DataFrame,
    metrics: Sequence[MetricSpec],
    resamples: Mapping[str, np.ndarray],
    recipe: BootstrapRecipe,
    covariates: pd.DataFrame | None = None,
    kind: str = "classification",
    horizons: tuple[float, ...] = (),
) -> list[Score]:
    """Every metric that applies to a task of ``kind`` (:func:`metrics_for`) on every
    evaluation split present in ``predictions``.

    ``resamples[split]`` must be the shared matrix of that split's records, in the order
    they appear in ``predictions`` (the order the runner writes them). ``covariates``
    (indexed by record id; :attr:`bench.run.task_data.PreparedTask.covariates`) gives a
    binary task's metrics, and a multi-label task's metrics that take the whole label
    matrix (:attr:`MetricSpec.label_matrix`), each record's site, sex and age
    (:attr:`ScoreData.covariates`).
    A survival task's predictions hold the follow-up ``time`` of each record, which its
    metrics get as :attr:`ScoreData.times` with the task's ``horizons``.
    """
    out: list[Score] = []
    metrics = metrics_for(kind, metrics)
    names = prediction_labels(predictions)
    validation = predictions[predictions["split"] == VALIDATION]
    reference = None
    if not names and len(validation) and kind == "classification":
        reference = ScoreData(
            y_true=validation["label"].to_numpy(),
            y_score=validation["score"].to_numpy(dtype=np.float64),
            groups=validation["patient_id"].astype(str).to_numpy(),
        )
    # a multi-label task's metrics are macro-averaged label by label, except those that
    # take the whole label matrix (MetricSpec.label_matrix)
    whole = [m for m in metrics if m.label_matrix or not names]
    for split, rows in predictions[predictions["split"] != VALIDATION].groupby("split", sort=False):
        if names:
            out.extend(
                macro_score(str(split), rows, names, m, resamples[str(split)], recipe, kind)
                for m in metrics
                if m not in whole
            )
        data = ScoreData(
            y_true=rows[[label_column(n) for n in names] or "label"].to_numpy(),
            y_score=rows[[score_column(n) for n in names] or "score"].to_numpy(dtype=np.float64),
            groups=rows["patient_id"].astype(str).to_numpy(),
            replicate_indices=resamples[str(split)],
            covariates=_covariates_of(rows, covariates),
            reference=reference,
            times=rows[TIME_COLUMN].to_numpy(dtype=np.float64) if kind == "survival" else None,
            horizons=horizons,
            labels=tuple(names),
        )
        for metric in whole:
            value = metric.compute(data)
            extra = {k: v for k, v in value.details.items() if k not in ("unit", "seed")}
            out.append(
                Score(
                    split=str(split),
                    metric=metric,
                    value=value,
                    n=len(rows),
                    n_positive=positives(kind, data.y_true),
                    bootstrap={**extra, **recipe.to_dict()},
                )
            )
    return out


@dataclass(frozen=True)
class MacroValues:
    """A metric macro-averaged over labels: the point value, its value on every resample
    (``(R,)``), and per label the point value and resample values (NaN for a label with
    one class, which is left out of the macro)."""

    point: float
    replicates: np.ndarray
    label_points: np.ndarray  # (K,)
    label_replicates: np.ndarray  # (K, R)
    filled: int  # label values undefined on a resample, filled with the label's point value


def macro_values(
    metric: MetricSpec,
    y_true: np.ndarray,
    y_score: np.ndarray,
    groups: np.ndarray,
    resamples: np.ndarray,
    min_positives: int = 1,
) -> MacroValues:
    """``metric`` on each label column of ``y_true``/``y_score`` ``(n, K)`` and its macro
    over the labels with both classes and at least ``min_positives`` positives (0: any
    column with two values, e.g. a regression target), on the whole set and on every row
    of the multiplicity matrix ``resamples`` (see the module docstring)."""
    n_labels, n_replicates = y_true.shape[1], len(resamples)
    single = np.ones((1, len(y_true)), dtype=np.int32)
    label_points = np.full(n_labels, np.nan)
    label_replicates = np.full((n_labels, n_replicates), np.nan)
    for k in range(n_labels):
        if len(np.unique(y_true[:, k])) < 2 or (y_true[:, k] == 1).sum() < min_positives:
            continue
        label_replicates[k] = metric_replicates(
            metric, y_true[:, k], y_score[:, k], groups, resamples
        )
        label_points[k] = metric_replicates(metric, y_true[:, k], y_score[:, k], groups, single)[0]
    scored = np.isfinite(label_points)
    undefined = ~np.isfinite(label_replicates[scored])
    filled = np.where(undefined, label_points[scored, None], label_replicates[scored])
    point = float(label_points[scored].mean()) if scored.any() else float("nan")
    replicates = filled.mean(axis=0) if scored.any() else np.full(n_replicates, np.nan)
    return MacroValues(point, replicates, label_points, label_replicates, int(undefined.sum()))


def macro_score(
    split: str,
    rows: pd.DataFrame,
    names: Sequence[str],
    metric: MetricSpec,
    resamples: np.ndarray,
    recipe: BootstrapRecipe,
    kind: str = "classification",
) -> Score:
    """``metric`` macro-averaged over the labels ``names`` of one split's multi-label
    predictions ``rows`` (a regression task's targets), with its CI on the shared
    ``resamples`` (see the module docstring). ``n_positive`` counts records with any
    positive label (:func:`positives`)."""
    y_true = rows[[label_column(n) for n in names]].to_numpy()
    y_score = rows[[score_column(n) for n in names]].to_numpy(dtype=np.float64)
    groups = rows["patient_id"].astype(str).to_numpy()
    minimum = recipe.min_label_positives if kind == "classification" else 0
    macro = macro_values(metric, y_true, y_score, groups, resamples, minimum)
    per_label: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(names):
        entry: dict[str, Any] = {"n_positive": positives(kind, y_true[:, k]), "value": None}
        if np.isfinite(macro.label_points[k]):
            low, high = percentile_ci(macro.label_replicates[k])
            entry.update(value=float(macro.label_points[k]), ci_low=low, ci_high=high)
        elif minimum > 1 and 0 < entry["n_positive"] < minimum:
            entry["left_out"] = f"fewer than {minimum} test positives"
        per_label[name] = entry
    low, high = percentile_ci(macro.replicates)
    scored = int(np.isfinite(macro.label_points).sum())
    return Score(
        split=split,
        metric=metric,
        value=MetricValue(macro.point, low, high) if scored else MetricValue(float("nan")),
        n=len(rows),
        n_positive=positives(kind, y_true),
        bootstrap={
            "valid_replicates": int(np.isfinite(macro.replicates).sum()),
            "labels_scored": scored,
            "filled_label_values": macro.filled,
            "labels": len(names),
            **recipe.to_dict(),
        },
        per_label=per_label,
    )
