"""From result records to leaderboard cells: latest record per cell, seeds summarised.

A *table* is one (task, source, split, metric); its *rows* are experiments and its
*columns* training fractions. A row is keyed by the whole experiment — model name, init,
selection, the architecture actually trained, the experiment hash (model config, weights
content, profile, protocol, validation rule, training config; see :mod:`bench.run.cells`) and
the protocol — so finetune and linear-probe rows of one model share a table as two rows,
two experiments filed under one model name are two rows (labelled apart, with a note
naming their runs), never merged, and seeds are aggregated only within one experiment.
Records that would be compared within one table must share the harness version, task
version, data-source version and usable-cohort hash (:data:`CONSISTENCY_FIELDS`; not the
render config, which belongs to the model), and at each fraction and seed every row must
have used the same records (split hash); :func:`check_consistent` refuses anything else
unless asked.

Several seeds of one cell are summarised as the mean value with its standard deviation
and min–max. :func:`summarise` gives the mean of the per-seed 95 % CI bounds (the CI of
a typical seed); the leaderboard replaces it by the CI pooled over the seeds' bootstrap
replicates where the predictions allow (:mod:`bench.leaderboard.replicates`), and
``Cell.ci_method`` says which one a cell carries.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.api import ResultRecord, read_jsonl

#: Fields that must agree within one table (``source`` is part of the table key): the data
#: every row was evaluated on. The input representation (``render_hash``: an image render
#: or a signal recipe) is not among them: it belongs to the model, so an image model and a
#: signal model share a table; it is part of each row's experiment hash (rows with
#: different renders are kept apart) and shown per row in the Rows section.
CONSISTENCY_FIELDS: tuple[str, ...] = (
    "harness_version",
    "task_version",
    "source_version",
    "cohort_hash",
)


class MixedRecordsError(ValueError):
    """Records that should not share a table (different versions or cohorts, or rows that
    used different records)."""


@dataclass(frozen=True)
class SourcedRecord:
    """A record with the directory of the ``results.jsonl`` it came from (or None)."""

    record: ResultRecord
    base: Path | None = None
    #: From a third-party submission bundle that passed ``bench verify`` (marked rows).
    submitted: bool = False

    @property
    def predictions(self) -> Path | None:
        """Path of this cell's predictions CSV, if the record names one."""
        name = self.record.details.get("predictions")
        if not name:
            return None
        path = Path(name)
        return path if path.is_absolute() or self.base is None else self.base / path


TableKey = tuple[str, str, str, str]  # task, source, split, metric
RowKey = tuple[str, str, str, str, str, str]  # model, init, selection, arch, experiment, protocol
#: The protocol whose rows are labelled by the model name alone.
DEFAULT_PROTOCOL = "finetune"
#: Profiles whose models are small stand-ins for the paper's.
SMALL_PROFILES = frozenset({"quick", "tiny"})
#: Appended to the label of a stand-in row wherever it is printed (:func:`cell_labels`).
STAND_IN_MARK = "§"
STAND_IN_NOTE = (
    f"{STAND_IN_MARK}: a quick-profile stand-in: the row carries a model's name (the "
    "paper's, for the paper's models) but trained a smaller member of its family (the arch "
    "column names what actually trained), so its numbers are not that model's."
)
#: Appended to the label of a row from a verified third-party submission (and its note).
SUBMITTED_MARK = "⁺"
SUBMITTED_NOTE = (
    f"{SUBMITTED_MARK}: a submitted row: its records come from a third-party submission "
    "bundle that passed `bench verify` (re-scored from its predictions, split membership "
    "and contamination checked); the run itself was not reproduced here."
)
#: ``Cell.ci_method`` values: CI pooled over the seeds' replicates, or mean of seed bounds.
CI_POOLED = "pooled"
CI_MEAN_OF_SEEDS = "mean of seed bounds"


def fraction_label(fraction: float) -> str:
    """``0.01`` → ``1 %``."""
    return f"{fraction * 100:g} %"


def table_key(record: ResultRecord) -> TableKey:
    """The table a record belongs to."""
    return (record.task, record.source, record.split, record.metric)


def row_key(record: ResultRecord) -> RowKey:
    """The row (experiment) a record belongs to within its table."""
    return (
        record.model,
        record.init,
        record.selection,
        record.arch,
        record.experiment,
        record.protocol,
    )


def row_labels(rows: Iterable[RowKey]) -> dict[RowKey, str]:
    """Display names of rows: the model name, then the init where one model has several
    inits, then ``· protocol`` for protocols other than finetune, then the experiment hash
    where that is still ambiguous (``heartbeit (mim) · linear-probe``)."""
    rows = sorted(set(rows))
    by_model: dict[str, list[RowKey]] = defaultdict(list)
    for row in rows:
        by_model[row[0]].append(row)
    labels = {}
    for model, group in by_model.items():
        inits = {r[1] for r in group}
        kinds = Counter((r[1], r[5]) for r in group)
        for row in group:
            label = model if len(inits) == 1 else f"{model} ({row[1]})"
            if row[5] != DEFAULT_PROTOCOL:
                label += f" · {row[5]}"
            if kinds[(row[1], row[5])] > 1:
                label += f" [exp {row[4][:6] or '?'}]"
            labels[row] = label
    return labels


def cell_labels(cells: Iterable[Cell]) -> dict[RowKey, str]:
    """:func:`row_labels` of the cells' rows, each stand-in row (:attr:`Cell.stand_in`)
    marked with :data:`STAND_IN_MARK`, each submitted row (:attr:`Cell.submitted`) with
    :data:`SUBMITTED_MARK`; cells labelled board-wide (:attr:`Cell.label`) keep theirs."""
    cells = list(cells)
    if cells and all(c.label for c in cells):  # labelled board-wide: one name per row
        return {c.row: c.label for c in cells}
    stand_ins = {c.row for c in cells if c.stand_in}
    submitted = {c.row for c in cells if c.submitted}
    labels = row_labels(c.row for c in cells)
    return {
        row: label + STAND_IN_MARK * (row in stand_ins) + SUBMITTED_MARK * (row in submitted)
        for row, label in labels.items()
    }


def load_store(paths: Iterable[Path | str]) -> list[SourcedRecord]:
    """Records of every ``results.jsonl`` below the given directories (or the files)."""
    out: list[SourcedRecord] = []
    for path in map(Path, paths):
        if not path.exists():
            raise FileNotFoundError(f"results path {path} does not exist")
        files = sorted(path.rglob("results.jsonl")) if path.is_dir() else [path]
        for file in files:
            out.extend(SourcedRecord(r, file.parent) for r in read_jsonl(file))
    return out


def latest_per_cell(records: Iterable[SourcedRecord]) -> list[SourcedRecord]:
    """Keep the most recent record (by ``created``) of every cell × metric.

    A cell is (experiment row, task, source, fraction, seed, split, protocol);
    ties keep the record read last. Output order is the input order of the survivors.
    """
    best: dict[tuple[object, ...], tuple[int, SourcedRecord]] = {}
    for index, item in enumerate(records):
        r = item.record
        key = (*r.cell, r.metric, *row_key(r))
        current = best.get(key)
        if current is None or r.created >= current[1].record.created:
            best[key] = (index, item)
    return [item for _, item in sorted(best.values(), key=lambda pair: pair[0])]


def check_consistent(records: Sequence[SourcedRecord]) -> None:
    """Raise :class:`MixedRecordsError` if any table mixes :data:`CONSISTENCY_FIELDS`.

    Empty values mean "not applicable" (a record that does not carry the field) and are
    not compared. The message names the table, the field, and which models carry which
    value.
    """
    by_table: dict[TableKey, list[ResultRecord]] = defaultdict(list)
    for item in records:
        by_table[table_key(item.record)].append(item.record)
    problems = []
    for key, recs in sorted(by_table.items()):
        for name in CONSISTENCY_FIELDS:
            models_by_value: dict[str, set[str]] = defaultdict(set)
            for r in recs:
                value = getattr(r, name)
                if value != "":
                    models_by_value[value].add(r.model)
            if len(models_by_value) > 1:
                listed = "; ".join(
                    f"{value!r} ({', '.join(sorted(models))})"
                    for value, models in sorted(models_by_value.items())
                )
                problems.append(f"table {'/'.join(key)}: {name} differs: {listed}")
        problems.extend(_membership_problems(key, recs))
    if problems:
        raise MixedRecordsError(
            "refusing to put incomparable records in one table:\n  "
            + "\n  ".join(problems)
            + "\n(re-run the stale cells, filter with --task/--split, or pass --allow-mixed)"
        )


def _membership_problems(key: TableKey, recs: list[ResultRecord]) -> list[str]:
    """Rows that, at one fraction and seed, trained or evaluated on different records."""
    by_point: dict[tuple[float, int], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for r in recs:
        if r.split_hash:
            by_point[(r.fraction, r.seed)][r.split_hash].add(r.model)
    return [
        f"table {'/'.join(key)}: fraction {fraction:g} seed {seed}: rows used different "
        f"records (split hash): "
        + "; ".join(f"{h[:8]} ({', '.join(sorted(m))})" for h, m in sorted(hashes.items()))
        for (fraction, seed), hashes in sorted(by_point.items())
        if len(hashes) > 1
    ]


@dataclass(frozen=True)
class Cell:
    """One table cell: a metric of one row at one training fraction, over seeds."""

    task: str
    source: str
    split: str
    metric: str
    model: str
    init: str
    selection: str
    arch: str
    experiment: str
    protocol: str
    fraction: float
    mean: float
    std: float
    min: float
    max: float
    ci_low: float | None
    ci_high: float | None
    seeds: tuple[int, ...]
    n: int
    n_positive: int
    contamination: bool
    records: tuple[SourcedRecord, ...]
    ci_method: str = CI_MEAN_OF_SEEDS
    ci_note: str = ""  # why the CI is not pooled over the seeds' replicates
    #: Several seeds whose predictions (or, without predictions, values) are identical:
    #: one replicate shown as several (:mod:`bench.leaderboard.seeds`).
    identical_seeds: bool = False
    #: Seeds whose own bootstrap interval excludes their own point value, in words.
    interval_flags: tuple[str, ...] = ()
    #: The row's name wherever the board prints it, labelled over the whole board
    #: (:func:`bench.leaderboard.report.label_board`); "" before that.
    label: str = ""

    @property
    def table(self) -> TableKey:
        """Key of the table this cell belongs to."""
        return (self.task, self.source, self.split, self.metric)

    @property
    def row(self) -> RowKey:
        """Key of the row (experiment) this cell belongs to."""
        return (self.model, self.init, self.selection, self.arch, self.experiment, self.protocol)

    @property
    def converged(self) -> bool | None:
        """False when any seed's cell did not converge under its stopping rule, True when
        every seed's did, None when unknown (records before schema 3, linear probes)."""
        flags = [item.record.converged for item in self.records]
        if any(flag is False for flag in flags):
            return False
        return True if flags and all(flag is True for flag in flags) else None

    def _mean_detail(self, value: Callable[[ResultRecord], Any]) -> float | None:
        values = [value(item.record) for item in self.records]
        numbers = [float(v) for v in values if isinstance(v, int | float)]
        return sum(numbers) / len(numbers) if numbers else None

    @property
    def train_positives(self) -> float | None:
        """Positive training ECGs of the cell (a survival task's events), mean over seeds
        (None when not recorded, and for a regression task, whose targets have none)."""
        return self._mean_detail(
            lambda r: None if r.task_kind == "regression" else r.details.get("n_train_positive")
        )

    @property
    def epochs_run(self) -> float | None:
        """Epochs the cell trained, mean over seeds (None when not recorded)."""
        return self._mean_detail(lambda r: (r.details.get("training") or {}).get("epochs_run"))

    @property
    def seed_values(self) -> dict[int, float]:
        """Each seed's value of the metric, as its record states it."""
        return {item.record.seed: item.record.value for item in self.records}

    @property
    def stand_in(self) -> bool:
        """Whether the row is a small stand-in: every record from a small profile
        (:data:`SMALL_PROFILES`) built an architecture other than its model name."""
        recs = [item.record for item in self.records]
        return bool(recs) and all(
            r.profile in SMALL_PROFILES and r.arch not in ("", r.model) for r in recs
        )

    @property
    def submitted(self) -> bool:
        """Whether the row's records come from a verified submission bundle."""
        return any(item.submitted for item in self.records)

    @property
    def runs(self) -> tuple[str, ...]:
        """The runs this cell's records came from."""
        return tuple(sorted({item.record.run_id for item in self.records}))


def _mean_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.fmean(present) if len(present) == len(values) and present else None


def summarise(items: Sequence[SourcedRecord]) -> Cell:
    """Summarise the seeds of one cell (all items share table, row and fraction)."""
    items = sorted(items, key=lambda item: item.record.seed)
    recs = [item.record for item in items]
    first = recs[0]
    values = [r.value for r in recs]
    # a seed whose metric is undefined (PPV without a positive call) leaves the cell undefined
    mean = std = low = high = math.nan
    if all(math.isfinite(v) for v in values):
        low, high = min(values), max(values)
        # clamped: a float mean of equal values can exceed them by one ulp
        mean = min(max(statistics.fmean(values), low), high)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
    return Cell(
        task=first.task,
        source=first.source,
        split=first.split,
        metric=first.metric,
        model=first.model,
        init=first.init,
        selection=first.selection,
        arch=first.arch,
        experiment=first.experiment,
        protocol=first.protocol,
        fraction=first.fraction,
        mean=mean,
        std=std,
        min=low,
        max=high,
        ci_low=_mean_or_none([r.ci_low for r in recs]),
        ci_high=_mean_or_none([r.ci_high for r in recs]),
        seeds=tuple(r.seed for r in recs),
        n=first.n,
        n_positive=first.n_positive,
        contamination=any(r.contamination for r in recs),
        records=tuple(items),
    )


def aggregate(records: Iterable[SourcedRecord]) -> list[Cell]:
    """Cells of all tables, sorted by table, row and fraction (call after filtering)."""
    groups: dict[tuple[TableKey, RowKey, float], list[SourcedRecord]] = defaultdict(list)
    for item in records:
        r = item.record
        groups[(table_key(r), row_key(r), r.fraction)].append(item)
    return [summarise(groups[key]) for key in sorted(groups)]


def select(
    records: Iterable[SourcedRecord],
    *,
    tasks: Sequence[str] = (),
    metrics: Sequence[str] = (),
    splits: Sequence[str] = (),
) -> list[SourcedRecord]:
    """Records matching the filters (an empty filter keeps everything)."""
    return [
        item
        for item in records
        if (not tasks or item.record.task in tasks)
        and (not metrics or item.record.metric in metrics)
        and (not splits or item.record.split in splits)
    ]
