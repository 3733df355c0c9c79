"""Which trained cell ``bench saliency`` explains: its checkpoint and the fields its
records carry (run, fraction, seed, protocol and the cell's row on a leaderboard)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHECKPOINT = Path("checkpoint") / "best.safetensors"


class SaliencyError(ValueError):
    """A saliency run cannot start: no checkpoint, no fiducials, no usable records."""


@dataclass(frozen=True)
class Cell:
    """Which trained cell the checkpoint belongs to (for the result records)."""

    checkpoint: Path
    run_id: str = ""
    fraction: float = 1.0
    seed: int = 0
    protocol: str = "finetune"
    config: Mapping[str, Any] | None = None  # the run's resolved config (run.json)
    #: The cell's records' cohort hash (the usable records it trained and was scored on,
    #: by content); "" for a bare checkpoint, whose records hash the whole cohort.
    cohort_hash: str = ""
    #: The explained cell's row on a leaderboard (its records' ``init``, ``experiment``,
    #: ``arch`` and ``selection``), so that the saliency of a pretrained model and of its
    #: random-init twin stay apart; a bare checkpoint is ``init="file"``, its row unknown.
    init: str = "file"
    experiment: str = ""
    arch: str = ""
    selection: str = "validation"


def find_cell(
    run_dir: Path, model: str, task: str, source: str, fraction: float | None, seed: int | None
) -> Cell:
    """The finished cell of ``model``/``task``/``source`` in ``run_dir`` with a best
    checkpoint; ``fraction``/``seed`` narrow the choice (default: largest fraction, then
    lowest seed)."""
    from bench.api import read_json_object, read_jsonl

    run_dir = Path(run_dir)
    candidates = []
    for records_file in sorted((run_dir / "cells").glob("*/records.jsonl")):
        first = next(read_jsonl(records_file), None)
        if first is None or (first.model, first.task, first.source) != (model, task, source):
            continue
        if fraction is not None and first.fraction != fraction:
            continue
        if seed is not None and first.seed != seed:
            continue
        if (records_file.parent / CHECKPOINT).is_file():
            candidates.append(first)
    if not candidates:
        raise SaliencyError(
            f"{run_dir}: no finished cell for model {model!r}, task {task!r}, source "
            f"{source!r} (fraction {fraction}, seed {seed}) with a {CHECKPOINT} checkpoint "
            "(a cell restored without its checkpoint trains again once its records.jsonl "
            "is deleted)"
        )
    best = min(candidates, key=lambda r: (-r.fraction, r.seed))
    from bench.api import cell_id

    cell = cell_id(best.model, best.task, best.source, best.fraction, best.seed, best.protocol)
    run_json = run_dir / "run.json"
    config = read_json_object(run_json, SaliencyError).get("config") if run_json.is_file() else None
    return Cell(
        run_dir / "cells" / cell / CHECKPOINT,
        run_dir.name,
        best.fraction,
        best.seed,
        best.protocol,
        config,
        best.cohort_hash,
        best.init,
        best.experiment,
        best.arch,
        best.selection,
    )
