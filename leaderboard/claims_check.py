"""Words that stay true: what the board is (models, fractions, seeds, steps, wall time),
stated once by the board's own JSON (:func:`board_summary`, its ``summary``), and a check
that prose about the board (README, docs) says the same (:func:`check_text`).

Prose can keep its facts true two ways:

- **Generated:** a block between ``<!-- board-facts -->`` and ``<!-- /board-facts -->`` must
  read exactly :func:`facts_markdown` of the board (rewrite it with
  :func:`replace_facts`).
- **Checked:** every sentence that speaks of the board (it names the leaderboard, the
  board or the grid) is scanned for a count of models, a list of label fractions
  (``1/10/25/50/100 %``), a number of optimiser steps (``a few hundred steps``, ``40
  steps``) and a wall time (``64 min``, ``20 h``); each must agree with the summary
  (models: the distinct model names; fractions: the same set; steps: within the cells'
  range; wall time: within 10 %).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.leaderboard.aggregate import Cell
from bench.leaderboard.budget import record_steps

from bench.api import ResultRecord

START, END = "<!-- board-facts -->", "<!-- /board-facts -->"
WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
#: Vague step counts and the ranges they claim.
VAGUE_STEPS = {"a few hundred": (100, 999), "a few thousand": (1000, 9999)}
ABOUT_BOARD = re.compile(r"\b(leaderboard|board|grid)\b", re.IGNORECASE)
NUMBER = r"(\d+|" + "|".join(WORDS) + r")"
MODELS = re.compile(NUMBER + r"\s+(?:[\w-]+\s+){0,2}models\b", re.IGNORECASE)
FRACTIONS = re.compile(r"\b(\d+(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)+)\s*%")
STEPS = re.compile(
    r"(" + "|".join(VAGUE_STEPS) + r"|\d[\d,]*)\s+(?:optimiser\s+|optimizer\s+)?steps\b",
    re.IGNORECASE,
)
WALL = re.compile(r"\b(\d+(?:\.\d+)?)\s*(min|minutes|h|hours)\b")


def cells_by_commit(records: Iterable[ResultRecord]) -> dict[str, int]:
    """How many cells each harness commit (``git_sha``) trained, most first, each cell
    identity once (a record without an identity is its own cell)."""
    by_identity = {r.identity or id(r): r for r in records}
    return dict(Counter(r.git_sha or "unknown" for r in by_identity.values()).most_common())


def board_summary(cells: Sequence[Cell], wall_minutes: float | None = None) -> dict[str, Any]:
    """The board's facts: models, rows, tasks, fractions (%), seeds, optimiser steps per
    cell (min, max), the grid's wall time in minutes (None when not stated), the harness
    commits that trained the grid's cells (cells per ``git_sha``, each cell identity once)
    and their training time summed over the cells in hours (``timings.train_s``). Cells of
    submitted rows are counted apart (``submitted_cells``, ``submitted_commits``): their
    submitters trained them, so neither the grid's commits nor its compute include them."""
    steps = [s for c in cells for i in c.records if (s := record_steps(i.record)) is not None]
    own = [i.record for c in cells for i in c.records if not i.submitted]
    submitted = [i.record for c in cells for i in c.records if i.submitted]
    by_identity = {r.identity or id(r): r for r in own}
    train_s = sum(float(r.timings.get("train_s") or 0.0) for r in by_identity.values())
    submitted_commits = cells_by_commit(submitted)
    return {
        "models": sorted({c.model for c in cells}),
        "rows": len({c.row for c in cells}),
        "tasks": sorted({c.task for c in cells}),
        "fractions_pct": sorted({round(c.fraction * 100, 6) for c in cells}),
        "seeds": sorted({s for c in cells for s in c.seeds}),
        "steps": [min(steps), max(steps)] if steps else None,
        "wall_minutes": wall_minutes,
        "cells": len(by_identity),
        "harness_commits": cells_by_commit(own),
        "train_hours": round(train_s / 3600, 3),
        "submitted_cells": sum(submitted_commits.values()),
        "submitted_commits": submitted_commits,
    }


def _number(text: str) -> float:
    return float(WORDS.get(text.lower(), text.replace(",", "") if text[0].isdigit() else "nan"))


def facts_markdown(summary: dict[str, Any]) -> str:
    """The generated sentence of the board's facts (for the ``board-facts`` block)."""
    fractions = "/".join(f"{f:g}" for f in summary["fractions_pct"])
    steps = summary.get("steps")
    wall = summary.get("wall_minutes")
    parts = [
        f"The board has {len(summary['models'])} models ({', '.join(summary['models'])}) in "
        f"{summary['rows']} rows, on {len(summary['tasks'])} tasks, at {fractions} % of "
        f"labels, with seeds {', '.join(map(str, summary['seeds']))}"
    ]
    if steps:
        parts.append(f"cells trained {steps[0]}–{steps[1]} optimiser steps")
    if wall is not None:
        parts.append(f"the grid took {wall:.0f} min")
    return "; ".join(parts) + "."


def replace_facts(text: str, summary: dict[str, Any]) -> str:
    """``text`` with its ``board-facts`` block rewritten (unchanged when it has none)."""
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    return pattern.sub(f"{START}\n{facts_markdown(summary)}\n{END}", text)


def _sentences(text: str) -> list[tuple[int, str]]:
    """(line number, sentence) of ``text``'s sentences (a sentence keeps its first line)."""
    out = []
    for match in re.finditer(r"[^.!?\s](?:[^.!?\n]|\.\d|\n(?!\n))*[.!?]?", text):
        line = text.count("\n", 0, match.start()) + 1
        out.append((line, " ".join(match.group().split())))
    return out


def _check_sentence(sentence: str, summary: dict[str, Any]) -> list[str]:
    problems = []
    n_models = len(summary["models"])
    for m in MODELS.finditer(sentence):
        if _number(m.group(1)) != n_models:
            problems.append(f"says {m.group()!r}; the board has {n_models} models")
    board_fractions = {float(f) for f in summary["fractions_pct"]}
    for m in FRACTIONS.finditer(sentence):
        said = {float(x) for x in re.split(r"\s*/\s*", m.group(1))}
        if said != board_fractions:
            listed = "/".join(f"{f:g}" for f in sorted(board_fractions))
            problems.append(f"says {m.group()!r}; the board has {listed} %")
    steps = summary.get("steps")
    for m in STEPS.finditer(sentence):
        low, high = VAGUE_STEPS.get(m.group(1).lower(), (_number(m.group(1)),) * 2)
        if steps is None or high < steps[0] or low > steps[1]:
            got = "no step counts" if steps is None else f"{steps[0]}–{steps[1]} steps per cell"
            problems.append(f"says {m.group()!r}; the board has {got}")
    wall = summary.get("wall_minutes")
    for m in WALL.finditer(sentence):
        minutes = float(m.group(1)) * (60 if m.group(2).startswith("h") else 1)
        if wall is None or abs(minutes - wall) > 0.1 * wall:
            problems.append(f"says {m.group()!r}; the board's wall time is {wall} min")
    return problems


def check_text(text: str, summary: dict[str, Any], name: str = "text") -> list[str]:
    """Every disagreement between ``text``'s statements about the board and ``summary``,
    as ``"NAME line N: …"`` (empty when all agree)."""
    problems = []
    block = re.search(re.escape(START) + r"\n?(.*?)\n?" + re.escape(END), text, re.DOTALL)
    if block and block.group(1).strip() != facts_markdown(summary):
        line = text.count("\n", 0, block.start()) + 1
        problems.append(f"{name} line {line}: the board-facts block is stale")
    outside = text if block is None else text[: block.start()] + text[block.end() :]
    for line, sentence in _sentences(outside):
        if ABOUT_BOARD.search(sentence):
            problems += [f"{name} line {line}: {p}" for p in _check_sentence(sentence, summary)]
    return problems


def check_files(board_json: Path, texts: Sequence[Path]) -> list[str]:
    """:func:`check_text` of each file against the ``summary`` of the board's JSON."""
    data = json.loads(board_json.read_text(encoding="utf-8"))
    if not isinstance(data.get("summary"), dict):
        raise ValueError(f"{board_json}: no 'summary' object (regenerate the board)")
    return [p for path in texts for p in check_text(path.read_text(), data["summary"], str(path))]
