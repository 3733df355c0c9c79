"""``bench data describe``: the paper's Table 1 for a task on a data source."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bench.commands.options import parse_source_options
from bench.config import PROFILES
from bench.plugin_manager import PluginHost
from bench.splits import DEFAULT_FRACTIONS

console = Console()


def describe_rows(manifest: Any, split: Any, fractions: tuple[float, ...]) -> list[dict[str, Any]]:
    """ECGs, patients, positives, prevalence and sites per split set and training fraction."""
    by_id = manifest.set_index("record_id")
    groups: list[tuple[str, list[str]]] = [
        (name, split.sets[name]) for name in ("train", "validation", "test", "external")
    ]
    groups += [(f"train {f:.0%}", split.fraction_records(manifest, f)) for f in fractions]
    rows = []
    for name, ids in groups:
        part = by_id.loc[ids]
        rows.append(
            {
                "set": name,
                "ecgs": len(part),
                "patients": int(part["patient_id"].nunique()),
                "positives": int(part["label"].sum()),
                "prevalence": round(float(part["label"].mean()), 4) if len(part) else None,
                "sites": ", ".join(sorted(part["site"].unique())),
            }
        )
    return rows


@click.group("data")
def data_group() -> None:
    """Inspect cohorts and splits."""


@data_group.command("describe")
@click.option("--task", "-t", required=True, help="Task name (see `bench list tasks`).")
@click.option("--source", default=None, help="Data source (default: the task's default).")
@click.option(
    "--source-option",
    "source_options",
    multiple=True,
    metavar="SOURCE.KEY=VALUE",
    help="Option for the data source, e.g. ludb.path=/data/ludb.",
)
@click.option(
    "--profile",
    type=click.Choice(sorted(PROFILES)),
    default="quick",
    help="Profile whose synthetic cohort size to use (default quick).",
)
@click.option(
    "--fraction",
    "-f",
    "fractions",
    multiple=True,
    type=float,
    help="Training fractions to show (default 1, 10, 25, 50, 100 %).",
)
@click.option("--no-external", is_flag=True, help="Do not hold out the external site.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def describe_command(
    ctx: click.Context,
    task: str,
    source: str | None,
    source_options: tuple[str, ...],
    profile: str,
    fractions: tuple[float, ...],
    no_external: bool,
    as_json: bool,
) -> None:
    """Counts of ECGs and patients per split and training fraction, prevalence and sites
    (the paper's Table 1) — without training anything."""
    from bench.splits import split_cohort

    host: PluginHost = ctx.find_root().obj
    spec = host.registries.tasks.get(task)
    source = source or spec.default_source
    if source not in spec.loaders:
        raise click.BadParameter(
            f"task {task!r} has no source {source!r}; available: {', '.join(sorted(spec.loaders))}",
            param_hint="--source",
        )
    options: dict[str, Any] = {"task": task}
    if source == "synthetic":
        options["n_patients"] = PROFILES[profile].synthetic_patients
    options.update(parse_source_options(source_options).get(source, {}))
    cohort = spec.loaders[source](options)
    split = split_cohort(spec, cohort, external=not no_external)
    rows = describe_rows(cohort.manifest, split, fractions or DEFAULT_FRACTIONS)
    if as_json:
        click.echo(
            json.dumps(
                {"task": task, "source": source, "version": spec.version, "rows": rows}, indent=2
            )
        )
        return
    table = Table(title=f"{task} on {source} ({spec.version}): {spec.positive_class}")
    for column in rows[0]:
        table.add_column(column, justify="left" if column in ("set", "sites") else "right")
    for row in rows:
        table.add_row(
            *(f"{v:.1%}" if k == "prevalence" and v is not None else str(v) for k, v in row.items())
        )
    console.print(table)
