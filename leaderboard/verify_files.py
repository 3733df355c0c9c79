"""Diffs of recomputed board numbers against the published files (for
:mod:`bench.leaderboard.verify`): one ``[FAIL]`` line per differing field, naming the
file, the row, the field and the published vs the recomputed value.

- ``leaderboard.json``: every number within :data:`TOLERANCE` (relative to the value's
  size); booleans, seeds and flagged seeds exactly.
- ``leaderboard.csv``: the same numbers at the CSV's printed precision (6 significant
  digits, :data:`CSV_TOLERANCE`), line by line in the JSON's order.
- ``LEADERBOARD.md``: each table's cells as printed (``mean ±sd [low–high]`` at two
  decimals) must appear in that table's section.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.leaderboard.names import METRIC_NAMES

from bench.api import FAIL, Check

#: The board's JSON file, which every check of the verifier names.
BOARD_JSON = "leaderboard.json"
TOLERANCE = 1e-9
CSV_TOLERANCE = 1e-5  # the CSV prints 6 significant digits
#: Absolute slack for values that should be 0 (float rounding of a difference).
ABS_FLOOR = 1e-12
Recomputed = Sequence[tuple[dict[str, Any], list[dict[str, Any]]]]


def _number_differs(published: Any, expected: Any, tolerance: float) -> bool:
    if published is None or expected is None:
        return (published is None) != (expected is None)
    a, b = float(published), float(expected)
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return str(a) != str(b)
    return abs(a - b) > tolerance * abs(b) + ABS_FLOOR


def _differs(published: Any, expected: Any, tolerance: float) -> bool:
    if isinstance(expected, bool) or isinstance(published, bool):
        return published is not expected
    if isinstance(expected, dict):
        return (
            not isinstance(published, dict)
            or set(published) != set(expected)
            or any(_differs(published[k], v, tolerance) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            not isinstance(published, list)
            or len(published) != len(expected)
            or any(_differs(p, e, tolerance) for p, e in zip(published, expected, strict=True))
        )
    if isinstance(expected, int) and isinstance(published, int):
        return published != expected
    if isinstance(published, str) or isinstance(expected, str):
        return published != expected
    return _number_differs(published, expected, tolerance)


def differ(
    file: str, row: str, published: dict[str, Any], expected: dict[str, Any],
    tolerance: float = TOLERANCE,
) -> list[Check]:  # fmt: skip
    """One FAIL check per field of ``expected`` that ``published`` states otherwise."""
    return [
        Check(f"{file} {row}", "board", FAIL,
              f"{field}: published {published.get(field)!r} vs recomputed {value!r}")
        for field, value in expected.items()
        if _differs(published.get(field), value, tolerance)
    ]  # fmt: skip


def _csv_value(field: str, text: str) -> Any:
    """A CSV cell read back into the JSON's form of ``field``."""
    if field in ("significant", "seeds_agree", "identical_seeds"):
        return {"True": True, "False": False}.get(text)
    if field in ("seeds", "seeds_tested"):
        return [int(s) for s in text.split()]
    if field == "seed_values":
        return {k: float(v) for k, v in (pair.split(":") for pair in text.split())}
    if field == "seed_diffs":
        return [float(v) for v in text.split()]
    if field == "interval_flags":
        return [int(t.split(":")[0].removeprefix("seed ")) for t in text.split("; ") if t]
    if field in ("n", "n_positive"):
        return int(text) if text else None
    return float(text) if text else None


def compare_csv(path: Path, recomputed: Recomputed) -> list[Check]:
    """Diff ``leaderboard.csv`` line by line against the recomputed tables."""
    if not path.is_file():
        return [Check(path.name, "board", FAIL, "missing")]
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    out: list[Check] = []
    index = 0
    for table, lines in recomputed:
        for item, expected in zip([*table["cells"], *table["differences"]], lines, strict=True):
            line = f"line {index + 2}"
            if index >= len(rows):
                return [*out, Check(path.name, "board", FAIL, f"ends before {line}")]
            row = rows[index]
            index += 1
            identity = (
                row["task"],
                row["metric"],
                row["model"],
                row["init"],
                float(row["fraction"]),
            )
            wanted = (table["task"], table["metric"], item["model"], item["init"], item["fraction"])
            if identity != wanted:
                out.append(Check(f"{path.name} {line}", "board", FAIL,
                                 f"row {identity} where the JSON has {wanted}"))  # fmt: skip
                continue
            published = {f: _csv_value(f, row.get(f, "")) for f in expected if f in row}
            shown = {f: v for f, v in expected.items() if f in row}
            out += differ(path.name, f"{line} ({item['model']} {item['fraction']:g})",
                          published, shown, CSV_TOLERANCE)  # fmt: skip
    if index != len(rows):
        out.append(Check(path.name, "board", FAIL, f"{len(rows) - index} line(s) the JSON lacks"))
    return out


def cell_text(expected: dict[str, Any]) -> str:
    """A cell as the Markdown table prints it, without its marks."""
    text = f"{expected['mean']:.2f}"
    if len(expected["seeds"]) > 1:
        text += f" ±{expected['std']:.2f}"
    if expected["ci_low"] is not None and expected["ci_high"] is not None:
        text += f" [{expected['ci_low']:.2f}–{expected['ci_high']:.2f}]"
    return text


def markdown_section(text: str, heading: str) -> str | None:
    """The lines of Markdown ``text`` from the line ``heading`` (e.g. ``"## Findings"``) up
    to the next heading of its level or a higher one; None when no line is ``heading``."""
    level = len(heading) - len(heading.lstrip("#"))
    text = "\n" + text
    start = text.find(f"\n{heading}\n")
    if start < 0:
        return None
    end = re.compile(rf"\n#{{1,{level}}} ").search(text, start + 1)
    return text[start + 1 : end.start() if end else len(text)]


def table_heading(table: dict[str, Any]) -> str:
    """The Markdown heading of a published table (``### task · source · split · metric``)."""
    metric = METRIC_NAMES.get(table["metric"], table["metric"])
    return f"### {table['task']} · {table['source']} · {table['split']} · {metric}"


def compare_markdown(path: Path, recomputed: Recomputed) -> list[Check]:
    """Every recomputed cell, as printed, in its table's section of ``LEADERBOARD.md``."""
    if not path.is_file():
        return [Check(path.name, "board", FAIL, "missing")]
    text = path.read_text(encoding="utf-8")
    out = []
    for table, lines in recomputed:
        heading = table_heading(table)
        section = markdown_section(text, heading)
        if section is None:
            out.append(Check(path.name, "board", FAIL, f"no section {heading!r}"))
            continue
        for cell, expected in zip(table["cells"], lines, strict=False):
            if expected and cell_text(expected) not in section:
                where = f"{heading.removeprefix('### ')}: {cell['model']} ({cell['init']}) {cell['fraction']:g}"
                message = f"cell: recomputed {cell_text(expected)!r} is not printed in its table"
                out.append(Check(f"{path.name} {where}", "board", FAIL, message))
    return out
