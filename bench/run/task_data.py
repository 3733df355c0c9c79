"""A task's data, prepared once for all its cells: cohort, usable records, split, cached
model inputs and the shared bootstrap resamples of each test set.

The usable cohort is the manifest less the records that failed to load (format errors,
counted in the run's report); its hash, not the full manifest's, goes into every cell
identity, so a record that starts or stops failing changes the identity of the cells it
touches.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench.data.cohort import TIME_COLUMN, Cohort
from bench.data.image_cache import CachedImages, ImageCache
from bench.data.labels import label_column, label_columns, score_column, window_score_column
from bench.data.preprocess import PreprocessConfig
from bench.data.render import RenderConfig
from bench.data.splits import Split
from bench.errors import RunError
from bench.host.specs import ModelSpec, TaskSpec
from bench.run.scoring import BootstrapRecipe
from bench.training.datasets import ArrayDataset
from bench.training.selection import VALIDATION

if TYPE_CHECKING:
    from rich.console import Console

#: Names of the evaluation splits and the split sets they come from.
EVAL_SETS: dict[str, str] = {"internal": "test", "external": "external"}


@dataclass(frozen=True)
class Inputs:
    """How image and default signal inputs are made (the paper's recipe at a size)."""

    preprocess: PreprocessConfig
    render: RenderConfig

    def representation_hash(self, spec: ModelSpec) -> str:
        """Hash of everything that turns a raw ECG into this model's input (and, for a
        segment model, of how its segments make a record): its representation's hash."""
        return spec.input.hash(self.preprocess, self.render)

    def build(
        self,
        cache: ImageCache,
        cohort: Cohort,
        ids: Sequence[str],
        spec: ModelSpec,
        build: bool = True,
    ) -> CachedImages:
        """Cached inputs of ``ids`` for ``spec``, built where missing (``build=False``: only
        opened; a record missing from the cache is a :class:`bench.data.image_cache.CacheMissError`)."""
        return spec.input.build(cache, cohort, ids, self.preprocess, self.render, build=build)


#: Manifest columns scoring passes to metrics (:attr:`bench.host.specs.ScoreData.covariates`).
COVARIATES: tuple[str, ...] = ("site", "sex", "age")


@dataclass
class PreparedTask:
    """A task's cohort, split and representations, shared by all its cells."""

    task: TaskSpec
    source: str
    cohort: Cohort
    manifest: pd.DataFrame  # usable records only
    split: Split
    eval_sets: dict[str, list[str]]
    arrays: dict[str, CachedImages]  # InputRepresentation.key() → cached inputs
    recipe: BootstrapRecipe
    bad_records: dict[str, str] = field(default_factory=dict)
    notices: dict[str, tuple[str, ...]] = field(default_factory=dict)  # Usable.notices
    usable: dict[str, Any] = field(default_factory=dict)  # Usable.summary(), for report.json
    resamples: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        by_id = self.by_id
        self.resamples = {
            name: self.recipe.resamples(by_id.loc[ids, "patient_id"].to_numpy(), self.positive(ids))
            for name, ids in self.eval_sets.items()
        }

    def positive(self, ids: Sequence[str]) -> np.ndarray:
        """Whether each record of ``ids`` is positive (a multi-label record: for any label)."""
        values = np.asarray(self.label_values(list(ids)))
        return (values.reshape(len(ids), -1) == 1).any(axis=1)

    @functools.cached_property
    def by_id(self) -> pd.DataFrame:
        """The usable manifest indexed by record id (built once, used by every cell)."""
        return self.manifest.set_index("record_id")

    @functools.cached_property
    def covariates(self) -> pd.DataFrame:
        """What the cohort knows of each usable record, indexed by record id: the
        :data:`COVARIATES` columns its manifest has (``site`` always)."""
        columns = [c for c in COVARIATES if c in self.by_id.columns]
        frame = self.by_id[columns].copy()
        frame.index = frame.index.astype(str)
        return frame

    @functools.cached_property
    def usable_hash(self) -> str:
        """Hash of this task's usable records (see :meth:`Cohort.content_hash`): of their
        decoded signals' digests, unless the cohort's signal key is content-derived or the
        records were not read (an unchecked dry run)."""
        return self.cohort.content_hash(self.manifest, self.signal_digests())

    def signal_digests(self) -> np.ndarray | None:
        """Each usable record's signal digest, from the cached inputs (None for a
        :attr:`~bench.data.cohort.Cohort.content_key` cohort or without caches). Every
        cache was made from the same decoded signals; the first by key is read, and one
        that disagrees with it (a file read differently since) is an error."""
        if self.cohort.content_key or not self.arrays:
            return None
        ids = self.manifest["record_id"].tolist()
        (first, digests), *others = ((k, self.arrays[k].digests(ids)) for k in sorted(self.arrays))
        for key, found in others:
            if not np.array_equal(found, digests):
                record = ids[int(np.flatnonzero(found != digests)[0])]
                raise RunError(
                    f"record {record!r} of {self.cohort.name}: the cached inputs {first} and "
                    f"{key} were made from different signals; clear the input cache "
                    "(--cache-dir) and run again"
                )
        return digests

    @property
    def labels(self) -> tuple[str, ...]:
        """Label names of a multi-label task (``()`` for a binary task)."""
        return self.task.labels

    @property
    def label_columns(self) -> list[str]:
        """Manifest columns holding the labels (see :func:`bench.data.labels.label_columns`)."""
        return label_columns(self.labels)

    def label_values(self, ids: Sequence[str]) -> np.ndarray:
        """Labels of ``ids``: ``(n,)`` for a binary task, ``(n, K)`` for a multi-label one
        (a regression task's targets likewise; a survival task's events)."""
        if not self.labels:
            return self.by_id.loc[list(ids), "label"].to_numpy()
        return self.by_id.loc[list(ids), self.label_columns].to_numpy()

    def times(self, ids: Sequence[str]) -> np.ndarray | None:
        """A survival task's follow-up times of ``ids`` (None for other kinds)."""
        if self.task.kind != "survival":
            return None
        return self.by_id.loc[list(ids), TIME_COLUMN].to_numpy(dtype=np.float64)

    def training_labels(self, ids: Sequence[str]) -> np.ndarray:
        """What the objective trains on (:mod:`bench.training.objectives`): the labels, and
        for a survival task ``(n, 2)`` rows of (time, event)."""
        times = self.times(ids)
        if times is None:
            return self.label_values(ids)
        return np.stack([times, self.label_values(ids).astype(np.float64)], axis=1)

    @property
    def task_version(self) -> str:
        """The label definition applied (a loader's note overrides the task's version)."""
        return str(self.cohort.notes.get("task_version", self.task.version))

    def train_ids(self, fraction: float, seed: int) -> list[str]:
        """Usable labelled training records of ``fraction`` for ``seed``."""
        return self.split.fraction_records(self.manifest, fraction, seed)

    def validation_ids(self, fraction: float, seed: int, rule: str) -> list[str]:
        """Usable validation records under the validation ``rule``."""
        return self.split.validation_records(self.manifest, fraction, seed, rule)

    def missing_leads(
        self, spec: ModelSpec, train_ids: Sequence[str], eval_sets: dict[str, list[str]]
    ) -> dict[str, dict[str, int]]:
        """Per set (``train`` and each evaluation split): how many records lacked each lead
        the model's signal recipe zero-filled (empty for models without zero-filling)."""
        missing = self.arrays[spec.input.key()].missing_leads
        out: dict[str, dict[str, int]] = {}
        for name, ids in {"train": list(train_ids), **eval_sets}.items():
            counts: dict[str, int] = {}
            for record_id in ids:
                for lead in missing.get(record_id, ()):
                    counts[lead] = counts.get(lead, 0) + 1
            if counts:
                out[name] = counts
        return out

    def dataset(self, spec: ModelSpec, ids: Sequence[str]) -> ArrayDataset:
        """The model inputs and labels of ``ids`` for ``spec``."""
        cached = self.arrays[spec.input.key()]
        return ArrayDataset(
            cached.array,
            cached.rows(ids),
            self.training_labels(ids),
            kind=spec.input.kind,
            mean=spec.input.mean,
            std=spec.input.std,
        )

    def predictions(
        self,
        scores: dict[str, np.ndarray],
        windows: dict[str, np.ndarray] | None = None,
        validation_ids: Sequence[str] = (),
    ) -> pd.DataFrame:
        """The predictions table of one cell: record, patient, label, score, split (a
        multi-label task has ``label:<name>``/``score:<name>`` per label instead).

        Besides the evaluation sets, the cell's validation records (``validation_ids``,
        split ``validation``) when ``scores`` holds them: what metrics fitted on validation
        (temperature scaling, decision thresholds) fit on; no record scores them.

        ``windows`` (segment models) holds per evaluation set the score of each window
        alone, ``(records, slots)`` (``(records, slots, K)``), NaN in an empty slot; they
        become the columns ``window<j>:score`` (``window<j>:score:<name>``) beside the
        record's score.
        """
        frames = []
        sets = dict(self.eval_sets)
        if validation_ids and VALIDATION in scores:
            sets[VALIDATION] = list(validation_ids)
        for name, ids in sets.items():
            rows = self.by_id.loc[ids]
            columns: dict[str, Any] = {
                "record_id": ids,
                "patient_id": rows["patient_id"].to_numpy(),
            }
            per_window = (windows or {}).get(name)
            if self.labels:
                for k, label in enumerate(self.labels):
                    columns[label_column(label)] = rows[label_column(label)].to_numpy()
                    columns[score_column(label)] = scores[name][:, k]
            else:
                columns["label"] = rows["label"].to_numpy()
                columns["score"] = scores[name]
            if self.task.kind == "survival":
                columns[TIME_COLUMN] = rows[TIME_COLUMN].to_numpy()
            if per_window is not None:
                for slot in range(per_window.shape[1]):
                    values = per_window[:, slot].reshape(len(ids), -1)  # (records, K or 1)
                    names: Sequence[str | None] = self.labels or (None,)  # binary: "score"
                    for k, label_name in enumerate(names):
                        columns[window_score_column(slot, label_name)] = values[:, k]
            frames.append(pd.DataFrame({**columns, "split": name}))
        return pd.concat(frames, ignore_index=True)


def prepare_task(
    task: TaskSpec,
    source: str,
    cohort: Cohort,
    external: bool,
    models: Sequence[ModelSpec],
    cache: ImageCache,
    inputs: Inputs,
    recipe: BootstrapRecipe,
    console: Console | None = None,
    build: bool = True,
    check: bool = True,
) -> PreparedTask:
    """Task → cohort → usable records → split, through :mod:`bench.run.preparation` (the path
    ``bench data describe --check`` takes too): the usability check builds (or opens) the
    cached inputs of every record for every representation the models need; records that
    fail to load are left out before the usable records are split.

    This is where caches are built, once per task before any cell runs; with
    ``build=False`` (an executor's worker) they are only opened, and a record missing from
    one is an error (:class:`bench.data.image_cache.CacheMissError`). ``check=False`` (a dry
    run without caches) reads and caches nothing: every record counts as usable, unchecked."""
    from bench.run.preparation import RecordCheck, split_for, usable_records

    arrays: dict[str, CachedImages] = {}

    def build_inputs(ids: Sequence[str]) -> RecordCheck:
        failed: dict[str, str] = {}
        dropped: dict[str, list[str]] = {}
        notices: dict[str, list[str]] = {}
        for key, spec in {m.input.key(): m for m in models}.items():
            if console is not None:
                console.print(f"[bold]{task.name}[/]: preparing {key} of {len(ids):,} ECGs")
            cached = inputs.build(cache, cohort, ids, spec, build=build)
            if cached.missing_leads and console is not None:
                console.print(
                    f"[yellow]{len(cached.missing_leads)} record(s) lack lead(s) the "
                    f"{spec.name} recipe needs; zero-filled[/]"
                )
            arrays[key] = cached
            failed.update(cached.failed)
            dropped.update(cached.dropped)
            notices.update(cached.notices)
        return RecordCheck(failed, dropped, notices)

    usable = usable_records(cohort, build_inputs if check else None)
    split = split_for(task, cohort, usable.manifest, external)
    eval_sets = {name: list(split.sets[set_name]) for name, set_name in EVAL_SETS.items()}
    return PreparedTask(
        task=task,
        source=source,
        cohort=cohort,
        manifest=usable.manifest,
        split=split,
        eval_sets={k: v for k, v in eval_sets.items() if v},
        arrays=arrays,
        recipe=recipe,
        bad_records=usable.failed,
        notices=usable.notices,
        usable=usable.summary(),
    )
