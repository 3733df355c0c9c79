"""``bench verify``'s recomputation of the numbers the board states about training budgets,
from the bundles' records, without the board's budget code (:mod:`bench.leaderboard.budget`).

- **Table captions:** optimiser steps per cell at each fraction (the step of a record's
  last evaluation) with the stopping rules the records name, the step of the evaluation
  each cell kept (the first best of its history under the record's selection policy and
  monitor, as the training loop keeps it), how many seed runs kept their first evaluation,
  the step cap's warning, the seed runs early stopping ended before the minimum number of
  steps, the cells marked not converged (‡), the linear-probe note and the small-sample
  size. The caption is generated again and must read exactly so, in the JSON and in the
  table's section of the Markdown.
- **Known limits** that count records: "First evaluation kept at …" (tasks where at least
  half of the fine-tuned seed runs kept their first evaluation, each seed run once) and
  "Small test sets". A missing or an extra such line fails.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.leaderboard.verify_files import markdown_section, table_heading

from bench.api import FAIL, NOT_DERIVABLE, PASS, Check, ResultRecord

RecordsOf = Callable[[dict[str, Any], dict[str, Any]], list[ResultRecord]]
PROBE = "linear-probe"
SMALL = 100  # test sets below this many ECGs carry the small-sample caption
FIRST_LIMIT, SMALL_LIMIT = "First evaluation kept at ", "Small test sets "


def _pct(fraction: float) -> str:
    return f"{fraction * 100:g} %"


def _range(values: Iterable[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}–{high}"


def _evaluations(record: ResultRecord) -> list[dict[str, Any]]:
    history = record.details.get("history") or []
    return [h for h in history if isinstance(h, dict) and isinstance(h.get("step"), int | float)]


def _score(record: ResultRecord, entry: dict[str, Any]) -> float:
    """What the training loop maximised for one evaluation: the step (``last``), the
    internal AUROC (``test``), else minus the validation loss under the loss monitor or
    without a validation AUROC, the validation AUROC otherwise."""
    if record.selection == "last":
        return float(entry["step"])
    if record.selection == "test":
        value = entry.get("internal_auroc", -entry["internal_loss"])
    else:
        monitor = (record.details.get("train_config") or {}).get("monitor", "auroc")
        value = entry.get("validation_auroc", math.nan)
        if monitor == "loss" or math.isnan(value):
            value = -entry["validation_loss"]
    return -math.inf if math.isnan(value) else value


def _kept(record: ResultRecord) -> tuple[bool, int] | None:
    """(kept its first evaluation, step of the kept one) of a fine-tuned record."""
    entries = _evaluations(record)
    if record.protocol == PROBE or not entries:
        return None
    scores = [_score(record, e) for e in entries]
    best = next(i for i, s in enumerate(scores) if s == max(scores))
    return best == 0, int(entries[best]["step"])


def expected_caption(cells: list[tuple[dict[str, Any], list[ResultRecord]]]) -> str | None:
    """The caption of one table's (published cell, its records), or None when a record
    with steps names no stopping rule (records of older harness versions)."""
    steps: dict[float, list[int]] = defaultdict(list)
    kept: dict[float, list[int]] = defaultdict(list)  # the step each seed run kept
    firsts: dict[float, int] = defaultdict(int)  # seed runs that kept their first evaluation
    early: list[int] = []  # min_steps of the seed runs early stopping ended sooner
    rules: set[str] = set()
    capped: set[float] = set()
    unrecorded: set[str] = set()
    probes = False
    for cell, records in cells:
        for record in records:
            entries = _evaluations(record)
            if not entries:
                probes |= record.protocol == PROBE
                if record.protocol != PROBE:
                    unrecorded.add(f"{cell['model']} ({cell['protocol']})")
                continue
            count, fraction = int(entries[-1]["step"]), cell["fraction"]
            steps[fraction].append(count)
            if (got := _kept(record)) is not None:
                firsts[fraction] += got[0]
                kept[fraction].append(got[1])
            config = record.details.get("train_config") or {}
            rule = (record.details.get("training") or {}).get("stopping_rule")
            if rule is None:
                return None
            rules.add(str(rule))
            if config.get("max_steps") and count >= config["max_steps"]:
                capped.add(fraction)
            if isinstance(config.get("min_steps"), int) and count < config["min_steps"]:
                early.append(config["min_steps"])
    sentences = []
    if steps:
        spans = ", ".join(f"{_pct(f)}: {_range(steps[f])}" for f in sorted(steps))
        sentences.append(f"Steps per cell: {spans} ({'; '.join(sorted(rules))}).")
    if kept:
        spans = ", ".join(f"{_pct(f)}: {_range(kept[f])}" for f in sorted(kept))
        first = [f"{firsts[f]} of {len(kept[f])} at {_pct(f)}" for f in sorted(kept) if firsts[f]]
        tail = f"; seed runs that kept their first evaluation: {', '.join(first)}" if first else ""
        sentences.append(f"Step of the evaluation each cell kept: {spans}{tail}.")
    if len(capped) > 1:
        sentences.append("Fractions that reach the cap see the same number of updates: a flat "
                         "curve there is the cap, not a finding.")  # fmt: skip
    if early:
        sentences.append(f"The minimum of {_range(early)} steps sets the budget's length, not a "
                         f"floor: early stopping ended {len(early)} seed run(s) sooner.")  # fmt: skip
    stopped = sum(any(r.converged is False for r in records) for _, records in cells)
    if stopped:
        sentences.append(f"‡ marks {stopped} cell(s) the budget ended before validation stopped "
                         "improving (not converged): no finding rests on them.")  # fmt: skip
    if probes:
        sentences.append("Linear-probe rows fit a logistic regression on frozen features: no "
                         "optimiser steps.")  # fmt: skip
    if unrecorded:
        sentences.append(f"No optimiser steps recorded for {', '.join(sorted(unrecorded))}.")
    sizes = sorted({records[0].n for _, records in cells if records and 0 < records[0].n < SMALL})
    if sizes:
        sentences.append(f"Small sample: {_range(sizes)} test ECGs. Intervals are wide and "
                         "differences are hard to detect; the percentile bootstrap of a skewed "
                         "statistic (AUPRC of labels with few positives) can lie beside its own "
                         "point estimate, and each seed's interval is checked against the "
                         "seed's value (◊).")  # fmt: skip
    return " ".join(sentences)


def _limit_counts(runs: dict[tuple[Any, ...], tuple[str, float, bool]]) -> list[str]:
    """The count lines of the known limits, as the board prints their counting part."""
    counts: dict[tuple[float, str], list[int]] = defaultdict(lambda: [0, 0])
    for task, fraction, kept_first in runs.values():
        counts[(fraction, task)][0] += kept_first
        counts[(fraction, task)][1] += 1
    by_fraction: dict[float, list[str]] = defaultdict(list)
    for (fraction, task), (firsts, total) in sorted(counts.items()):
        if 2 * firsts >= total:
            by_fraction[fraction].append(f"{task} {firsts} of {total}")
    return [f"{FIRST_LIMIT}{_pct(f)}: {' and '.join(v)} fine-tuned seed runs kept the weights"
            for f, v in sorted(by_fraction.items())]  # fmt: skip


def _limit_checks(
    markdown: Path, text: str, data: dict[str, Any], expected: list[str]
) -> list[Check]:
    """A FAIL per counting limit line that is missing, extra or not printed."""
    out = []
    published = [x for x in data.get("limits", []) if x.startswith((FIRST_LIMIT, SMALL_LIMIT))]
    matched = [next((p for p in published if p.startswith(e)), None) for e in expected]
    for line, match in zip(expected, matched, strict=True):
        if match is None:
            out.append(Check("leaderboard.json limits", "limits", FAIL, f"missing {line!r}…"))
    for line in published:
        if line not in matched:
            message = f"not recomputed: {line!r}"
            out.append(Check("leaderboard.json limits", "limits", FAIL, message))
        elif f"- {line}" not in text:
            out.append(Check(f"{markdown.name} limits", "limits", FAIL, f"not printed: {line!r}"))
    return out


def verify_budget(markdown: Path, data: dict[str, Any], records_of: RecordsOf) -> list[Check]:
    """One FAIL per table whose caption differs from the recomputed one (JSON or Markdown)
    and per counting limit line that is missing, extra or different; PASS when all agree."""
    text = markdown.read_text(encoding="utf-8") if markdown.is_file() else ""
    out: list[Check] = []
    runs: dict[tuple[Any, ...], tuple[str, float, bool]] = {}  # each seed run once
    small: set[str] = set()
    for table in data.get("tables", []):
        cells = [(cell, records_of(table, cell)) for cell in table["cells"]]
        where = table_heading(table).removeprefix("### ")
        expected = expected_caption(cells)
        if expected is None:
            out.append(Check(where, "caption", NOT_DERIVABLE, "a record names no stopping rule"))
        elif table.get("caption", "") != expected:
            printed, derived = table.get("caption", "").split(". "), expected.split(". ")
            message = (f"printed {[x for x in printed if x not in derived]}, recomputed "
                       f"{[x for x in derived if x not in printed]}")  # fmt: skip
            out.append(Check(f"leaderboard.json {where}", "caption", FAIL, message))
        elif expected and f"_{expected}_" not in (
            markdown_section(text, table_heading(table)) or ""
        ):
            out.append(Check(f"{markdown.name} {where}", "caption", FAIL, "caption not printed"))
        for cell, records in cells:
            for r in records:
                if (kept := _kept(r)) is not None:
                    run = (r.identity or r.run_id, r.model, r.task, r.source, r.fraction, r.seed)
                    runs[run] = (table["task"], cell["fraction"], kept[0])
            small |= {table["task"] for r in records[:1] if 0 < r.n < SMALL}
    limits = _limit_counts(runs)
    if small:
        limits.append(f"{SMALL_LIMIT}(< {SMALL} ECGs): {', '.join(sorted(small))}.")
    out += _limit_checks(markdown, text, data, limits)
    if not any(c.status == FAIL for c in out):
        message = f"{len(data.get('tables', []))} captions and the limits' counts agree"
        out.append(Check("leaderboard.json", "captions", PASS, message))
    return out
