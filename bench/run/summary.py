"""What a run reports: :class:`RunSummary` (``report.json``), and what preparing a task
found (bad records, notices, labels without positives), which ``--strict`` refuses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from bench.errors import RunError
from bench.run.preparation import empty_label_notes

if TYPE_CHECKING:
    from rich.console import Console

    from bench.run.task_data import PreparedTask


@dataclass
class RunSummary:
    """Counts and locations at the end of a run."""

    run_dir: Path
    finished: int = 0
    resumed: int = 0
    rescored: int = 0
    rerun_stale: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    bad_records: dict[str, dict[str, str]] = field(default_factory=dict)
    notices: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # per task, record
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # per task: usable counts
    interrupted: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON form (report.json and the bench_run_finished hook)."""
        return {
            "run_dir": str(self.run_dir),
            "finished": self.finished,
            "resumed": self.resumed,
            "rescored": self.rescored,
            "rerun_stale": self.rerun_stale,
            "skipped": self.skipped,
            "failed": self.failed,
            "bad_records": self.bad_records,
            "notices": self.notices,
            "inputs": self.inputs,
            "interrupted": self.interrupted,
        }


def report_prepared(
    prepared: PreparedTask, summary: RunSummary, console: Console, strict: bool
) -> None:
    """Report a prepared task's bad records, records with notices and labels without
    positives in ``summary`` and on ``console``; with ``strict``, stop at the first."""
    task, split, source = prepared.task, prepared.split, prepared.source
    label_notes = empty_label_notes(task, prepared.cohort, prepared.manifest, split)
    for note in (*split.notes, *label_notes):
        console.print(f"[yellow]{task.name}/{source}: {note}[/]")
    summary.inputs[task.name] = prepared.usable
    if prepared.usable.get("records_with_dropped_channels"):
        console.print(
            f"{task.name}/{source}: {prepared.usable['records_with_dropped_channels']} "
            f"record(s) carried extra channels, dropped: "
            f"{', '.join(prepared.usable['dropped_channels'])}"
        )
    if prepared.bad_records:
        summary.bad_records[task.name] = prepared.bad_records
        console.print(
            f"[yellow]{len(prepared.bad_records)} bad record(s) in {task.name}/{source} "
            f"skipped (listed in report.json)[/]"
        )
        if strict:
            first = next(iter(prepared.bad_records.items()))
            raise RunError(f"--strict: bad record {first[0]}: {first[1]}")
    if prepared.notices:
        summary.notices[task.name] = {r: list(n) for r, n in prepared.notices.items()}
        record, notices = next(iter(prepared.notices.items()))
        console.print(
            f"[yellow]{len(prepared.notices)} record(s) in {task.name}/{source} with notices "
            f"(listed in report.json), e.g. {escape(notices[0])}[/]"
        )
        if strict:
            raise RunError(f"--strict: record {record} refused: {'; '.join(notices)}")
    if label_notes and strict:
        raise RunError(f"--strict: {task.name}/{source}: {label_notes[0]}")
