"""The training budget behind a table: optimiser steps per cell and the rule that set them.

A cell's steps are those of its last evaluation (``details.history[-1]["step"]``), the rule
its training config (``details.train_config``: ``epochs``, ``max_steps``). Records without
steps (a linear probe fits a logistic regression: no optimiser steps; records of older
harness versions) are left out and named. When two or more fractions reach the step cap, they saw the same number of updates,
and the caption says that a flat curve there is the cap, not a finding.
"""

from __future__ import annotations

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
    for cell in cells:
        for item in cell.records:
            count = record_steps(item.record)
            if count is None:
                probes |= cell.protocol == PROBE
                if cell.protocol != PROBE:
                    without.add(f"{cell.model} ({cell.protocol})")
                continue
            steps[cell.fraction].append(count)
            config = item.record.details.get("train_config") or {}
            training = item.record.details.get("training") or {}
            rules.add(str(training.get("stopping_rule") or _rule(config)))
            cap = config.get("max_steps")
            if cap and count >= cap:
                capped.add(cell.fraction)
    parts = []
    if steps:
        listed = ", ".join(f"{fraction_label(f)}: {span(steps[f])}" for f in sorted(steps))
        parts.append(f"Steps per cell: {listed} ({'; '.join(sorted(rules))}).")
    if len(capped) >= 2:
        parts.append(CAP_WARNING)
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
