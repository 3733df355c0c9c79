"""The paper's saliency claim (HeartBEiT's saliency concentrates on the ST segment / QRS
complex more than the CNNs') tested on the board's saliency differences, for
:mod:`bench.leaderboard.paper_claims`.

The claim is about the paper's image CNNs (:data:`PAPER_CNNS`), explained on the same
rendered ECGs as HeartBEiT. A signal model's map (resnet1d's) lies over the time axis of
its own input, so its localisation has another denominator: its difference is shown for
information and not counted. The counted differences (:func:`saliency_tests`) are held to
the board's rule for a finding:

- **multiplicity:** Holm across the claim's counted comparisons, each p-value the normal
  approximation of its 95 % interval (``2 Φ(−|d| / se)``, ``se`` = the interval's width
  over ``2 × 1.96``);
- **seeds:** the rows' seeds (saliency explains a cell per seed it runs on) must number
  at least :data:`~bench.leaderboard.paired.MIN_FINDING_SEEDS` and every seed's difference
  must have the sign of the pooled one. Saliency from one seed per row can show a
  difference but cannot make it a finding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bench.leaderboard.aggregate import Cell, RowKey
from bench.leaderboard.multiplicity import ALPHA, holm
from bench.leaderboard.names import IMAGENET_BASELINES
from bench.leaderboard.paired import MIN_FINDING_SEEDS, seeds_agree
from bench.leaderboard.saliency import (
    CNN_MODELS,
    HEARTBEIT,
    SaliencyDifference,
    interval_se,
    latest_by_row,
    saliency_differences,
    saliency_labels,
)

#: The CNNs of the paper's saliency comparison: its image baselines that are CNNs.
PAPER_CNNS = tuple(m for m in CNN_MODELS if m in IMAGENET_BASELINES)
NOT_COUNTED = (
    "for information, not counted: a signal model's map lies over the time axis of its own "
    "input, not over the rendered image the paper's models saw"
)
#: Why the saliency claim's numbers, unlike the others, cannot be recomputed by a reader.
SALIENCY_NOT_REDERIVABLE = (
    "its numbers come from the trained weights and the rendered images, which the published "
    "bundles leave out: `bench verify` checks them against the bundled saliency records but "
    "cannot re-derive them (re-run `bench saliency` on the cells)"
)


def _per_seed(
    cells: dict[tuple[str, str, str, RowKey], Cell], d: SaliencyDifference
) -> list[float]:
    """``d``'s difference on each seed both of its rows explained."""
    first, second = (cells[(d.task, d.source, d.metric, row)] for row in (d.first, d.second))
    seeds = sorted(first.seed_values.keys() & second.seed_values.keys())
    return [first.seed_values[s] - second.seed_values[s] for s in seeds]


def _reason(
    cells: dict[tuple[str, str, str, RowKey], Cell], counted: list[SaliencyDifference]
) -> str:
    """What the verdict rests on: why its numbers cannot be re-derived, and that one
    explained seed per row cannot make a finding; or why it is not testable."""
    if not counted:
        return (
            f"no saliency_* records of a pretrained {HEARTBEIT} (init not random) and one of "
            f"the paper's CNNs ({', '.join(PAPER_CNNS)}) on this board (bench saliency writes "
            "them)"
        )
    if all(len(_per_seed(cells, d)) < MIN_FINDING_SEEDS for d in counted):
        return (
            f"{SALIENCY_NOT_REDERIVABLE}; no HeartBEiT and CNN rows share {MIN_FINDING_SEEDS} "
            "explained seeds (run-level saliency explains the lowest seed at the largest "
            "fraction), so no difference here can be a finding"
        )
    return SALIENCY_NOT_REDERIVABLE


def interval_p(d: SaliencyDifference) -> float:
    """Two-sided p-value of ``d`` from its 95 % interval's normal approximation; 1 when the
    interval has no width and ``d`` is 0, 0 when it has none and ``d`` is not."""
    se = interval_se(d.ci_low, d.ci_high)
    if not se > 0:
        return 1.0 if d.diff == 0 else 0.0
    return math.erfc(abs(d.diff) / se / math.sqrt(2))


def saliency_tests(saliency: Sequence[Cell]) -> tuple[list[tuple[int | None, str]], str]:
    """Each HeartBEiT-minus-CNN saliency difference as (direction, evidence): +1 a finding
    in the paper's direction, −1 one against it, 0 none, ``None`` not counted; and the
    reason the verdict carries (what it rests on, or why it is not testable)."""
    labels = saliency_labels(saliency)
    cells = latest_by_row(saliency)
    diffs = saliency_differences(saliency)
    counted = [d for d in diffs if d.second[0] in PAPER_CNNS]
    adjusted = dict(zip(map(id, counted), holm([interval_p(d) for d in counted]), strict=True))
    out: list[tuple[int | None, str]] = []
    for d in diffs:
        name = d.metric.removeprefix("saliency_")
        ci = f" [{d.ci_low:+.3f}, {d.ci_high:+.3f}]"
        head = f"{d.task}: {name} {labels[d.first]} − {labels[d.second]} {d.diff:+.3f}{ci}"
        if id(d) not in adjusted:
            out.append((None, f"{head} ({d.how}, 95 % CI): {NOT_COUNTED}"))
            continue
        per_seed = _per_seed(cells, d)
        p, agree = adjusted[id(d)], seeds_agree(per_seed)
        head += f" ({d.how}, 95 % CI, Holm p {p:.3g}, seeds {len(per_seed)})"
        if not (d.excludes_zero and p < ALPHA):
            out.append((0, f"{head}: no significant difference"))
        elif agree is None:
            out.append((0, f"{head}: significant on {len(per_seed)} seed, and a finding needs "
                           f"{MIN_FINDING_SEEDS} seeds agreeing in direction"))  # fmt: skip
        elif not agree or (per_seed[0] > 0) != (d.diff > 0):  # with the pooled sign too
            out.append((0, f"{head}: significant pooled, but the seeds disagree in direction"))
        else:
            direction = 1 if d.diff > 0 else -1
            side = "the paper's direction" if direction == 1 else "against the paper"
            out.append((direction, f"{head}: significant, {side}"))
    return out, _reason(cells, counted)
