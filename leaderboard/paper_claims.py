""" "Does the paper hold here?": the HeartBEiT paper's claims tested one by one on the board.

The claims (Vaid et al., HeartBEiT):

1. MIM pretraining beats random init at 1 % of labels (``heartbeit`` ``mim`` vs
   ``random``, fine-tuned);
2. HeartBEiT beats the ImageNet baselines (:data:`BASELINES`) at 1 %;
3. the gap to the baselines narrows toward 100 %: HeartBEiT's advantage at the smallest
   fraction exceeds its advantage at 100 %, tested on the difference of differences
   ``(h₁ − b₁) − (h₁₀₀ − b₁₀₀)`` with the same pooled paired bootstrap as the tables
   (each seed's four cells on the same resamples of the same test records). The claim
   presumes a lead at the smallest fraction: without one (HeartBEiT's mean not above the
   baseline's) the comparison counts for neither side, and so does an advantage that falls
   so far that the baseline leads at 100 % (its pooled CI below zero) by more than
   HeartBEiT led (a reversal, not a narrowing gap);
4. HeartBEiT's saliency concentrates on the ST segment / QRS complex more than the CNNs'
   (:mod:`bench.leaderboard.saliency`); its numbers come from the weights and rendered
   images, not from the published bundles, and the verdict says so
   (:mod:`bench.leaderboard.saliency_claim`, which also says which CNNs it counts).

Each comparison is the board's own (:mod:`bench.leaderboard.paired`: pooled paired CI,
seeds agreeing in direction, Holm within its table) where the board made it; comparisons
the board did not make (and the differences of differences) are corrected with Holm
within the claim. A claim's verdict (:func:`verdict`): **holds** when at least half of its
tested comparisons are significant in the paper's direction and none against it; **does
not hold** when some are significant against it and none for it; **inconclusive**
otherwise; **not testable here** when the board has no comparison for it, and for the
baseline claims when no baseline row has ImageNet weights (the numbers against the
random-init stand-ins are still shown). The known limits of the board are listed under
the claims (:func:`board_limits`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from bench.leaderboard.aggregate import (
    DEFAULT_PROTOCOL,
    SMALL_PROFILES,
    Cell,
    RowKey,
    TableKey,
    cell_labels,
    fraction_label,
)
from bench.leaderboard.budget import first_kept
from bench.leaderboard.multiplicity import ALPHA, holm
from bench.leaderboard.names import IMAGENET_BASELINES, METRIC_NAMES
from bench.leaderboard.paired import Difference, compare_cells, decide, seeds_agree, wald_p
from bench.leaderboard.replicates import Replicates
from bench.leaderboard.saliency_claim import saliency_tests
from bench.leaderboard.seeds import SMALL_SAMPLE

from bench.api import percentile_ci

HEARTBEIT = "heartbeit"
BASELINES = IMAGENET_BASELINES
HOLDS, FAILS, INCONCLUSIVE, UNTESTABLE = (
    "holds", "does not hold", "inconclusive", "not testable here",
)  # fmt: skip
SPLITS = {"internal": "internal test", "external": "external site"}


@dataclass(frozen=True)
class Claim:
    """One claim of the paper, its verdict, the numbers behind it and why."""

    claim: str
    verdict: str
    evidence: list[str] = field(default_factory=list)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "claim": self.claim, "verdict": self.verdict, "evidence": self.evidence,
            "reason": self.reason,
        }  # fmt: skip


@dataclass(frozen=True)
class _Tested:
    """A comparison's direction (+1 the paper's, −1 against, 0 not significant) and text."""

    direction: int | None  # None: not tested
    text: str


def verdict(tested: Sequence[_Tested]) -> str:
    """The claim's verdict from its comparisons (see the module docstring)."""
    done = [t for t in tested if t.direction is not None]
    if not done:
        return UNTESTABLE
    pro = sum(t.direction == 1 for t in done)
    con = sum(t.direction == -1 for t in done)
    if pro and not con and 2 * pro >= len(done):
        return HOLDS
    if con and not pro:
        return FAILS
    return INCONCLUSIVE


def _row(cells: Sequence[Cell], model: str, pretrained: bool) -> RowKey | None:
    """The fine-tuned row of ``model`` (pretrained init or random), or None."""
    rows = sorted(
        c.row
        for c in cells
        if c.model == model
        and c.protocol == DEFAULT_PROTOCOL
        and (c.init != "random") == pretrained
    )
    return rows[0] if rows else None


def _ci(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f" [{low:+.3f}, {high:+.3f}]"


def _describe(d: Difference, labels: dict[RowKey, str], metric: str) -> _Tested:
    task, _, split, _ = d.table
    where = f"{task}, {SPLITS.get(split, split)}, {fraction_label(d.fraction)}"
    first, second = labels[d.reference], labels[d.row]
    head = (
        f"{where}: {first} {d.reference_value:.3f} vs {second} {d.value:.3f} "
        f"({METRIC_NAMES.get(metric, metric)}); difference {d.reference_value - d.value:+.3f}"
    )
    if d.significant is None:
        return _Tested(None, f"{head}; not tested ({d.note or 'no paired predictions'})")
    stats = f"{_ci(d.ci_low, d.ci_high)} (pooled paired 95 % CI, seeds {len(d.seeds_tested)}"
    stats += f", Holm p {d.p_holm:.3g})"
    if not d.significant:
        return _Tested(0, f"{head}{stats}: {d.shortfall}")
    direction = 1 if d.reference_value > d.value else -1
    side = "the paper's direction" if direction == 1 else "against the paper"
    return _Tested(direction, f"{head}{stats}: significant, {side}")


def _tables(cells: Sequence[Cell], metric: str) -> dict[TableKey, list[Cell]]:
    out: dict[TableKey, list[Cell]] = {}
    for cell in cells:
        if cell.metric == metric:
            out.setdefault(cell.table, []).append(cell)
    return out


class _Board:
    """The board's cells and differences, and comparisons it did not make."""

    def __init__(self, cells: Sequence[Cell], diffs: Sequence[Difference], values: Replicates):
        self.cells, self.values = cells, values
        self.diffs = {(d.table, d.reference, d.row, d.fraction): d for d in diffs}

    def compare(self, pairs: Sequence[tuple[Cell, Cell]]) -> list[Difference]:
        """The board's difference of each (first, second) pair where it has one, the
        others compared here and Holm-corrected together."""
        found = [self.diffs.get((a.table, a.row, b.row, a.fraction)) for a, b in pairs]
        missing = [i for i, d in enumerate(found) if d is None]
        made = decide([compare_cells(*pairs[i], self.values, "claim") for i in missing])
        for i, d in zip(missing, made, strict=True):
            found[i] = d
        return [d for d in found if d is not None]


def _pairs_at_lowest(
    cells: Sequence[Cell], metric: str, first: tuple[str, bool], seconds: Sequence[tuple[str, bool]]
) -> list[tuple[Cell, Cell]]:
    """Per table, (first cell, second cell) at the smallest fraction both rows have."""
    out = []
    for table_cells in _tables(cells, metric).values():
        a_row = _row(table_cells, *first)
        for model, pretrained in seconds:
            b_row = _row(table_cells, model, pretrained)
            if a_row is None or b_row is None:
                continue
            grid = {(c.row, c.fraction): c for c in table_cells}
            common = sorted(f for r, f in grid if r == a_row and (b_row, f) in grid)
            if common:
                out.append((grid[(a_row, common[0])], grid[(b_row, common[0])]))
    return out


def _imagenet(cells: Sequence[Cell]) -> bool:
    return any(c.model in BASELINES and c.init == "imagenet" for c in cells)


def _baselines(cells: Sequence[Cell]) -> list[tuple[str, bool]]:
    return [
        (b, True) if _imagenet([c for c in cells if c.model == b]) else (b, False)
        for b in BASELINES
    ]


NO_IMAGENET = (
    "the board's baseline rows have no ImageNet weights (random init: ImageNet weights need "
    "network access; pass --weights), so the paper's comparison cannot be made; the numbers "
    "against the random-init stand-ins are shown for information"
)


def _claim(text: str, tested: Sequence[_Tested], untestable: str = "", why: str = "") -> Claim:
    result = verdict(tested)
    reason = why
    if untestable:
        result, reason = UNTESTABLE, untestable
    elif result == UNTESTABLE and not reason:
        reason = "the board has no comparison for it"
    return Claim(text, result, [t.text for t in tested], reason)


def _gap_tested(board: _Board, metric: str, labels: dict[RowKey, str]) -> list[_Tested]:
    """Per table and baseline: the difference of differences, smallest fraction vs 100 %,
    Holm-corrected across the claim."""
    out: list[_Tested | _Gap] = []
    for table_cells in _tables(board.cells, metric).values():
        grid = {(c.row, c.fraction): c for c in table_cells}
        h = _row(table_cells, HEARTBEIT, True)
        for model, pretrained in _baselines(board.cells):
            b = _row(table_cells, model, pretrained)
            if h is None or b is None:
                continue
            fractions = sorted(f for r, f in grid if r == h and (b, f) in grid)
            if len(fractions) < 2 or fractions[-1] != 1.0:
                continue
            low, high = fractions[0], fractions[-1]
            quad = [grid[(h, low)], grid[(b, low)], grid[(h, high)], grid[(b, high)]]
            out.append(_dod(quad, board.values, labels, metric))
    gaps = [g for g in out if isinstance(g, _Gap)]
    adjusted = dict(zip(map(id, gaps), holm([g.p for g in gaps]), strict=True))
    return [g.tested(adjusted[id(g)]) if isinstance(g, _Gap) else g for g in out]


@dataclass(frozen=True)
class _Gap:
    """A difference of differences (:func:`_dod`) before the claim's Holm correction."""

    head: str
    points: list[float]
    pooled: np.ndarray  # the pooled paired replicates of the difference of differences
    behind: np.ndarray  # those of HeartBEiT minus the baseline at 100 %
    gap_low: float
    gap_high: float
    low_label: str

    @property
    def p(self) -> float:
        """Its two-sided p-value before correction."""
        return wald_p(float(np.mean(self.points)), self.pooled)

    def tested(self, p_holm: float) -> _Tested:
        """Its direction and evidence given its Holm-adjusted p-value."""
        low, high = percentile_ci(self.pooled)
        point, n = float(np.mean(self.points)), len(self.points)
        head = (f"{self.head}{_ci(low, high)} (pooled paired 95 % CI of the difference of "
                f"differences, seeds {n}, Holm p {p_holm:.3g})")  # fmt: skip
        agree = seeds_agree(self.points)
        if not ((low > 0 or high < 0) and agree and p_holm < ALPHA) or math.isnan(low):
            return _Tested(0, f"{head}: no significant narrowing or widening")
        if self.gap_low <= 0:  # no lead to narrow: the claim's premise fails here
            moves = "falls further behind" if point > 0 else "gains"
            return _Tested(0, f"{head}: HeartBEiT does not lead at {self.low_label}; it {moves} "
                              "toward 100 %")  # fmt: skip
        if point < 0:
            return _Tested(-1, f"{head}: widens")
        if percentile_ci(self.behind)[1] < 0 and abs(self.gap_high) > self.gap_low:
            return _Tested(0, f"{head}: reverses, not narrows: the baseline leads at 100 % (CI "
                              f"below zero) by more than HeartBEiT led at {self.low_label}")  # fmt: skip
        return _Tested(1, f"{head}: narrows")


def _dod(
    quad: list[Cell], values: Replicates, labels: dict[RowKey, str], metric: str
) -> _Tested | _Gap:
    """``(h_low − b_low) − (h_high − b_high)`` pooled over the seeds all four cells share."""
    h_low, b_low, h_high, b_high = quad
    gap_low, gap_high = h_low.mean - b_low.mean, h_high.mean - b_high.mean
    task, _, split, _ = h_low.table
    head = (
        f"{task}, {SPLITS.get(split, split)}: {labels[h_low.row]} − {labels[b_low.row]} "
        f"{gap_low:+.3f} at {fraction_label(h_low.fraction)}, {gap_high:+.3f} at 100 % "
        f"({METRIC_NAMES.get(metric, metric)}); low minus 100 % {gap_low - gap_high:+.3f}"
    )
    seeds = set.intersection(*({i.record.seed for i in c.records} for c in quad))
    points, replicates, behind = [], [], []
    for seed in sorted(seeds):
        got = [values.of(next(i for i in c.records if i.record.seed == seed)) for c in quad]
        if any(isinstance(g, str) for g in got):
            return _Tested(None, f"{head}; not tested (no predictions)")
        a, b, c, d = (g for g in got if not isinstance(g, str))
        if not all(a.pairs_with(x) for x in (b, c, d)):
            return _Tested(None, f"{head}; not tested (different test records)")
        points.append((a.point - b.point) - (c.point - d.point))
        replicates.append((a.values - b.values) - (c.values - d.values))
        behind.append(c.values - d.values)
    if not points:
        return _Tested(None, f"{head}; not tested (no seed in common)")
    pooled, at_high = np.concatenate(replicates), np.concatenate(behind)
    return _Gap(head, points, pooled[np.isfinite(pooled)], at_high[np.isfinite(at_high)],
                gap_low, gap_high, fraction_label(h_low.fraction))  # fmt: skip


def paper_claims(
    cells: Sequence[Cell],
    diffs: Sequence[Difference],
    saliency: Sequence[Cell],
    values: Replicates,
    metric: str = "auroc",
) -> list[Claim]:
    """The four claims' verdicts on the board's ``metric`` tables and saliency records."""
    board = _Board(cells, diffs, values)
    labels = {
        row: label for t in _tables(cells, metric).values() for row, label in cell_labels(t).items()
    }
    mim = board.compare(_pairs_at_lowest(cells, metric, (HEARTBEIT, True), [(HEARTBEIT, False)]))
    claims = [_claim("MIM pretraining beats random init at 1 % of labels (heartbeit mim vs random)",
                     [_describe(d, labels, metric) for d in mim])]  # fmt: skip
    base = board.compare(_pairs_at_lowest(cells, metric, (HEARTBEIT, True), _baselines(cells)))
    no_imagenet = "" if _imagenet(cells) else NO_IMAGENET
    claims.append(_claim(f"HeartBEiT beats the baselines ({', '.join(BASELINES)}) at 1 %",
                         [_describe(d, labels, metric) for d in base], no_imagenet))  # fmt: skip
    claims.append(_claim("The gap to the baselines narrows toward 100 % of labels",
                         _gap_tested(board, metric, labels), no_imagenet))  # fmt: skip
    claims.append(_saliency_claim(saliency))
    return claims


def _saliency_claim(saliency: Sequence[Cell]) -> Claim:
    tests, reason = saliency_tests(saliency)
    return _claim(
        "HeartBEiT's saliency concentrates on the ST segment / QRS complex more than the CNNs'",
        [_Tested(direction, text) for direction, text in tests],
        why=reason,
    )


def board_limits(cells: Sequence[Cell]) -> list[str]:
    """The known limits of the board, from its records."""
    records = [item.record for c in cells for item in c.records]
    out = []
    if any(r.source == "synthetic" for r in records):
        out.append("Synthetic cohort: the synthetic tasks' ECGs are generated by the harness, "
                   "not recorded from patients; an effect there is one the generator builds in.")  # fmt: skip
    if records and all(r.profile in SMALL_PROFILES for r in records):
        out.append("Quick scale: every cell ran the quick (or tiny) profile (small models, "
                   "CPU-scale training and pretraining), not the paper's scale.")  # fmt: skip
    stand_ins = sorted({(c.model, c.arch) for c in cells if c.stand_in})
    if stand_ins:
        out.append("Stand-ins (§): " + "; ".join(f"{m} = {a}" for m, a in stand_ins) + ".")
    if not _imagenet(cells):
        out.append("No ImageNet weights: the baseline rows are random-init.")
    by_fraction: dict[float, list[str]] = defaultdict(list)
    for (task, fraction), (first, runs) in first_kept(cells).items():
        if 2 * first >= runs:
            by_fraction[fraction].append(f"{task} {first} of {runs}")
    for fraction, counts in sorted(by_fraction.items()):
        at = fraction_label(fraction)
        out.append(
            f"First evaluation kept at {at}: {' and '.join(counts)} fine-tuned seed runs kept "
            "the weights of their first evaluation (their best validation score came before "
            f"they had trained much), so comparisons of those tasks at {at} are between barely "
            "fine-tuned models (docs/protocol.md, *The monitor at 1 %*: "
            "`benchmarks/monitor_effect.py` re-runs a comparison under a validation-AUROC "
            "monitor)."
        )
    small = sorted({c.task for c in cells if 0 < c.n < SMALL_SAMPLE})
    if small:
        out.append(f"Small test sets (< {SMALL_SAMPLE} ECGs): {', '.join(small)}.")
    return out


def claims_markdown(claims: Sequence[Claim], limits: Sequence[str]) -> str:
    """The ``## Does the paper hold here?`` section."""
    lines = ["## Does the paper hold here?", "",
             "Generated by `bench.leaderboard.paper_claims` from the records: each claim of the "
             "HeartBEiT paper, its verdict on this board and the numbers behind it.", ""]  # fmt: skip
    for i, claim in enumerate(claims, 1):
        lines.append(
            f"{i}. **{claim.claim}: {claim.verdict}.**"
            + (f" ({claim.reason}.)" if claim.reason else "")
        )
        lines += [f"   - {e}" for e in claim.evidence]
    if limits:
        lines += ["", "Known limits of this board:", ""] + [f"- {x}" for x in limits]
    return "\n".join(lines) + "\n"


def claims_summary(claims: Sequence[Claim]) -> str:
    """One sentence for a closing note: each claim with its verdict."""
    return "; ".join(f"{c.claim}: {c.verdict}" for c in claims) + "."
