"""``bench data describe``: the paper's Table 1 for a task on a data source."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.commands.options import parse_source_options
from bench.data.cohort import TIME_COLUMN
from bench.data.splits import DEFAULT_FRACTIONS, SplitError, TooFewPatientsError
from bench.errors import RunError
from bench.host.manager import PluginHost
from bench.run.config import PROFILES

if TYPE_CHECKING:
    import pandas as pd

    from bench.data.splits import Split
    from bench.run.preparation import FailureGroup, Usable

console = Console()

UNCHECKED = (
    "counts are UNCHECKED: no file was opened, so unreadable or unusable ECGs are still "
    "counted; run with --check for the counts a run trains on"
)


def _outcome(part: pd.DataFrame, kind: str) -> dict[str, Any]:
    """What a set holds of the outcome: positives and prevalence (classification), events,
    event rate and median follow-up (survival), or the first target's mean and SD."""
    if kind == "regression":
        return {
            "first target mean": round(float(part["label"].mean()), 4) if len(part) else None,
            "first target sd": round(float(part["label"].std(ddof=0)), 4) if len(part) else None,
        }
    counts = {
        "events" if kind == "survival" else "positives": int(part["label"].sum()),
        "prevalence": round(float(part["label"].mean()), 4) if len(part) else None,
    }
    if kind == "survival":
        follow_up = float(part[TIME_COLUMN].median()) if len(part) else None
        counts["median follow-up"] = None if follow_up is None else round(follow_up, 3)
    return counts


def describe_rows(
    manifest: pd.DataFrame,
    split: Split,
    fractions: tuple[float, ...],
    kind: str = "classification",
) -> list[dict[str, Any]]:
    """ECGs, patients, the outcome (positives and prevalence, or a task kind's own, see
    :func:`_outcome`) and sites per split set and training fraction."""
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
                **_outcome(part, kind),
                "sites": ", ".join(sorted(part["site"].unique())),
            }
        )
    return rows


def group_rows(groups: list[FailureGroup]) -> list[dict[str, Any]]:
    """Records grouped by reason (:meth:`Usable.failure_groups`, :meth:`Usable.notice_groups`):
    count and a few (record id, message) examples."""
    return [
        {
            "reason": group.reason,
            "records": group.count,
            "examples": [{"record_id": r, "error": e} for r, e in group.examples],
        }
        for group in groups
    ]


def _print_groups(title: str, groups: list[FailureGroup]) -> None:
    table = Table(title=title)
    for column in ("records", "reason", "examples"):
        table.add_column(column, justify="right" if column == "records" else "left")
    for row in group_rows(groups):
        examples = "\n".join(f"{e['record_id']}: {e['error']}" for e in row["examples"])
        table.add_row(str(row["records"]), escape(row["reason"]), escape(examples))
    console.print(table)


def _print_files(usable: Usable, n_records: int) -> None:
    """What opening the files found: usable and unusable counts, dropped extra channels,
    the readers' notices and the unusable ECGs by reason."""
    if usable.checked:
        console.print(
            f"checked: opened all {n_records:,} ECGs with the run's readers and preprocessing; "
            f"{len(usable.manifest):,} usable, {len(usable.failed):,} unusable"
        )
    else:
        console.print(f"[bold yellow]{UNCHECKED}[/]")
    summary = usable.summary()
    if summary["records_with_dropped_channels"]:
        console.print(
            f"{summary['records_with_dropped_channels']:,} usable ECG(s) carried extra channels, "
            f"dropped (the 12 standard leads are kept): {', '.join(summary['dropped_channels'])}"
        )
    if usable.notices:
        _print_groups(f"{len(usable.notices):,} usable ECG(s) with notices", usable.notice_groups())
    if usable.failed:
        _print_groups(f"{len(usable.failed):,} unusable ECG(s), by reason", usable.failure_groups())


def _print_split(title: str, rows: list[dict[str, Any]], notes: list[str]) -> None:
    if rows:
        table = Table(title=title)
        for column in rows[0]:
            table.add_column(column, justify="left" if column in ("set", "sites") else "right")
        for row in rows:
            table.add_row(
                *(
                    f"{v:.1%}" if k == "prevalence" and v is not None else str(v)
                    for k, v in row.items()
                )
            )
        console.print(table)
    for note in notes:
        console.print(f"[bold yellow]note:[/] {escape(note)}")


@click.group("data")
def data_group() -> None:
    """Inspect cohorts and splits."""


@data_group.command("describe")
@click.option("--task", "-t", required=True, help="Task name (see `bench list tasks`).")
@click.option(
    "--source",
    default=None,
    help="Data source (default: the task's default). Every task also takes manifest, muse "
    "and wfdb sources (labels from SOURCE.label_column or wfdb.codes).",
)
@click.option(
    "--source-option",
    "source_options",
    multiple=True,
    metavar="SOURCE.KEY=VALUE",
    help="Option for the data source, e.g. ludb.path=/data/ludb, manifest.label_column=mi, "
    "wfdb.codes=164865005, manifest.external_site=Queens (or =none).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Open every ECG with the real readers and preprocessing: print the usable counts a "
    "run trains on, and the unusable files grouped by reason; exit 1 when none is usable.",
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
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 where `bench run --strict` would stop: an unusable ECG or one with a notice "
    "(with --check), a label without positive ECGs in a split, or no split.",
)
@click.pass_context
def describe_command(
    ctx: click.Context,
    task: str,
    source: str | None,
    source_options: tuple[str, ...],
    check: bool,
    profile: str,
    fractions: tuple[float, ...],
    no_external: bool,
    as_json: bool,
    strict: bool,
) -> None:
    """Counts of ECGs and patients per split and training fraction, prevalence and sites
    (the paper's Table 1) — without training anything.

    Without --check the files are not opened and the counts say so; with --check every ECG
    is read and preprocessed as `bench run` does, and the table shows exactly the records a
    run would train and evaluate on (same task, source and options). The report on the files
    comes first, then the split: too few patients to split is a note after it."""
    from bench.run.preparation import (
        empty_label_notes,
        load_cohort,
        signal_check,
        split_for,
        usable_records,
    )

    host: PluginHost = ctx.find_root().obj
    spec = host.registries.tasks.get(task)
    source = source or spec.default_source
    cohort = load_cohort(
        spec,
        source,
        parse_source_options(source_options).get(source, {}),
        synthetic=PROFILES[profile].synthetic_options(spec.name),
    )
    usable = usable_records(cohort, signal_check(cohort) if check else None)
    header: dict[str, Any] = {
        "task": task,
        "source": source,
        "version": str(cohort.notes.get("task_version", spec.version)),
        "checked": usable.checked,
        "records": cohort.n_records,
        **{k: v for k, v in usable.summary().items() if k != "checked"},
    }
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    stopping: list[str] = []  # the notes `bench run --strict` stops at
    error: Exception | None = None  # raised after the report on the files
    if usable.manifest.empty:
        error = click.ClickException(
            f"no usable ECG: all {cohort.n_records:,} ECGs of {task} on {source} are unusable"
        )
    else:
        try:
            split = split_for(spec, cohort, usable.manifest, external=not no_external)
        except TooFewPatientsError as exc:  # a fact about the files, not a failed check
            stopping.append(f"no split: {exc}")
        except SplitError as exc:
            error = exc
        else:
            fractions = fractions or DEFAULT_FRACTIONS
            rows = describe_rows(usable.manifest, split, fractions, spec.kind)
            stopping += empty_label_notes(spec, cohort, usable.manifest, split)
            notes += split.notes
    notes += stopping
    if cohort.notes.get("unlabelled"):
        notes.append(
            f"{cohort.notes['unlabelled']:,} record(s) left out before these counts: no label "
            + cohort.notes.get(
                "unlabelled_reason", "(no diagnosis code in the header, or an unreadable header)"
            )
        )
    if as_json:
        payload = {**header, "notes": notes, "rows": rows}
        payload["unusable_by_reason"] = group_rows(usable.failure_groups())
        payload["notices_by_reason"] = group_rows(usable.notice_groups())
        if not usable.checked:
            payload["warning"] = UNCHECKED
        click.echo(json.dumps(payload, indent=2))
    else:
        _print_files(usable, cohort.n_records)
        title = f"{task} on {source} ({header['version']}): {spec.positive_class}"
        _print_split(title, rows, notes)
    if error is not None:
        raise error
    if strict:
        _stop_if_strict(usable, stopping)


def _stop_if_strict(usable: Usable, notes: list[str]) -> None:
    """Raise :class:`RunError` at the first problem a run under ``--strict`` stops at: an
    unusable ECG, a record with a notice, then ``notes`` (a label without positives in a
    split, no split)."""
    problems = [
        *(f"bad record {r}: {reason}" for r, reason in usable.failed.items()),
        *(f"record {r} refused: {'; '.join(n)}" for r, n in usable.notices.items()),
        *notes,
    ]
    if problems:
        more = f" (and {len(problems) - 1:,} more problem(s) above)" if len(problems) > 1 else ""
        raise RunError(f"--strict: {problems[0]}{more}")
