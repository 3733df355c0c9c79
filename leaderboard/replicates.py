"""A cell's metric on the shared bootstrap resamples, recomputed from its saved predictions.

Every record's predictions give its metric on the whole test set and on every resample of
one patient-level bootstrap (``replicates`` resamples drawn with ``seed`` from the test
set's patient ids, so two models scored on the same test records share them replicate
by replicate). :class:`Replicates` computes each record's values once per leaderboard
build; the paired tests (:mod:`bench.leaderboard.paired`) compare two rows on them, and
:func:`pool_cis` gives a cell of several seeds the percentile CI of all its seeds'
replicate values pooled. Multi-label predictions are scored on the macro over labels,
as the records are (:func:`bench.run.scoring.macro_values`). Where a record has no usable
predictions, or its metric is not a registered score metric, the reason is returned
instead of values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from bench.leaderboard.aggregate import CI_POOLED, Cell, SourcedRecord

from bench.api import (
    DEFAULT_REPLICATES,
    TIME_COLUMN,
    MetricSpec,
    TaskSpec,
    bootstrap_indices,
    label_columns,
    macro_values,
    metric_replicates,
    percentile_ci,
    prediction_labels,
    score_column,
)

PREDICTION_COLUMNS = ("record_id", "patient_id", "label", "score", "split")
#: Columns every predictions table has (multi-label ones have label:/score: per label).
KEY_COLUMNS = ("record_id", "patient_id", "split")


def registered_metrics() -> dict[str, MetricSpec]:
    """Every metric registered by the loaded plugins, by name."""
    from bench.api import get_host

    return {spec.name: spec for spec in get_host().registries.metrics}


@cache
def _read_predictions(path: Path, mtime_ns: int) -> pd.DataFrame:
    """The predictions CSV at ``path`` (cached per modification time)."""
    frame = pd.read_csv(path, dtype={"record_id": str, "patient_id": str})
    required = KEY_COLUMNS if prediction_labels(frame) else PREDICTION_COLUMNS
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: predictions lack columns {missing}")
    return frame


def predictions(item: SourcedRecord) -> pd.DataFrame | str:
    """Predictions of one record's split indexed by sorted record id, or why there are none."""
    path = item.predictions
    who = f"{item.record.model} seed {item.record.seed}"
    if path is None:
        return f"no predictions recorded for {who}"
    if not path.is_file():
        return f"predictions file of {who} not found ({path})"
    frame = _read_predictions(path.resolve(), path.stat().st_mtime_ns)
    frame = frame[frame["split"] == item.record.split]
    if frame.empty:
        return f"no {item.record.split!r} rows in predictions of {who}"
    return frame.set_index("record_id").sort_index()


@dataclass(frozen=True)
class SeedValues:
    """One record's metric on its test set (``point``) and on every shared resample."""

    index: pd.Index  # record ids, sorted
    labels: np.ndarray  # (n, K) true labels
    groups_key: str  # digest of the patient ids, which determine the resamples
    point: float
    values: np.ndarray  # (replicates,)
    scores: np.ndarray  # (n, K) the model's scores (for the permutation test)
    groups: np.ndarray  # (n,) patient ids

    def pairs_with(self, other: SeedValues) -> bool:
        """Whether both were scored on the same records, labels and resamples."""
        return (
            self.index.equals(other.index)
            and self.groups_key == other.groups_key
            and self.labels.shape == other.labels.shape
            and bool((self.labels == other.labels).all())
        )


class Replicates:
    """Metric values of records on their test set's shared resamples, computed once each.

    ``metrics`` (default: the loaded plugins' registry) supplies the score metrics.
    """

    def __init__(
        self,
        replicates: int = DEFAULT_REPLICATES,
        seed: int = 0,
        metrics: Mapping[str, MetricSpec] | None = None,
    ) -> None:
        self.replicates = replicates
        self.seed = seed
        self.metrics = registered_metrics() if metrics is None else metrics
        self._resamples: dict[str, np.ndarray] = {}
        self._values: dict[tuple[object, ...], SeedValues | str] = {}

    def spec(self, metric: str) -> MetricSpec | str:
        """The score metric ``metric``, or why it cannot be recomputed on resamples."""
        spec = self.metrics.get(metric)
        if spec is None or spec.kind != "scores":
            why = "not a registered score metric" if spec is None else f"a {spec.kind} metric"
            return f"metric {metric!r} is {why}"
        return spec

    def of(self, item: SourcedRecord) -> SeedValues | str:
        """``item``'s values, or a note saying why there are none."""
        r = item.record
        key = (item.predictions, r.split, r.metric, r.model, r.seed)
        if key not in self._values:
            self._values[key] = self._compute(item)
        return self._values[key]

    def _compute(self, item: SourcedRecord) -> SeedValues | str:
        spec = self.spec(item.record.metric)
        frame = predictions(item)
        if isinstance(spec, str) or isinstance(frame, str):
            return spec if isinstance(spec, str) else str(frame)
        names = prediction_labels(frame)
        y_true = frame[label_columns(names)].to_numpy()
        groups = frame["patient_id"].to_numpy()
        groups_key = hashlib.sha256("\0".join(groups).encode()).hexdigest()
        if groups_key not in self._resamples:
            self._resamples[groups_key] = bootstrap_indices(
                groups, replicates=self.replicates, seed=self.seed, unit="patient"
            )
        resamples = self._resamples[groups_key]
        scores = frame[[score_column(n) for n in names] if names else ["score"]].to_numpy(float)
        if names:
            classification = item.record.task_kind == "classification"
            minimum = int(item.record.bootstrap.get("min_label_positives", 1))
            macro = macro_values(
                spec, y_true, scores, groups, resamples, minimum if classification else 0
            )
            point, values = macro.point, macro.replicates
        else:
            whole = np.ones((1, len(y_true)), dtype=np.int32)
            survival = survival_inputs(item, frame)
            args = (spec, y_true[:, 0], scores[:, 0], groups)
            point = float(metric_replicates(*args, whole, *survival)[0])
            values = metric_replicates(*args, resamples, *survival)
        values = np.asarray(values, float)
        return SeedValues(frame.index, y_true, groups_key, point, values, scores, groups)


def _task(item: SourcedRecord) -> TaskSpec | None:
    """The registered task of ``item``'s record (None when no loaded plugin has it)."""
    from bench.api import get_host

    tasks = get_host().registries.tasks
    return tasks.get(item.record.task) if item.record.task in tasks else None


def survival_inputs(
    item: SourcedRecord, frame: pd.DataFrame
) -> tuple[np.ndarray | None, tuple[float, ...]]:
    """A survival task's follow-up times (the predictions' ``time`` column) and horizons
    (its registered :attr:`TaskSpec.horizons`); ``(None, ())`` for other tasks."""
    if TIME_COLUMN not in frame.columns:
        return None, ()
    task = _task(item)
    return frame[TIME_COLUMN].to_numpy(float), () if task is None else task.horizons


def pooled_ci(cell: Cell, values: Replicates) -> tuple[float, float] | str:
    """The 95 % percentile CI of all seeds' replicate values of ``cell`` pooled, or why not."""
    pooled = []
    for item in cell.records:
        got = values.of(item)
        if isinstance(got, str):
            return got
        pooled.append(got.values)
    low, high = percentile_ci(np.concatenate(pooled))
    if np.isnan(low):
        return f"no finite bootstrap value for {cell.model} at fraction {cell.fraction:g}"
    return low, high


def pool_cis(cells: Sequence[Cell], values: Replicates) -> list[Cell]:
    """``cells`` with the pooled CI where it can be computed; the others keep the mean of
    their seeds' CI bounds, with the reason in ``ci_note``."""
    out = []
    for cell in cells:
        got = pooled_ci(cell, values)
        if isinstance(got, str):
            out.append(replace(cell, ci_note=got))
        else:
            out.append(replace(cell, ci_low=got[0], ci_high=got[1], ci_method=CI_POOLED))
    return out
