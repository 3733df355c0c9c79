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

The comparisons that are not findings are listed per task in four sentences ("Significant
on a single seed only", "… the seeds disagree in direction", "No significant difference",
"Not tested"); each must list exactly the places (split, source where a task has several,
fraction) of the recomputed comparisons of its kind: untested; else its pooled CI holding
zero or its Holm-adjusted p at 0.05 or above; else one seed; else disagreeing seeds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bench.leaderboard.names import METRIC_NAMES
from bench.leaderboard.reference_stats import ALPHA
from bench.leaderboard.verify_files import Recomputed, markdown_section

from bench.api import FAIL, Check

SPLITS = {"internal": "internal test", "external": "external site"}
#: Every finding sentence, and no other line of the Findings, carries this.
FINDING_MARK = "; Holm-adjusted p "
#: The sentence that lists each kind of comparison that is not a finding, by its start.
LISTS = {
    "one seed": "Significant on a single seed only",
    "disagree": "Pooled CI and Holm's correction pass but the seeds disagree",
    "no": "No significant difference: ",
    "untested": "Not tested (see the table notes): ",
}
PLACE = re.compile(r"(?:internal test|external site)(?: \([^()]*\))? \d+(?:\.\d+)? %")


def _kind(expected: dict[str, Any]) -> str | None:
    """Which list a recomputed comparison that is not a finding belongs to (None: it is)."""
    if expected.get("significant"):
        return None
    if expected.get("p_value") is None:
        return "untested"
    low, high = expected.get("ci_low"), expected.get("ci_high")
    if low is None or high is None or not (low > 0 or high < 0) or expected["p_holm"] >= ALPHA:
        return "no"
    return "one seed" if expected.get("seeds_agree") is None else "disagree"


def compare_lists(path: Path, text: str, metric: str, recomputed: Recomputed) -> list[Check]:
    """One FAIL per list sentence whose places differ from the recomputed comparisons'."""
    chosen = [(t, d, e) for t, lines in recomputed if t["metric"] == metric
              for d, e in zip(t["differences"], lines[len(t["cells"]) :], strict=True)]  # fmt: skip
    sources: dict[str, set[str]] = {}
    for table, _, _ in chosen:
        sources.setdefault(table["task"], set()).add(table["source"])
    expected: dict[tuple[str, str], list[str]] = {}
    for table, diff, numbers in chosen:
        if numbers and (kind := _kind(numbers)) is not None:
            source = f" ({table['source']})" if len(sources[table["task"]]) > 1 else ""
            place = (
                f"{SPLITS.get(table['split'], table['split'])}{source} {diff['fraction'] * 100:g} %"
            )
            expected.setdefault((table["task"], kind), []).append(place)
    printed: dict[tuple[str, str], list[str]] = {}
    for task, sentences in _sentences(text).items():
        for kind, start in LISTS.items():
            for sentence in (x for x in sentences if x.startswith(start)):
                printed.setdefault((task, kind), []).extend(PLACE.findall(sentence))
    out = []
    for task, kind in sorted(expected.keys() | printed.keys()):
        want, got = sorted(expected.get((task, kind), [])), sorted(printed.get((task, kind), []))
        if want != got:
            message = f"{task}: {LISTS[kind].rstrip(': ')!r} lists {got}, recomputed {want}"
            out.append(Check(f"{path.name} Findings", "board", FAIL, message))
    return out


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


def _sentences(text: str) -> dict[str, list[str]]:
    """The sentences of each task's subsection of ``## Findings``."""
    out: dict[str, list[str]] = {}
    task = None
    for line in (markdown_section(text, "## Findings") or "").splitlines():
        if line.startswith("### "):
            task = line.removeprefix("### ").strip()
            out[task] = []
        elif task is not None and line.startswith("- "):
            out[task].append(line.removeprefix("- "))
    return out


def _printed(text: str) -> dict[str, list[str]]:
    """The finding sentences of each task's subsection of ``## Findings``."""
    return {
        task: [x for x in lines if FINDING_MARK in x] for task, lines in _sentences(text).items()
    }


def compare_findings(path: Path, data: dict[str, Any], recomputed: Recomputed) -> list[Check]:
    """One FAIL per recomputed finding the Markdown does not print, per printed finding no
    recomputed one supports, and per task whose JSON sentences differ from the Markdown's."""
    if not path.is_file():
        return []  # compare_markdown reports the missing file
    metric = (data.get("findings") or {}).get("metric", "auroc")
    text = path.read_text(encoding="utf-8")
    printed = _printed(text)
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
    stated = (data.get("findings") or {}).get("tasks") or {}
    everything = _sentences(text)
    for task in sorted(stated.keys() | everything.keys()):
        if stated.get(task, []) != everything.get(task, []):
            message = f"{task}: the JSON's Findings sentences differ from LEADERBOARD.md's"
            out.append(Check("leaderboard.json findings", "board", FAIL, message))
    return out + compare_lists(path, text, metric, recomputed)
