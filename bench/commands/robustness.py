"""``bench robustness``: a finished run's selected models re-run on perturbed evaluation
sets, never retrained (:mod:`bench.data.perturbations` names the conditions)."""

from __future__ import annotations

import math
import traceback
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from bench.data.perturbations import CONDITIONS
from bench.progress import counted_progress

if TYPE_CHECKING:
    from bench.host.manager import PluginHost
    from bench.run.cells import CellPlan
    from bench.run.context import CellContext
    from bench.run.records import ResultRecord
    from bench.run.task_data import PreparedTask

err_console = Console(stderr=True)
#: Where the records go, beside (never inside) the run's ``results.jsonl``.
RECORDS_FILE = "robustness.jsonl"
#: Where each cell's perturbed predictions go: ``robustness/<cell>/<condition>.csv``.
PREDICTIONS_DIR = "robustness"


def done_cells(
    context: CellContext, cells: Sequence[str], console: Console
) -> list[tuple[PreparedTask, CellPlan]]:
    """Every done cell of the run (those named in ``cells``, when given), with its prepared
    task; cells not done are named and left out."""
    from bench.run.cells import CellKey, plan_cell

    config, host = context.config, context.host
    out = []
    for task in (host.registries.tasks.get(n) for n in config.tasks):
        prepared = context.load_task(task)
        for fraction in config.fractions:
            for seed in config.seeds:
                for spec in context.models:
                    key = CellKey(
                        spec.name, task.name, prepared.source, fraction, seed, config.protocol
                    )
                    if cells and key.id not in cells:
                        continue
                    train_ids = prepared.train_ids(fraction, seed)
                    plan = plan_cell(context, prepared, spec, key, train_ids)
                    state = context.store.status(key.id, plan.identity).state
                    if state != "done":
                        console.print(f"[yellow]{key.id}: not done ({state}); skipped[/]")
                        continue
                    out.append((prepared, plan))
    return out


def _merge(path: Path, new: list[ResultRecord]) -> list[ResultRecord]:
    """``new`` plus the records already in ``path`` that ``new`` does not replace (same
    cell identity, split and condition)."""
    from bench.run.records import read_jsonl

    def key(r: ResultRecord) -> tuple[str, str, str]:
        return (r.identity, r.split, str(r.details.get("condition")))

    replaced = {key(r) for r in new}
    kept = [r for r in read_jsonl(path) if key(r) not in replaced] if path.is_file() else []
    return kept + new


def _drop_text(record: ResultRecord) -> str:
    details = record.details
    if details.get("status") != "scored":
        return "[red]refused[/]"
    drop = details["drop"]
    text = f"{drop:+.3f} [{details['drop_ci_low']:+.3f}, {details['drop_ci_high']:+.3f}]"
    return f"[bold]{text}[/]" if details["drop_ci_low"] > 0 else text


#: How the tables name each headline metric (:data:`robustness_eval.HEADLINE`).
METRIC_LABELS = {"auroc": "AUROC", "mae": "MAE", "c_index": "C-index"}


def robustness_tables(records: Sequence[ResultRecord], conditions: Sequence[str]) -> list[Table]:
    """One :func:`robustness_table` per metric of ``records`` (a run's tasks of different
    kinds report different headline metrics)."""
    metrics = dict.fromkeys(r.metric for r in records)
    return [robustness_table([r for r in records if r.metric == m], conditions) for m in metrics]


def robustness_table(records: Sequence[ResultRecord], conditions: Sequence[str]) -> Table:
    """Rows: model (with task, fraction, seed and split when the run has several); columns:
    the clean value of the records' metric (one metric; at least one record), then each
    condition's drop (positive: worse; clean − perturbed, or perturbed − clean where lower
    is better) with its paired 95 % CI (bold: the CI excludes 0) or ``refused``."""
    label = METRIC_LABELS.get(records[0].metric, records[0].metric)
    sign = "clean - perturbed" if records[0].higher_is_better else "perturbed - clean"
    table = Table(title=f"{label} drop under perturbation ({sign}, positive: worse; paired 95% CI)")
    rows: dict[tuple[Any, ...], dict[str, ResultRecord]] = {}
    for record in records:
        cell = (record.model, record.task, record.fraction, record.seed, record.split)
        rows.setdefault(cell, {})[str(record.details.get("condition"))] = record
    varying = [len({c[i] for c in rows}) > 1 for i in range(5)]
    table.add_column("model")
    table.add_column(f"clean {label}")
    for name in conditions:
        table.add_column(name)
    for cell, by_condition in rows.items():
        label = " ".join(
            [str(cell[0])]
            + [f"{p}{v:g}" if isinstance(v, float | int) else str(v)
               for p, v, shown in zip(("", "f", "s", ""), cell[1:], varying[1:], strict=True)
               if shown]
        )  # fmt: skip
        clean = next(
            (r.details["clean_value"] for r in by_condition.values() if "clean_value" in r.details),
            math.nan,
        )
        cells = [_drop_text(by_condition[c]) if c in by_condition else "" for c in conditions]
        table.add_row(label, f"{clean:.3f}", *cells)
    return table


@click.command("robustness")
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "--condition",
    "conditions",
    multiple=True,
    type=click.Choice(list(CONDITIONS)),
    help="A perturbation to evaluate (repeatable; default: all of them).",
)
@click.option("--cell", "cells", multiple=True, help="Only this cell id (repeatable).")
@click.option(
    "--device",
    default=None,
    help="Device to run inference on (default: the run's; not part of a cell's identity).",
)
@click.pass_context
def robustness_command(
    ctx: click.Context,
    run_dir: Path,
    conditions: tuple[str, ...],
    cells: tuple[str, ...],
    device: str | None,
) -> None:
    """Re-run every finished cell's selected model of RUN_DIR on perturbed evaluation sets,
    never retraining, and report the task's headline metric and its drop from the clean set.

    Conditions: lead subsets (lead-I, lead-II, leads-I-II, limb-6, independent-8; each
    model's input contract zero-fills the removed leads or refuses the record, as stated
    in the records), baseline wander, 50/60 Hz mains hum and EMG-like noise at 20, 10 and
    5 dB SNR, a 250 Hz round trip and ±20 % amplitude scaling (docs/robustness.md). Every
    perturbation is seeded from the record id and the condition, so every model sees the
    same perturbed ECGs. Each cell × condition × split gives one record in
    RUN_DIR/robustness.jsonl of its task's headline metric: `auroc` (classification), `mae`
    (regression), `c_index` (survival); details: condition, clean_value, drop (positive:
    worse; clean − perturbed, perturbed − clean for MAE) with its paired patient-level CI.
    Perturbed predictions go to RUN_DIR/robustness/<cell>/<condition>.csv. A linear-probe
    cell's probe, which the cell does not keep, is fitted again on its clean training
    features as the cell fitted it (checked against its saved predictions) and applied to
    the frozen features of the perturbed sets.

    \b
    Examples:
      bench robustness runs/quick-1a2b3c4d
      bench robustness runs/quick-1a2b3c4d --condition lead-I --condition emg-5db
      bench robustness runs/r --cell resnet1d__stemi__synthetic__f1__s0__finetune
      bench robustness runs/r --device cpu
    """
    from bench.commands.rescore import run_config_of
    from bench.commands.robustness_eval import (
        HEADLINE,
        CellRobustness,
        lead_contract,
        perturbed_cache_root,
    )
    from bench.data.perturbations import perturbed_hash
    from bench.run.context import CellContext
    from bench.run.records import dumps
    from bench.run.store import atomic_write_text

    host: PluginHost = ctx.find_root().obj
    names = list(conditions) or list(CONDITIONS)
    config = run_config_of(run_dir)
    if device is not None:
        config = replace(config, device=device)
    context = CellContext.open(config, host, err_console)
    plans = done_cells(context, cells, err_console)
    records: list[ResultRecord] = []
    failed: list[str] = []
    hashes: dict[tuple[str, str], str] = {}
    progress = counted_progress(err_console)
    with progress:
        bar = progress.add_task("robustness", total=len(plans) * len(names))
        for prepared, plan in plans:
            cell = plan.key.id
            ids = [r for split in prepared.eval_sets.values() for r in split]
            for name in names:
                if (prepared.task.name, name) not in hashes:
                    hashes[prepared.task.name, name] = perturbed_hash(prepared.cohort, ids, name)
            task_hashes = {n: hashes[prepared.task.name, n] for n in names}
            metric = host.registries.metrics.get(HEADLINE[prepared.task.kind])
            try:
                evaluator = CellRobustness(context, prepared, plan, metric, task_hashes)
            except Exception as exc:  # one cell never stops the others
                failed.append(f"{cell}: {type(exc).__name__}: {exc}")
                err_console.print(f"[red]{cell}: {type(exc).__name__}: {exc}[/]")
                progress.advance(bar, len(names))
                continue
            if evaluator.reproduced > 1e-4:
                err_console.print(
                    f"[yellow]{cell}: the reloaded model's clean scores differ from the saved "
                    f"predictions by up to {evaluator.reproduced:.2g}[/]"
                )
            for name in names:
                progress.update(bar, description=f"{cell} {name}")
                try:
                    new, predictions = evaluator.evaluate(name)
                except Exception as exc:
                    failed.append(f"{cell} {name}: {type(exc).__name__}: {exc}")
                    err_console.print(f"[red]{cell} {name}: {type(exc).__name__}: {exc}[/]")
                    err_console.print(traceback.format_exc(), markup=False, highlight=False)
                else:
                    records.extend(new)
                    if len(predictions):
                        path = run_dir / PREDICTIONS_DIR / cell / f"{name}.csv"
                        atomic_write_text(path, predictions.to_csv(index=False))
                progress.advance(bar)
    path = run_dir / RECORDS_FILE
    atomic_write_text(path, dumps(_merge(path, records)))
    out = Console()
    for table in robustness_tables(records, names):
        out.print(table)
    for spec in dict.fromkeys(plan.spec for _, plan in plans):
        out.print(f"{spec.name}: {lead_contract(spec)}")
    refused = sum(r.details.get("refused", 0) for r in records)
    err_console.print(
        f"{len(records)} record(s) of {len(plans)} cell(s) in {path}; {refused} perturbed "
        f"ECG(s) refused by a model's input contract; {len(failed)} failure(s)"
    )
    cache = perturbed_cache_root(context)
    size = sum(f.stat().st_blocks * 512 for f in cache.rglob("*") if f.is_file())
    err_console.print(f"perturbed inputs cached in {cache}: {size / 1e9:,.2f} GB (safe to delete)")
    for line in failed:
        err_console.print(f"[red]failed: {line}[/]")
    if failed:
        ctx.exit(1)
