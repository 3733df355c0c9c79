"""The "Does the paper hold here?" section against the recomputed board (for
:mod:`bench.leaderboard.verify`): every line of every claim is generated again here from
the recomputed numbers and the definitions in docs/leaderboard.md, not imported from
:mod:`bench.leaderboard.paper_claims`, and each claim's printed lines and verdict must be
the generated ones.

- **Claims 1 and 2** (HeartBEiT MIM against random init; against each baseline, ImageNet
  where the board has ImageNet rows): per table of the Findings' metric, the paired
  comparison at the smallest fraction both rows have, as the tables publish it (values,
  difference, pooled CI, seeds, Holm-adjusted p); "significant" only for a recomputed
  finding, in its direction.
- **Claim 3** (the gap narrows toward 100 %): per table and baseline with both rows at the
  smallest fraction and at 100 %, ``(h_low − b_low) − (h_high − b_high)`` recomputed from
  the four cells' seeds on the board's resamples (the point is the mean of the seeds' own;
  pooled percentile CI; ``p = 2 Φ(−|d| / s)``; Holm across the claim), then its outcome.
- **Claim 4** (saliency): each of the board's ``saliency_differences`` (recomputed by
  :mod:`bench.leaderboard.verify_saliency`), counted and tested as
  :mod:`bench.leaderboard.verify_claim_lines` describes.
- **Verdicts:** holds when at least half the tested lines are significant in the paper's
  direction and none against it; does not hold when some are against it and none for it;
  inconclusive otherwise; not testable here when no line was tested, and for claims 2 and
  3 when no baseline row has ImageNet weights.

A comparison no table publishes, or whose cells are not re-derivable, is reported as not
re-derivable, and so is its claim's verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from bench.leaderboard.names import IMAGENET_BASELINES, METRIC_NAMES
from bench.leaderboard.reference_stats import ALPHA, SeedResample, holm_adjusted, normal_p
from bench.leaderboard.verify_claim_lines import (
    CON,
    PRO,
    UNTESTABLE,
    Line,
    agree,
    excludes_zero,
    saliency_lines,
    verdict,
)
from bench.leaderboard.verify_files import Recomputed, markdown_section
from bench.leaderboard.verify_findings import SPLITS

from bench.api import FAIL, NOT_DERIVABLE, PASS, Check, percentile_interval

HEARTBEIT = "heartbeit"
SECTION = "## Does the paper hold here?"
#: The seeds of one recomputed cell (table, cell) on the board's resamples; None when not
#: re-derivable.
SeedsOf = Callable[[dict[str, Any], dict[str, Any]], "list[SeedResample] | None"]


class _Board:
    """The recomputed board as the claims read it."""

    def __init__(self, data: dict[str, Any], recomputed: Recomputed, seeds_of: SeedsOf):
        self.metric = (data.get("findings") or {}).get("metric", "auroc")
        self.tables = [(t, lines) for t, lines in recomputed if t["metric"] == self.metric]
        self.seeds_of = seeds_of
        self.imagenet = {c["model"] for t, _ in recomputed for c in t["cells"]
                         if c["model"] in IMAGENET_BASELINES and c["init"] == "imagenet"}  # fmt: skip
        self.not_derivable: list[str] = []

    @staticmethod
    def row(table: dict[str, Any], model: str, pretrained: bool) -> tuple[Any, ...] | None:
        """The fine-tuned row of ``model`` in ``table`` (pretrained or random init)."""
        rows = sorted(
            (c["model"], c["init"], c["selection"], c["arch"], c["protocol"])
            for c in table["cells"]
            if c["model"] == model and c["protocol"] == "finetune"
            and (c["init"] != "random") == pretrained
        )  # fmt: skip
        return rows[0] if rows else None

    @staticmethod
    def grid(table: dict[str, Any], lines: list[dict[str, Any]]) -> dict[tuple[Any, ...], Any]:
        """(row, fraction) → (cell, recomputed numbers)."""
        keys = ("model", "init", "selection", "arch", "protocol")
        return {
            (tuple(c[k] for k in keys), c["fraction"]): (c, e)
            for c, e in zip(table["cells"], lines, strict=False)
        }

    def baselines(self) -> list[tuple[str, bool]]:
        """Each baseline, pretrained (ImageNet) where the board has its ImageNet rows."""
        return [(b, b in self.imagenet) for b in IMAGENET_BASELINES]

    def lowest_pairs(self, seconds: Sequence[tuple[str, bool]]) -> list[Line]:
        """Claims 1 and 2: HeartBEiT MIM against each of ``seconds`` at the lowest fraction."""
        out = []
        for table, lines in self.tables:
            grid = self.grid(table, lines)
            first = self.row(table, HEARTBEIT, True)
            for model, pretrained in seconds:
                second = self.row(table, model, pretrained)
                common = sorted(f for r, f in grid if r == first and (second, f) in grid)
                if first is not None and second is not None and common:
                    out.append(self._comparison(table, lines, grid[(first, common[0])][0],
                                                grid[(second, common[0])][0]))  # fmt: skip
        return out

    def _comparison(self, table: dict[str, Any], lines: list[dict[str, Any]],
                    a: dict[str, Any], b: dict[str, Any]) -> Line:  # fmt: skip
        diffs = zip(table["differences"], lines[len(table["cells"]) :], strict=True)
        found = [
            e for d, e in diffs
            if d["fraction"] == a["fraction"]
            and (d["reference"], d["reference_init"], d["reference_protocol"])
            == (a["model"], a["init"], a["protocol"])
            and (d["model"], d["init"], d["protocol"], d["arch"])
            == (b["model"], b["init"], b["protocol"], b["arch"])
        ]  # fmt: skip
        where = f"{self.place(table)}, {a['fraction'] * 100:g} %"
        if len(found) != 1 or not found[0]:
            why = "its cells are not re-derivable" if found else "no table compares them"
            return self.unknown(f"{where}: {a['model']}", f" vs {b['model']}", why=why)
        e = found[0]
        first, second = e["reference_value"], e["value"]
        name = METRIC_NAMES.get(self.metric, self.metric)
        parts = (f"{where}: {a['model']}", f" {first:.3f} vs {b['model']}",
                 f" {second:.3f} ({name}); difference {first - second:+.3f}")  # fmt: skip
        if "p_holm" not in e:
            return Line(parts, "; not tested", None, prefix=True)
        stats = (f" [{e['ci_low']:+.3f}, {e['ci_high']:+.3f}] (pooled paired 95 % CI, seeds "
                 f"{len(e['seeds_tested'])}, Holm p {e['p_holm']:.3g})")  # fmt: skip
        parts = (*parts[:2], parts[2] + stats)
        if not e["significant"]:
            return Line(parts, None, 0)
        return Line(parts, f": {PRO}", 1) if first > second else Line(parts, f": {CON}", -1)

    def unknown(self, *parts: str, why: str) -> Line:
        """A line whose numbers cannot be recomputed: it matches the printed line of its
        place and rows whatever it says, and its claim's verdict is not recomputed."""
        self.not_derivable.append(f"{''.join(parts)}: {why}")
        return Line(parts, "", None, prefix=True, derivable=False)

    @staticmethod
    def place(table: dict[str, Any]) -> str:
        return f"{table['task']}, {SPLITS.get(table['split'], table['split'])}"

    def gaps(self) -> list[Line]:
        """Claim 3's lines."""
        found = []
        for table, lines in self.tables:
            grid = self.grid(table, lines)
            h = self.row(table, HEARTBEIT, True)
            for model, pretrained in self.baselines():
                b = self.row(table, model, pretrained)
                fractions = sorted(f for r, f in grid if r == h and (b, f) in grid)
                if h is None or b is None or len(fractions) < 2 or fractions[-1] != 1.0:
                    continue
                quad = [grid[(r, f)] for f in (fractions[0], 1.0) for r in (h, b)]
                found.append((table, quad))
        gaps = [self._gap(table, quad) for table, quad in found]
        tested = [g for g in gaps if isinstance(g, _Gap)]
        adjusted = dict(zip(map(id, tested), holm_adjusted([g.p for g in tested]), strict=True))
        return [g.line(adjusted[id(g)]) if isinstance(g, _Gap) else g for g in gaps]

    def _gap(
        self, table: dict[str, Any], quad: list[tuple[dict[str, Any], dict[str, Any]]]
    ) -> Line | _Gap:
        (h_low, e_hl), (b_low, e_bl), (_, e_hh), (_, e_bh) = quad
        if not all((e_hl, e_bl, e_hh, e_bh)):
            where = f"{self.place(table)}: {h_low['model']}"
            return self.unknown(where, f" − {b_low['model']}", why="its cells are not re-derivable")
        gap_low, gap_high = e_hl["mean"] - e_bl["mean"], e_hh["mean"] - e_bh["mean"]
        parts = (
            f"{self.place(table)}: {h_low['model']}",
            f" − {b_low['model']}",
            f" {gap_low:+.3f} at {h_low['fraction'] * 100:g} %, {gap_high:+.3f} at 100 % "
            f"({METRIC_NAMES.get(self.metric, self.metric)}); low minus 100 % "
            f"{gap_low - gap_high:+.3f}",
        )
        untested = Line(parts, "; not tested", None, prefix=True)
        seeds = [self.seeds_of(table, cell) for cell, _ in quad]
        if any(s is None for s in seeds):
            return untested
        by_seed = [{s.seed: s for s in cell_seeds or []} for cell_seeds in seeds]
        common = sorted(set.intersection(*(set(x) for x in by_seed)))
        points, pooled, behind = [], [], []
        for seed in common:
            a, b, c, d = (x[seed] for x in by_seed)
            if not all(a.record_ids == y.record_ids for y in (b, c, d)):
                return untested
            points.append((a.point - b.point) - (c.point - d.point))
            pooled.append((a.values - b.values) - (c.values - d.values))
            behind.append(c.values - d.values)
        if not points:
            return untested
        return _Gap(parts, points, np.concatenate(pooled), np.concatenate(behind), gap_low,
                    gap_high, f"{h_low['fraction'] * 100:g} %")  # fmt: skip


@dataclass(frozen=True)
class _Gap:
    """A difference of differences before the claim's Holm correction."""

    parts: tuple[str, ...]
    points: list[float]
    pooled: np.ndarray
    behind: np.ndarray
    gap_low: float
    gap_high: float
    low: str

    @property
    def p(self) -> float:
        """Its two-sided p-value before Holm."""
        finite = self.pooled[np.isfinite(self.pooled)]
        sd = float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0
        return normal_p(float(np.mean(self.points)), sd)

    def line(self, p_holm: float) -> Line:
        """Its line given its Holm-adjusted p-value."""
        low, high = percentile_interval(self.pooled[np.isfinite(self.pooled)])
        point = float(np.mean(self.points))
        parts = (*self.parts[:-1], f"{self.parts[-1]} [{low:+.3f}, {high:+.3f}] (pooled paired "
                 f"95 % CI of the difference of differences, seeds {len(self.points)}, Holm p "
                 f"{p_holm:.3g})")  # fmt: skip
        significant = excludes_zero(low, high) and agree(self.points) and p_holm < ALPHA
        if math.isnan(low) or not significant:
            return Line(parts, ": no significant narrowing or widening", 0)
        if self.gap_low <= 0:
            moves = "falls further behind" if point > 0 else "gains"
            return Line(
                parts, f": HeartBEiT does not lead at {self.low}; it {moves} toward 100 %", 0
            )
        if point < 0:
            return Line(parts, ": widens", -1)
        behind = percentile_interval(self.behind[np.isfinite(self.behind)])[1]
        if behind < 0 and abs(self.gap_high) > self.gap_low:
            return Line(parts, ": reverses, not narrows", 0, prefix=True)
        return Line(parts, ": narrows", 1)


def compare_claims(
    path: Path, data: dict[str, Any], recomputed: Recomputed, seeds_of: SeedsOf
) -> list[Check]:
    """One FAIL per claim line the recomputation does not give, per recomputed line not
    printed, per verdict that differs and per JSON line the Markdown does not print; a
    comparison no table publishes is reported as not re-derivable."""
    board = _Board(data, recomputed, seeds_of)
    expected = [
        (board.lowest_pairs([(HEARTBEIT, False)]), False),
        (board.lowest_pairs(board.baselines()), not board.imagenet),
        (board.gaps(), not board.imagenet),
        (saliency_lines(data), False),
    ]
    published = data.get("paper_claims") or []
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    section = markdown_section(text, SECTION) or ""
    out: list[Check] = []
    if len(published) != len(expected):
        out.append(Check("leaderboard.json paper_claims", "paper claims", FAIL,
                         f"{len(published)} claims, expected {len(expected)}"))  # fmt: skip
    for i, (claim, (lines, untestable)) in enumerate(zip(published, expected, strict=False), 1):
        where = f"leaderboard.json claim {i}"
        printed = list(claim["evidence"])
        for line in lines:
            match = next((e for e in printed if line.matches(e)), None)
            if match is None:
                out.append(
                    Check(where, "paper claims", FAIL, f"recomputed line not printed: {line}")
                )
            else:
                printed.remove(match)
        out += [Check(where, "paper claims", FAIL, f"printed line no recomputed one gives: {e}")
                for e in printed]  # fmt: skip
        want = UNTESTABLE if untestable else verdict(lines)
        if claim["verdict"] != want and all(x.derivable for x in lines):
            out.append(Check(where, "paper claims", FAIL,
                             f"verdict: published {claim['verdict']!r} vs recomputed {want!r}"))  # fmt: skip
        shown = [
            f"{i}. **{claim['claim']}: {claim['verdict']}.**",
            *(f"   - {e}" for e in claim["evidence"]),
        ]
        out += [Check(f"LEADERBOARD.md claim {i}", "paper claims", FAIL, f"not printed as in the JSON: {x}")
                for x in shown if f"\n{x}" not in section]  # fmt: skip
    printed_lines = sum(1 for x in section.splitlines() if x.startswith("   - "))
    if printed_lines != sum(len(c["evidence"]) for c in published):
        out.append(Check("LEADERBOARD.md", "paper claims", FAIL,
                         f"{printed_lines} evidence lines, the JSON has "
                         f"{sum(len(c['evidence']) for c in published)}"))  # fmt: skip
    out += [Check("leaderboard.json paper claims", "paper claims", NOT_DERIVABLE,
                  f"{x}, so neither it nor its claim's verdict is recomputed")
            for x in board.not_derivable]  # fmt: skip
    if not any(c.status == FAIL for c in out):
        n = sum(len(lines) for lines, _ in expected)
        out.append(Check("leaderboard.json paper claims", "paper claims", PASS,
                         f"{len(published)} verdicts and {n} lines agree"))  # fmt: skip
    return out
