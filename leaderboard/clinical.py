"""The clinical profile of each task: beside clean AUROC, how a model fares where a
clinician would look — its worst subgroup, its worst perturbation, its calibration and its
cost — in one table per task (the axes HELM reports for language models).

For every row of a task's internal test set, at the largest training fraction the row has:

- clean AUROC (mean over seeds);
- the worst subgroup: the largest gap of ``subgroup_auroc`` (best − worst subgroup of the
  dimension with the largest gap), with the subgroups named and the gap's paired-bootstrap
  95 % CI (a gap whose CI holds zero is no evidence of a gap);
- the worst robustness condition: the largest AUROC drop of ``bench robustness`` (records
  in ``robustness.jsonl`` beside ``results.jsonl``), clean − perturbed, among the
  conditions the model scored; the conditions its input contract refuses (an image model
  without the leads it plots) are listed beside it, never counted as robust;
- calibration: ECE (the ``ece`` metric) with its 95 % CI (pooled over the seeds' bootstrap
  replicates where the predictions allow, else the mean of the seeds' CI bounds) and the
  Brier score, each beside its value after temperature scaling fitted on the validation
  set (``ece_ts``, ``brier_ts``);
- GFLOPs per ECG (the records' ``compute``) and latency per ECG at batch 1, a measured
  quantity (not re-derivable from the records): from ``bench cost RUN`` (``latency.json``
  beside the run's ``results.jsonl``, timed on a quiet machine) where the run has it,
  else the records' ``compute`` timed beside training, leaving out a record timed under
  load (1-minute load average over 1.25 × the CPU count: CPU threads then wait for
  descheduled partners, 100× slower per ECG has been seen). A row with no quiet timing
  shows "—" and a footnote names ``bench cost``.

Values are means over the seeds that have them (their CIs are in the records). A missing
axis is "—", with the command that fills it named under the table.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.leaderboard.aggregate import (
    RowKey,
    SourcedRecord,
    fraction_label,
    row_key,
    row_labels,
    summarise,
)
from bench.leaderboard.replicates import Replicates, pooled_ci

from bench.api import ResultRecord, read_jsonl

#: Where ``bench robustness`` writes its records, beside a run's ``results.jsonl``.
ROBUSTNESS_FILE = "robustness.jsonl"
SPLIT = "internal"
MISSING = "—"
#: Where ``bench cost`` writes its latencies, beside a run's ``results.jsonl``.
LATENCY_FILE = "latency.json"
#: A timing whose 1-minute load average exceeds this many times the CPU count was taken
#: on a busy machine and is not shown (``bench cost`` refuses to time above it).
LOAD_FACTOR = 1.25
#: How to read the ECE interval (under the section's caption).
ECE_NOTE = (
    "ECE's 95 % CI is the bootstrap percentile interval. Binned ECE on a finite test set is "
    "biased upward (sampling noise adds to every bin's gap), and on bootstrap resamples more "
    "so, so the interval is skewed above the estimate: its upper end far above, its lower "
    "end close to it, and on a small or well-calibrated test set sometimes above it."
)
#: Calibration metrics shown beside ECE: the Brier score and both after temperature scaling.
CALIBRATED = ("ece_ts", "brier", "brier_ts")


@dataclass(frozen=True)
class ProfileRow:
    """One row of a task's clinical profile (``None``: not measured)."""

    task: str
    source: str
    row: str
    fraction: float
    seeds: int
    auroc: float | None
    subgroup: str | None
    gap: float | None
    condition: str | None
    drop: float | None
    ece: float | None
    gflops: float | None
    latency_ms: float | None
    ece_ci: tuple[float, float] | None = None
    ece_ts: float | None = None
    brier: float | None = None
    brier_ts: float | None = None
    #: Conditions whose records the model's input contract refused (no drop to rank).
    refused: tuple[str, ...] = ()
    #: The largest gap's 95 % CI (paired bootstrap; the mean of the seeds' bounds).
    gap_ci: tuple[float, float] | None = None
    #: The worst condition's drop, its 95 % CI (paired; the mean of the seeds' bounds).
    drop_ci: tuple[float, float] | None = None
    #: Where ``latency_ms`` came from: "bench cost" (``latency.json``), "records" or None.
    latency_source: str | None = None
    #: Every latency of the row was timed under load (so ``latency_ms`` is not shown).
    latency_under_load: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


def load_robustness(paths: Iterable[Path | str]) -> list[SourcedRecord]:
    """Records of every ``robustness.jsonl`` below the given directories."""
    out: list[SourcedRecord] = []
    for path in map(Path, paths):
        files = sorted(path.rglob(ROBUSTNESS_FILE)) if path.is_dir() else []
        for file in files:
            out.extend(SourcedRecord(r, file.parent) for r in read_jsonl(file))
    return out


def _busy(load: Any, cpus: Any) -> bool:
    """Whether a timing's 1-minute ``load`` exceeded :data:`LOAD_FACTOR` × ``cpus``."""
    return isinstance(load, int | float) and isinstance(cpus, int) and load > LOAD_FACTOR * cpus


def _read_latencies(path: Path) -> dict[str, dict[str, Any]]:
    """The entries of a ``bench cost`` :data:`LATENCY_FILE` by cell identity (none when
    the run has no such file)."""
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["entries"]
        return {identity: e for e in entries for identity in e["identities"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path}: entries: expected `bench cost`'s latency entries with identities "
            f"({type(exc).__name__}: {exc})"
        ) from None


class Latencies:
    """The ``bench cost`` latencies of each run directory, by cell identity (read once)."""

    def __init__(self) -> None:
        self._runs: dict[Path, dict[str, dict[str, Any]]] = {}

    def _run(self, base: Path) -> dict[str, dict[str, Any]]:
        if base not in self._runs:
            self._runs[base] = _read_latencies(base / LATENCY_FILE)
        return self._runs[base]

    def batch_one(self, item: SourcedRecord) -> float | None:
        """Seconds per ECG at batch 1 that ``bench cost`` timed quietly for the record's
        cell (None: none, or timed under load with ``--allow-load``)."""
        entry = None if item.base is None else self._run(item.base).get(item.record.identity)
        if entry is None or any(
            _busy(entry.get(k), entry.get("cpu_count"))
            for k in ("load_average_1m_before", "load_average_1m_after")
        ):
            return None
        value = (entry.get("latency_s_per_ecg") or {}).get("1")
        return None if value is None else float(value)


def _latency(
    items: Sequence[SourcedRecord], latencies: Latencies
) -> tuple[float | None, str | None, bool]:
    """Mean batch-1 seconds per ECG of a row, its source, and whether every timing the
    row has was taken under load (the module docstring's rule)."""
    timed = _mean(latencies.batch_one(i) for i in items)
    if timed is not None:
        return timed, "bench cost", False
    computes = [i.record.compute for i in items]
    timings = [c for c in computes if (c.get("latency_s_per_ecg") or {}).get("1") is not None]
    quiet = [c for c in timings if not _busy(c.get("load_average_1m"), c.get("cpu_count"))]
    value = _mean(c["latency_s_per_ecg"]["1"] for c in quiet)
    if value is not None:
        return value, "records", False
    return None, None, bool(timings)


def _mean(values: Iterable[float | None]) -> float | None:
    numbers = [float(v) for v in values if v is not None and v == v]  # NaN is not a value
    return statistics.fmean(numbers) if numbers else None


def _worst_subgroup(
    records: Sequence[ResultRecord],
) -> tuple[str | None, float | None, tuple[float, float] | None]:
    """The largest subgroup gap's name (from the seed with the largest), its mean over the
    seeds and the mean of the seeds' paired-bootstrap CI bounds (one seed: its CI)."""
    scored = [r for r in records if r.value == r.value]
    if not scored:
        return None, None, None
    worst = max(scored, key=lambda r: r.value)
    gap = worst.bootstrap.get("largest_gap") or {}
    pair = gap.get("pair") or ["?", "?"]
    name = f"{gap.get('dimension', '?')}: {pair[1]} vs {pair[0]}"
    low, high = _mean(r.ci_low for r in scored), _mean(r.ci_high for r in scored)
    ci = None if low is None or high is None else (low, high)
    return name, _mean(r.value for r in scored), ci


def _worst_condition(
    records: Sequence[ResultRecord],
) -> tuple[str | None, float | None, tuple[float, float] | None]:
    """The condition with the largest mean drop, that mean, and the mean of the seeds'
    paired CI bounds of the drop (one seed: its CI)."""
    scored: dict[str, list[ResultRecord]] = defaultdict(list)
    for r in records:
        if r.details.get("drop") is not None:
            scored[str(r.details.get("condition"))].append(r)
    if not scored:
        return None, None, None
    drops = {c: statistics.fmean(float(r.details["drop"]) for r in rs) for c, rs in scored.items()}
    condition = max(drops, key=lambda c: drops[c])
    low = _mean(r.details.get("drop_ci_low") for r in scored[condition])
    high = _mean(r.details.get("drop_ci_high") for r in scored[condition])
    return condition, drops[condition], None if low is None or high is None else (low, high)


def _refused_conditions(records: Sequence[ResultRecord]) -> tuple[str, ...]:
    """The conditions refused on some seed, in the order ``bench robustness`` ran them."""
    refused = (str(r.details.get("condition")) for r in records)
    statuses = (r.details.get("status") for r in records)
    return tuple(dict.fromkeys(c for c, s in zip(refused, statuses, strict=True) if s == "refused"))


def _ece_ci(
    items: Sequence[SourcedRecord], values: Replicates | None
) -> tuple[float, float] | None:
    """The 95 % CI of the seeds' ECE: pooled over their replicates when ``values`` can
    recompute them, else the mean of the seeds' bounds (one seed: its record's CI)."""
    if not items:
        return None
    cell = summarise(items)
    pooled = pooled_ci(cell, values) if values is not None and len(items) > 1 else ""
    if not isinstance(pooled, str):
        return pooled
    return None if cell.ci_low is None or cell.ci_high is None else (cell.ci_low, cell.ci_high)


def clinical_profile(
    records: Sequence[SourcedRecord],
    robustness: Sequence[SourcedRecord] = (),
    values: Replicates | None = None,
    labels: Mapping[RowKey, str] | None = None,
) -> list[ProfileRow]:
    """The profile rows of every task with AUROC records on its internal test set;
    ``values`` (the board's) pools the ECE CI over the seeds' replicates; ``labels`` (the
    board's :func:`cell_labels`, stand-in and submitted marks included) name the rows that
    it has, :func:`row_labels` the others; the latency is
    ``bench cost``'s (:data:`LATENCY_FILE` of the records' run directory) where present.

    Raises :class:`ValueError` naming a :data:`LATENCY_FILE` that is not ``bench cost``'s."""
    latencies = Latencies()
    by_group: dict[tuple[Any, ...], dict[str, list[SourcedRecord]]] = defaultdict(
        lambda: defaultdict(list)
    )
    tagged = [(i, i.record.metric) for i in records]
    tagged += [(i, "robustness") for i in robustness]
    for item, metric in tagged:
        r = item.record
        if r.split == SPLIT:
            by_group[(r.task, r.source, row_key(r), r.fraction)][metric].append(item)
    largest: dict[tuple[Any, ...], float] = {}
    for task, source, row, fraction in by_group:
        if by_group[(task, source, row, fraction)]["auroc"]:
            key = (task, source, row)
            largest[key] = max(largest.get(key, fraction), fraction)
    names = {**row_labels(row for _, _, row in largest), **(labels or {})}
    out = []
    for (task, source, row), fraction in sorted(largest.items(), key=lambda kv: kv[0][:2]):
        items = by_group[(task, source, row, fraction)]
        metrics = {name: [i.record for i in group] for name, group in items.items()}
        aurocs = metrics["auroc"]
        subgroup, gap, gap_ci = _worst_subgroup(metrics.get("subgroup_auroc", []))
        condition, drop, drop_ci = _worst_condition(metrics.get("robustness", []))
        refused = _refused_conditions(metrics.get("robustness", []))
        latency, latency_source, under_load = _latency(items["auroc"], latencies)
        out.append(
            ProfileRow(
                task=task,
                source=source,
                row=names[row],
                fraction=fraction,
                seeds=len({r.seed for r in aurocs}),
                auroc=_mean(r.value for r in aurocs),
                subgroup=subgroup,
                gap=gap,
                condition=condition,
                drop=drop,
                ece=_mean(r.value for r in metrics.get("ece", [])),
                gflops=_mean(r.compute.get("gflops_per_ecg") for r in aurocs),
                latency_ms=None if latency is None else 1000 * latency,
                ece_ci=_ece_ci(items.get("ece", []), values),
                **{m: _mean(r.value for r in metrics.get(m, [])) for m in CALIBRATED},
                refused=refused,
                gap_ci=gap_ci,
                drop_ci=drop_ci,
                latency_source=latency_source,
                latency_under_load=under_load,
            )
        )
    return out


def _number(value: float | None, digits: int = 3) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def _interval(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f" ({ci[0]:.3f}–{ci[1]:.3f})"


def profile_markdown(rows: Sequence[ProfileRow]) -> str:
    """One Markdown table per task, with what fills each missing axis."""
    if not rows:
        return ""
    parts = ["## Clinical profile\n", (__doc__ or "").split("\n\n")[1].replace("\n", " ") + "\n"]
    parts.append(ECE_NOTE + "\n")
    by_task: dict[tuple[str, str], list[ProfileRow]] = defaultdict(list)
    for row in rows:
        by_task[(row.task, row.source)].append(row)
    for (task, source), task_rows in by_task.items():
        parts.append(f"### {task} · {source} · {SPLIT}\n")
        parts.append(
            "| row | fraction | seeds | AUROC | worst subgroup | gap (95 % CI) | worst condition | "
            "AUROC drop (95 % CI) | ECE (95 % CI) | ECE, TS | Brier | Brier, TS | GFLOPs/ECG | "
            "latency (ms/ECG, batch 1) |\n"
            "|---|--:|--:|--:|---|--:|---|--:|--:|--:|--:|--:|--:|--:|"
        )
        for r in task_rows:
            cells = [
                r.row,
                fraction_label(r.fraction),
                str(r.seeds),
                _number(r.auroc),
                r.subgroup or MISSING,
                _number(r.gap) + _interval(r.gap_ci),
                (r.condition or MISSING)
                + (f"; refuses {', '.join(r.refused)}" if r.refused else ""),
                MISSING if r.drop is None else f"{r.drop:+.3f}" + _interval(r.drop_ci),
                _number(r.ece) + _interval(r.ece_ci),
                _number(r.ece_ts),
                _number(r.brier),
                _number(r.brier_ts),
                _number(r.gflops),
                _number(r.latency_ms, 2),
            ]
            parts.append("| " + " | ".join(cells) + " |")
        missing = []
        if all(r.gap is None for r in task_rows):
            missing.append("subgroups: `bench rescore RUN --metric subgroup_auroc`")
        if all(r.drop is None for r in task_rows):
            missing.append("robustness: `bench robustness RUN`")
        calibration = [
            m for m in ("ece", *CALIBRATED) if all(getattr(r, m) is None for r in task_rows)
        ]
        if calibration:
            flags = " ".join(f"--metric {m}" for m in calibration)
            missing.append(f"calibration: `bench rescore RUN {flags}`")
        if missing:
            parts.append("\n" + MISSING + " not measured; " + "; ".join(missing) + ".")
        sources = [r.latency_source for r in task_rows]
        if any(sources):
            parts.append(
                "\nGFLOPs and latency are measured, not re-derivable from the records; "
                f"latency from `bench cost` for {sources.count('bench cost')} row(s), from "
                f"the records' timings for {sources.count('records')}."
            )
        loaded = sum(r.latency_under_load for r in task_rows)
        if loaded:
            parts.append(
                f"\nLatency of {loaded} row(s) measured under load only (1-minute load "
                f"average over {LOAD_FACTOR} × the CPU count): not shown; `bench cost RUN` "
                "re-measures it on a quiet machine."
            )
        parts.append("")
    return "\n".join(parts) + "\n"
