"""The training budget behind a table: optimiser steps per cell, the rule that set them,
and the evaluation each cell kept.

A cell's steps are those of its last evaluation (``details.history[-1]["step"]``), the rule
its training config (``details.train_config``: ``epochs``, ``max_steps``; ``min_steps``
lengthens the budget of a small fraction, and early stopping can still end it sooner,
which the caption says where it happened). Records without steps (a linear probe fits a
logistic regression: no optimiser steps; records of older harness versions) are left out
and named. When two or more fractions reach the step cap, they saw the same number of
updates, and the caption says that a flat curve there is the cap, not a finding.

A cell reports the weights of one evaluation, the best under its selection policy
(:func:`kept_evaluation`). The caption gives that step per fraction and how many seed runs
kept their *first* evaluation: with few labels the validation loss can be lowest before the
model has trained much, and a comparison of such cells compares barely fine-tuned models
(the board's limits say so, :func:`first_kept`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from bench.leaderboard.aggregate import Cell, fraction_label

from bench.api import ResultRecord

PROBE = "linear-probe"
PROBE_NOTE = "Linear-probe rows fit a logistic regression on frozen features: no optimiser steps."
NOT_CONVERGED_MARK = "‡"
CAP_WARNING = (
    "Fractions that reach the cap see the same number of updates: a flat curve there is "
    "the cap, not a finding."
)


def record_steps(record: ResultRecord) -> int | None:
    """Optimiser steps the record's model was trained for, or None (no step history)."""
    history = record.details.get("history") or []
    step = history[-1].get("step") if history and isinstance(history[-1], dict) else None
    return int(step) if isinstance(step, int | float) else None


def kept_evaluation(record: ResultRecord) -> tuple[int, int] | None:
    """(index, optimiser step) of the evaluation whose weights a fine-tuned cell kept: the
    first best of its history under its selection policy and monitor, as the training
    loop keeps it (:func:`bench.api.selection_score`); None without a step history."""
    from bench.api import selection_score

    history = [h for h in record.details.get("history") or []
               if isinstance(h, dict) and isinstance(h.get("step"), int | float)]  # fmt: skip
    if not history:
        return None
    monitor = str((record.details.get("train_config") or {}).get("monitor", "auroc"))
    try:
        scores = [selection_score(record.selection, h, monitor) for h in history]
    except KeyError:  # an entry without the monitored value
        return None
    scores = [-math.inf if math.isnan(v) else v for v in scores]
    index = scores.index(max(scores))
    return index, int(history[index]["step"])


def first_kept(cells: Iterable[Cell]) -> dict[tuple[str, float], tuple[int, int]]:
    """(task, fraction) → (seed runs that kept their first evaluation, fine-tuned seed runs
    with a step history), over the cells' records, each seed run once."""
    runs: dict[tuple[object, ...], tuple[str, float, bool]] = {}  # a seed run, in any table
    for cell in cells:
        for item in cell.records:
            r = item.record
            kept = kept_evaluation(r) if cell.protocol != PROBE else None
            if kept is not None:
                run = (r.identity or r.run_id, r.model, r.task, r.source, r.fraction, r.seed)
                runs[run] = (cell.task, cell.fraction, kept[0] == 0)
    counts: dict[tuple[str, float], list[int]] = defaultdict(lambda: [0, 0])
    for task, fraction, first in runs.values():
        counts[(task, fraction)][0] += first
        counts[(task, fraction)][1] += 1
    return {key: (first, total) for key, (first, total) in sorted(counts.items())}


def span(values: Iterable[int]) -> str:
    """``"60"`` or ``"100–200"`` (min–max); ``""`` when there are none."""
    values = sorted(values)
    if not values:
        return ""
    return str(values[0]) if values[0] == values[-1] else f"{values[0]}–{values[-1]}"


def cell_steps(cell: Cell) -> str:
    """The steps of a cell's seeds as a span (``""`` for a cell without steps)."""
    return span(s for item in cell.records if (s := record_steps(item.record)) is not None)


def _rule(config: dict[str, object]) -> str:
    epochs, cap = config.get("epochs"), config.get("max_steps")
    text = f"{epochs} epochs" if epochs is not None else "epochs not recorded"
    return text + (f", capped at {cap} steps" if cap else ", no step cap")


def budget_caption(cells: Sequence[Cell]) -> str:
    """``Steps per cell: 1 %: 60, 10 %: 100–200 (30 epochs, capped at 200 steps).`` for
    the cells of one table, with the cap warning where two or more fractions reach it."""
    steps: dict[float, list[int]] = defaultdict(list)
    rules: set[str] = set()
    capped: set[float] = set()
    without: set[str] = set()
    probes = False
    early: list[int] = []  # min_steps of the seed runs that early stopping ended sooner
    kept_steps: dict[float, list[int]] = defaultdict(list)
    firsts: dict[float, int] = defaultdict(int)  # seed runs that kept their first evaluation
    for cell in cells:
        for item in cell.records:
            count = record_steps(item.record)
            if count is None:
                probes |= cell.protocol == PROBE
                if cell.protocol != PROBE:
                    without.add(f"{cell.model} ({cell.protocol})")
                continue
            steps[cell.fraction].append(count)
            if (kept := kept_evaluation(item.record)) is not None:
                kept_steps[cell.fraction].append(kept[1])
                firsts[cell.fraction] += kept[0] == 0
            config = item.record.details.get("train_config") or {}
            training = item.record.details.get("training") or {}
            rules.add(str(training.get("stopping_rule") or _rule(config)))
            cap = config.get("max_steps")
            if cap and count >= cap:
                capped.add(cell.fraction)
            floor = config.get("min_steps")
            if isinstance(floor, int) and count < floor:
                early.append(floor)
    parts = []
    if steps:
        listed = ", ".join(f"{fraction_label(f)}: {span(steps[f])}" for f in sorted(steps))
        parts.append(f"Steps per cell: {listed} ({'; '.join(sorted(rules))}).")
    if kept_steps:
        listed = ", ".join(
            f"{fraction_label(f)}: {span(kept_steps[f])}" for f in sorted(kept_steps)
        )
        first = [f"{firsts[f]} of {len(kept_steps[f])} at {fraction_label(f)}"
                 for f in sorted(kept_steps) if firsts[f]]  # fmt: skip
        parts.append(
            f"Step of the evaluation each cell kept: {listed}"
            + (
                f"; seed runs that kept their first evaluation: {', '.join(first)}."
                if first
                else "."
            )
        )
    if len(capped) >= 2:
        parts.append(CAP_WARNING)
    if early:
        parts.append(
            f"The minimum of {span(early)} steps sets the budget's length, not a floor: early "
            f"stopping ended {len(early)} seed run(s) sooner."
        )
    stopped = [c for c in cells if c.converged is False]
    if stopped:
        parts.append(
            f"{NOT_CONVERGED_MARK} marks {len(stopped)} cell(s) the budget ended before "
            "validation stopped improving (not converged): no finding rests on them."
        )
    if probes:
        parts.append(PROBE_NOTE)
    if without:
        parts.append(f"No optimiser steps recorded for {', '.join(sorted(without))}.")
    return " ".join(parts)
