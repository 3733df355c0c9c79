"""Difference of every row to a reference model, with a paired bootstrap test.

The value reported is the paper's relative difference, ``(ref − other) / other`` in %,
of the seed means. Whether it is "real" is decided by a paired, patient-level bootstrap
on the saved predictions of both models on the same test records (same seed, same
resamples for both): the difference is marked significant when its 95 % CI excludes
zero — for several seeds, on every seed and on the same side. Every registered
``"scores"`` metric is tested, a plugin's included (:func:`bench.statistics.metric_replicates`).
When predictions are missing or do not cover the same records, the difference is
reported without a test and the note says why. Multi-label predictions are compared on the
macro over labels, computed on each resample as the records' values are
(:func:`bench.scoring.macro_values`). When the other row's value is 0 the
relative difference is ±inf (shown as such), not a vanished row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from bench.leaderboard.aggregate import Cell, RowKey, SourcedRecord, TableKey

from bench.labels import label_columns, prediction_labels, score_column
from bench.resampling import bootstrap_indices
from bench.scoring import macro_values
from bench.specs import MetricSpec
from bench.statistics import metric_replicates, paired_bootstrap

PREDICTION_COLUMNS = ("record_id", "patient_id", "label", "score", "split")
#: Columns every predictions table has (multi-label ones have label:/score: per label).
KEY_COLUMNS = ("record_id", "patient_id", "split")


def registered_metrics() -> dict[str, MetricSpec]:
    """Every metric registered by the loaded plugins, by name."""
    from bench.plugin_manager import get_host

    return {spec.name: spec for spec in get_host().registries.metrics}


@dataclass(frozen=True)
class Difference:
    """Relative difference of the reference row to ``row`` at one fraction of one table."""

    table: TableKey
    row: RowKey
    reference: RowKey
    fraction: float
    rel_diff_pct: float
    significant: bool | None  # None: not tested (see ``note``)
    p_value: float | None
    seeds_tested: tuple[int, ...]
    note: str = ""


def find_reference(rows: Sequence[RowKey], reference: str) -> RowKey | None:
    """The row of ``reference`` (``model`` or ``model:init``) among ``rows``.

    When a model has several rows, a non-random init is preferred (the pretrained model
    is the one the paper compares), then the first in sorted order.
    """
    model, _, init = reference.partition(":")
    matches = sorted(r for r in rows if r[0] == model and (not init or r[1] == init))
    if not matches:
        return None
    return next((r for r in matches if r[1] != "random"), matches[0])


@cache
def _read_predictions(path: Path, mtime_ns: int) -> pd.DataFrame:
    """The predictions CSV at ``path`` (cached per modification time)."""
    frame = pd.read_csv(path, dtype={"record_id": str, "patient_id": str})
    required = KEY_COLUMNS if prediction_labels(frame) else PREDICTION_COLUMNS
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: predictions lack columns {missing}")
    return frame


def _predictions(item: SourcedRecord) -> pd.DataFrame | str:
    """Predictions of one record's split, or a note saying why there are none."""
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


def _paired_test(
    spec: MetricSpec, ref: SourcedRecord, other: SourcedRecord, replicates: int, seed: int
) -> dict[str, float] | str:
    """Paired bootstrap of ref − other on one seed, or a note why it cannot run."""
    a, b = _predictions(ref), _predictions(other)
    if isinstance(a, str) or isinstance(b, str):
        return a if isinstance(a, str) else str(b)
    names = prediction_labels(a)
    labels = label_columns(names)
    same = a.index.equals(b.index) and set(labels) <= set(b.columns)
    if not same or not (a[labels].to_numpy() == b[labels].to_numpy()).all():
        return (
            f"predictions of {ref.record.model} and {other.record.model} (seed "
            f"{ref.record.seed}) do not cover the same test records"
        )
    y_true, groups = a[labels].to_numpy(), a["patient_id"].to_numpy()
    resamples = bootstrap_indices(groups, replicates=replicates, seed=seed, unit="patient")
    whole = np.ones((1, len(y_true)), dtype=np.int32)
    values, points = [], []
    for frame in (a, b):
        if names:
            macro = macro_values(
                spec, y_true, frame[[score_column(n) for n in names]].to_numpy(dtype=float),
                groups, resamples,
            )  # fmt: skip
            values.append(macro.replicates)
            points.append(macro.point)
            continue
        scores = frame["score"].to_numpy(dtype=float)
        values.append(metric_replicates(spec, y_true[:, 0], scores, groups, resamples))
        points.append(float(metric_replicates(spec, y_true[:, 0], scores, groups, whole)[0]))
    result = paired_bootstrap(values[0], values[1], points[0], points[1])
    low, high = result["diff_ci"]
    return {"ci_low": float(low), "ci_high": float(high), "p_value": float(result["p_value"])}


def _test_cell(
    ref: Cell, other: Cell, spec: MetricSpec | None, replicates: int, seed: int
) -> tuple[bool | None, float | None, tuple[int, ...], str]:
    """(significant, max p-value, seeds tested, note) for one pair of cells."""
    if spec is None or spec.kind != "scores":
        why = "not a registered score metric" if spec is None else f"a {spec.kind} metric"
        return None, None, (), f"no paired test for metric {ref.metric!r} ({why})"
    ref_by_seed = {item.record.seed: item for item in ref.records}
    other_by_seed = {item.record.seed: item for item in other.records}
    seeds = tuple(sorted(set(ref_by_seed) & set(other_by_seed)))
    if not seeds:
        return None, None, (), "no seed in common with the reference"
    results = []
    for s in seeds:
        outcome = _paired_test(spec, ref_by_seed[s], other_by_seed[s], replicates, seed)
        if isinstance(outcome, str):
            return None, None, (), outcome
        results.append(outcome)
    above = all(r["ci_low"] > 0 for r in results)
    below = all(r["ci_high"] < 0 for r in results)
    return above or below, max(r["p_value"] for r in results), seeds, ""


def relative_difference_pct(ref: float, other: float) -> float:
    """``100 (ref − other) / other``; ±inf when only ``other`` is 0, 0 when both are."""
    if other == 0:
        return 0.0 if ref == 0 else math.copysign(math.inf, ref)
    return 100.0 * (ref - other) / other


def differences(
    cells: Sequence[Cell],
    reference: str,
    *,
    replicates: int = 500,
    seed: int = 0,
    metrics: Mapping[str, MetricSpec] | None = None,
) -> list[Difference]:
    """Differences of the reference to every other row, per table and fraction.

    ``metrics`` (default: the loaded plugins' registry) supplies the score metrics the
    paired test evaluates on the shared resamples.
    """
    metrics = registered_metrics() if metrics is None else metrics
    by_table: dict[TableKey, dict[tuple[RowKey, float], Cell]] = {}
    for cell in cells:
        by_table.setdefault(cell.table, {})[(cell.row, cell.fraction)] = cell
    out = []
    for table, grid in by_table.items():
        ref_row = find_reference(sorted({row for row, _ in grid}), reference)
        if ref_row is None:
            continue
        for (row, fraction), other in sorted(grid.items()):
            ref = grid.get((ref_row, fraction))
            if row == ref_row or ref is None:
                continue
            significant, p_value, seeds, note = _test_cell(
                ref, other, metrics.get(ref.metric), replicates, seed
            )
            out.append(
                Difference(
                    table=table,
                    row=row,
                    reference=ref_row,
                    fraction=fraction,
                    rel_diff_pct=relative_difference_pct(ref.mean, other.mean),
                    significant=significant,
                    p_value=p_value,
                    seeds_tested=seeds,
                    note=note,
                )
            )
    return out
