"""The board's Findings against the recomputed differences (for
:mod:`bench.leaderboard.verify`): the sentences of ``## Findings`` in ``LEADERBOARD.md``
and ``findings`` in ``leaderboard.json`` must state exactly the recomputed findings.

A recomputed difference of the Findings' metric that is a finding (†) must be printed as a
sentence of its task that names its split and fraction, its direction and its numbers as
the board prints them (the two rows' values, the relative difference, the difference and
its pooled CI, the Holm-adjusted p); a printed finding sentence that no recomputed
finding matches (a number changed, a finding added) fails too. The sentence's wording is
written here again, not imported from :mod:`bench.leaderboard.findings`, so a formatting
or selection bug there cannot verify itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.leaderboard.names import METRIC_NAMES
from bench.leaderboard.verify_files import Recomputed, markdown_section

from bench.api import FAIL, Check

SPLITS = {"internal": "internal test", "external": "external site"}
#: Every finding sentence, and no other line of the Findings, carries this.
FINDING_MARK = "; Holm-adjusted p "


def expected_fragments(
    table: dict[str, Any], diff: dict[str, Any], expected: dict[str, Any]
) -> list[str]:
    """What the finding sentence of one recomputed significant difference must contain."""
    name = METRIC_NAMES.get(table["metric"], table["metric"])
    first, second = expected["reference_value"], expected["value"]
    rel = expected["rel_diff_pct"]
    numbers = f"({name} {first:.2f} vs {second:.2f}, "
    numbers += "" if rel is None else f"{rel:+.1f} %; "
    numbers += (
        f"difference {first - second:+.3f} [{expected['ci_low']:+.3f}, "
        f"{expected['ci_high']:+.3f}], pooled paired 95 % CI"
    )
    return [
        f"{SPLITS.get(table['split'], table['split'])}, {diff['fraction'] * 100:g} % of labels: ",
        f" scores {'higher' if first > second else 'lower'} than ",
        numbers,
        f"{FINDING_MARK}{expected['p_holm']:.3g}).",
    ]


def _printed(text: str) -> dict[str, list[str]]:
    """The finding sentences of each task's subsection of ``## Findings``."""
    out: dict[str, list[str]] = {}
    task = None
    for line in (markdown_section(text, "## Findings") or "").splitlines():
        if line.startswith("### "):
            task = line.removeprefix("### ").strip()
            out[task] = []
        elif task is not None and line.startswith("- ") and FINDING_MARK in line:
            out[task].append(line.removeprefix("- "))
    return out


def compare_findings(path: Path, data: dict[str, Any], recomputed: Recomputed) -> list[Check]:
    """One FAIL per recomputed finding the Markdown does not print, per printed finding no
    recomputed one supports, and per task whose JSON sentences differ from the Markdown's."""
    if not path.is_file():
        return []  # compare_markdown reports the missing file
    metric = (data.get("findings") or {}).get("metric", "auroc")
    printed = _printed(path.read_text(encoding="utf-8"))
    unmatched = {task: list(sentences) for task, sentences in printed.items()}
    out: list[Check] = []
    for table, lines in recomputed:
        if table["metric"] != metric:
            continue
        for diff, expected in zip(table["differences"], lines[len(table["cells"]) :], strict=True):
            if not expected.get("significant"):
                continue
            fragments = expected_fragments(table, diff, expected)
            candidates = unmatched.get(table["task"], [])
            match = next(
                (
                    s
                    for s in candidates
                    if s.startswith(table["task"]) and all(f in s for f in fragments)
                ),
                None,
            )
            if match is None:
                message = (f"recomputed finding not printed: {table['task']}, "
                           f"{''.join(fragments[:1])}{''.join(fragments[2:])}")  # fmt: skip
                out.append(Check(f"{path.name} Findings", "board", FAIL, message))
            else:
                candidates.remove(match)
    for task, sentences in unmatched.items():
        out += [
            Check(f"{path.name} Findings {task}", "board", FAIL,
                  f"printed finding no recomputed difference supports: {s}")
            for s in sentences
        ]  # fmt: skip
    stated = {
        task: [s for s in sentences if FINDING_MARK in s]
        for task, sentences in ((data.get("findings") or {}).get("tasks") or {}).items()
    }
    for task in sorted(stated.keys() | printed.keys()):
        if stated.get(task, []) != printed.get(task, []):
            message = f"{task}: the JSON's finding sentences differ from LEADERBOARD.md's"
            out.append(Check("leaderboard.json findings", "board", FAIL, message))
    return out
