"""``bench cost RUN [RUN ...]``: re-time the inference latency of a finished run's models on
a quiet machine, into ``RUN/latency.json``.

A cell times its trained model right after predicting (the records' ``compute``), so a
grid that runs for hours beside other work times its latencies under load; CPU latency at
batch 1 then means nothing (OpenMP threads wait for descheduled partners: 504 ms against
4.8 ms per ECG has been seen for one model). Latency depends on the architecture, the
input shape, the device, the precision and the thread count, not on the trained weights,
so this command times each distinct configuration of a run's finished cells once, on a
model built as the cell's model was built before training (its initial weights: a random
initialisation or the pretrained weights it started from; the trained weights are not
loaded), with :func:`bench.training.cost.inference_latency` at the run's cost protocol
(its profile's ``cost``: batch sizes, repeats, warm-up) and the cells' torch thread count.
The leaderboard's clinical profile prefers these latencies to the records'.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from bench.progress import counted_progress

if TYPE_CHECKING:
    from bench.host.manager import PluginHost
    from bench.run.cells import CellPlan
    from bench.run.context import CellContext
    from bench.run.task_data import PreparedTask

err_console = Console(stderr=True)
#: Where the latencies go, beside the run's ``results.jsonl`` (bundled with it).
LATENCY_FILE = "latency.json"
#: A 1-minute load average above this many times the CPU count means the machine is busy:
#: CPU timings then measure the waiting, not the model.
LOAD_FACTOR = 1.25
#: What each entry says of the weights it was timed with.
WEIGHTS_NOTE = "initial weights as the cell built them (latency does not depend on training)"


@dataclass(frozen=True)
class Configuration:
    """What a latency depends on; the cells that share one are timed once."""

    model: str
    arch: str
    model_profile: str
    protocol: str
    input_shape: tuple[int, ...]
    device: str
    precision: str
    torch_threads: int


def load_average() -> float | None:
    """The machine's 1-minute load average (None where the platform has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def busy(load: float | None, cpus: int | None) -> bool:
    """Whether a 1-minute ``load`` exceeds :data:`LOAD_FACTOR` × ``cpus`` (unknown: no)."""
    return load is not None and cpus is not None and load > LOAD_FACTOR * cpus


def configurations(
    context: CellContext, plans: Sequence[tuple[PreparedTask, CellPlan]]
) -> dict[Configuration, list[tuple[PreparedTask, CellPlan]]]:
    """The run's done cells grouped by :class:`Configuration`: the arch and thread count
    the cell's records state (their ``arch`` and ``compute``; else the model's name and
    the run's cell threads), the run's device as resolved here and the precision it runs
    in there (as the cell's :class:`bench.training.cost.ModelCost` names it)."""
    from bench.training.cost import latency_precision
    from bench.training.devices import resolve_device

    groups: dict[Configuration, list[tuple[PreparedTask, CellPlan]]] = {}
    for prepared, plan in plans:
        records = context.store.cell_records(plan.key.id)
        arch = next((r.arch for r in records if r.arch), plan.spec.name)
        compute = next((r.compute for r in records if r.compute), {})
        device = str(resolve_device(plan.train_config.device))
        sample = prepared.dataset(plan.spec, plan.train_ids[:1])[0][0]
        config = Configuration(
            model=plan.spec.name,
            arch=arch,
            model_profile=plan.model_profile,
            protocol=plan.key.protocol,
            input_shape=(1, *sample.shape),
            device=device,
            precision=latency_precision(plan.train_config.autocast, device),
            torch_threads=int(compute.get("torch_threads") or context.cell_threads),
        )
        groups.setdefault(config, []).append((prepared, plan))
    return groups


def time_configuration(
    context: CellContext, prepared: PreparedTask, plan: CellPlan, config: Configuration
) -> dict[str, Any]:
    """One :data:`LATENCY_FILE` entry: ``plan``'s model built as its cell built it (before
    training), timed by :func:`bench.training.cost.inference_latency` at the run's cost
    protocol with ``config.torch_threads`` threads, the load read before and after."""
    import torch

    from bench import __version__
    from bench.executors.worker import intra_op_threads
    from bench.run.execution import build_cell_model
    from bench.run.provenance import git_sha
    from bench.training.cost import inference_latency

    built, _, sample = build_cell_model(prepared, plan, context.config.protocol)
    if plan.spec.input.channels_last:  # as train_cell times it
        sample = sample.to(memory_format=torch.channels_last)
    device = torch.device(config.device)
    module = built.module.to(device)
    cost = dict(context.config.profile_spec.cost)
    before = load_average()
    with intra_op_threads(config.torch_threads):
        latency = inference_latency(
            module, sample.to(device), amp=plan.train_config.autocast, **cost
        )
    after = load_average()
    return {
        **asdict(config),
        "input_shape": list(config.input_shape),
        "latency_s_per_ecg": {str(b): s for b, s in latency.items()},
        "timing": {k: list(v) if isinstance(v, tuple) else v for k, v in cost.items()},
        "weights": WEIGHTS_NOTE,
        "load_average_1m_before": before,
        "load_average_1m_after": after,
        "cpu_count": os.cpu_count(),
        "measured_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "harness_version": __version__,
        "git_sha": git_sha(),
    }


def entry_key(entry: dict[str, Any]) -> tuple[Any, ...]:
    """The :class:`Configuration` an entry was timed for (what a re-run replaces)."""
    return tuple(
        tuple(entry[name]) if name == "input_shape" else entry[name]
        for name in Configuration.__dataclass_fields__
    )


def merge_entries(path: Path, new: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``new`` plus the entries of ``path`` it does not re-measure (same configuration)."""
    if not path.is_file():
        return list(new)
    try:
        old = json.loads(path.read_text(encoding="utf-8"))["entries"]
        replaced = {entry_key(e) for e in new}
        return [e for e in old if entry_key(e) not in replaced] + list(new)
    except (ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(
            f"{path}: entries: expected a bench cost latency file ({type(exc).__name__}: {exc})"
        ) from None


def summary_table(rows: Sequence[tuple[str, dict[str, Any], float | None]]) -> Table:
    """One row per timed configuration: its run, model, shape, device, threads, the new
    latency per batch size (ms/ECG), the records' mean at batch 1 and the 1-minute load
    before/after."""
    sizes = sorted({int(b) for _, e, _ in rows for b in e["latency_s_per_ecg"]})
    table = Table(title="Inference latency (ms/ECG; initial weights, re-timed by bench cost)")
    for name in ("run", "model", "input", "device", "threads"):
        table.add_column(name)
    for size in sizes:
        table.add_column(f"batch {size}", justify="right")
    table.add_column("records (batch 1)", justify="right")
    table.add_column("load", justify="right")
    for run, e, recorded in rows:
        latency = e["latency_s_per_ecg"]
        table.add_row(
            run, e["model"], "×".join(map(str, e["input_shape"])),
            f"{e['device']} {e['precision']}", str(e["torch_threads"]),
            *(f"{1000 * latency[str(b)]:.2f}" if str(b) in latency else "" for b in sizes),
            "—" if recorded is None else f"{1000 * recorded:.2f}",
            f"{e['load_average_1m_before']:.2f}/{e['load_average_1m_after']:.2f}"
            if e["load_average_1m_before"] is not None else "—",
        )  # fmt: skip
    return table


def _recorded(context: CellContext, cells: Sequence[tuple[PreparedTask, CellPlan]]) -> float | None:
    """The mean batch-1 latency the cells' own records state (what the table compares)."""
    values = [
        float(r.compute["latency_s_per_ecg"]["1"])
        for _, plan in cells
        for r in context.store.cell_records(plan.key.id)
        if "1" in (r.compute.get("latency_s_per_ecg") or {})
    ]
    return statistics.fmean(values) if values else None


@click.command("cost")
@click.argument(
    "run_dirs",
    nargs=-1,
    required=True,
    type=click.Path(path_type=Path, exists=True, file_okay=False),
)
@click.option(
    "--allow-load",
    is_flag=True,
    help=f"Time even when the 1-minute load average exceeds {LOAD_FACTOR} × the CPU count.",
)
@click.pass_context
def cost_command(ctx: click.Context, run_dirs: tuple[Path, ...], allow_load: bool) -> None:
    """Re-time the inference latency of each RUN's model configurations on a quiet machine.

    Writes RUN/latency.json. The finished cells sharing a model, arch, model profile, protocol, input shape, device, precision
    and torch thread count are timed once. The model is built as the cell built it before
    training (random init, or the pretrained weights it started from; the trained weights
    are not loaded: latency does not depend on them), then timed as a cell times it
    (bench.training.cost.inference_latency: the run's profile's batch sizes, repeats and
    warm-up, the cells' thread count). Refused when the 1-minute load average exceeds 1.25
    × the CPU count (timings under load measure the waiting), unless --allow-load; the
    load before and after each timing is recorded. Each entry of latency.json holds the
    configuration, the latency per batch size (s/ECG), the loads, the CPU count, the UTC
    time and the harness version; a re-run replaces the entries it re-measures. The
    leaderboard's clinical profile prefers these latencies to the records' (which were
    timed beside the training run); an entry timed under load (--allow-load) is not shown.

    \b
    Examples:
      bench cost runs/quick-1a2b3c4d
      bench cost runs/leaderboard-* --allow-load
    """
    from bench.commands.rescore import run_config_of
    from bench.commands.robustness import done_cells
    from bench.run.context import CellContext
    from bench.run.store import atomic_write_text

    load, cpus = load_average(), os.cpu_count()
    if busy(load, cpus) and not allow_load:
        raise click.ClickException(
            f"the 1-minute load average is {load:.2f} on {cpus} CPUs (over {LOAD_FACTOR} × "
            "the CPU count): latencies timed now would measure the waiting; rerun on a quiet "
            "machine or pass --allow-load"
        )
    host: PluginHost = ctx.find_root().obj
    rows: list[tuple[str, dict[str, Any], float | None]] = []
    for run_dir in run_dirs:
        context = CellContext.open(run_config_of(run_dir), host, err_console)
        groups = configurations(context, done_cells(context, (), err_console))
        entries = []
        progress = counted_progress(err_console)
        with progress:
            bar = progress.add_task(f"{run_dir.name}", total=len(groups))
            for config, cells in groups.items():
                progress.update(bar, description=f"{run_dir.name}: {config.model}")
                entry = time_configuration(context, *cells[0], config)
                entry["cells"] = [plan.key.id for _, plan in cells]
                entry["identities"] = [plan.digest for _, plan in cells]
                entries.append(entry)
                rows.append((run_dir.name, entry, _recorded(context, cells)))
                progress.advance(bar)
        path = run_dir / LATENCY_FILE
        data = {"note": WEIGHTS_NOTE, "entries": merge_entries(path, entries)}
        atomic_write_text(path, json.dumps(data, indent=1) + "\n")
        err_console.print(
            f"{len(entries)} configuration(s) of {run_dir.name} timed on their initial "
            f"weights: {path}"
        )
    Console().print(summary_table(rows))
