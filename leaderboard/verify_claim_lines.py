"""The lines of the "Does the paper hold here?" claims as :mod:`bench.leaderboard.verify_claims`
recomputes them: a :class:`Line` (what a printed line must state), a claim's
:func:`verdict` from its lines, and claim 4's lines (:func:`saliency_lines`) from the
board's saliency cells and differences, which :mod:`bench.leaderboard.verify_saliency`
recomputes. Written from docs/leaderboard.md, not imported from the board's
:mod:`bench.leaderboard.paper_claims` or :mod:`bench.leaderboard.saliency_claim`.

Claim 4 counts the paper's image CNNs' lines (:data:`SALIENCY_CNNS`), each p-value the
normal approximation of its 95 % interval, Holm across them; a finding needs the interval
to exclude zero, the adjusted p below 0.05 and two or more explained seeds whose
differences all have the pooled sign.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.leaderboard.reference_stats import ALPHA, holm_adjusted, normal_p

#: The CNNs of the paper's saliency comparison.
SALIENCY_CNNS = ("resnet152", "efficientnet-b4")
Z95 = 1.959963984540054
PRO, CON = "significant, the paper's direction", "significant, against the paper"
HOLDS, FAILS, INCONCLUSIVE, UNTESTABLE = (
    "holds", "does not hold", "inconclusive", "not testable here"
)  # fmt: skip


@dataclass(frozen=True)
class Line:
    """A claim's line as recomputed: ``parts`` it states in order (the first at its start;
    between them the rows' labels, which are not recomputed), then its outcome: exactly
    ``outcome``, or starting with it when ``prefix``, or (``None``) any outcome that does
    not claim significance."""

    parts: tuple[str, ...]
    outcome: str | None
    direction: int | None  # +1 the paper's, −1 against, 0 not significant, None not tested
    prefix: bool = False
    derivable: bool = True

    def matches(self, printed: str) -> bool:
        """Whether ``printed`` states this line."""
        if not printed.startswith(self.parts[0]):
            return False
        at = len(self.parts[0])
        for part in self.parts[1:]:
            at = printed.find(part, at)
            if at < 0:
                return False
            at += len(part)
        said = printed[at:]
        if self.outcome is None:
            return said.startswith(": ") and not said.startswith(": significant")
        return said.startswith(self.outcome) if self.prefix else said == self.outcome

    def __str__(self) -> str:
        return " … ".join(self.parts) + (self.outcome or ": (not significant)")


def verdict(lines: Sequence[Line]) -> str:
    """A claim's verdict from its lines (module docstring)."""
    done = [x.direction for x in lines if x.direction is not None]
    pro, con = done.count(1), done.count(-1)
    if not done:
        return UNTESTABLE
    if pro and not con and 2 * pro >= len(done):
        return HOLDS
    return FAILS if con and not pro else INCONCLUSIVE


def excludes_zero(low: float | None, high: float | None) -> bool:
    """Whether the interval ``[low, high]`` excludes zero."""
    return low is not None and high is not None and (low > 0 or high < 0)


def agree(values: Sequence[float]) -> bool:
    """Two or more values, all with the same non-zero sign."""
    return len(values) >= 2 and (all(v > 0 for v in values) or all(v < 0 for v in values))


def _saliency_cell(
    cells: list[dict[str, Any]], d: dict[str, Any], row: list[Any]
) -> dict[str, Any] | None:
    """The saliency cell of ``row`` (its largest fraction) behind difference ``d``."""
    keys = ("model", "init", "selection", "arch", "experiment", "protocol")
    found = [c for c in cells if (c["task"], c["source"], c["metric"]) == (d["task"], d["source"], d["metric"])
             and [c[k] for k in keys] == list(row)]  # fmt: skip
    return max(found, key=lambda c: c["fraction"]) if found else None


def _seed_diffs(cells: list[dict[str, Any]], d: dict[str, Any]) -> list[float]:
    """``d``'s difference on each seed both of its rows explained."""
    first, second = (_saliency_cell(cells, d, d[k]) for k in ("first_row", "second_row"))
    if first is None or second is None:
        return []
    shared = sorted(set(first["seed_values"]) & set(second["seed_values"]))
    return [first["seed_values"][s] - second["seed_values"][s] for s in shared]


def saliency_lines(data: dict[str, Any]) -> list[Line]:
    """Claim 4's lines from the board's (verified) saliency cells and differences."""
    cells = data.get("saliency") or []
    diffs = data.get("saliency_differences") or []
    counted = [d for d in diffs if d["second"] in SALIENCY_CNNS]
    p = [normal_p(d["diff"], (d["ci_high"] - d["ci_low"]) / (2 * Z95)) for d in counted]
    adjusted = dict(zip(map(id, counted), holm_adjusted(p), strict=True))
    out = []
    for d in diffs:
        how = (
            f"paired over {d['n_pairs']} ECGs" if d["method"] == "paired bootstrap" else "unpaired"
        )
        parts = (f"{d['task']}: {d['metric'].removeprefix('saliency_')} {d['first']}",
                 f" − {d['second']}",
                 f" {d['diff']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] ({how}, 95 % CI")  # fmt: skip
        if id(d) not in adjusted:
            out.append(Line(parts, "): for information, not counted", None, prefix=True))
            continue
        per_seed = _seed_diffs(cells, d)
        parts = (*parts[:-1], f"{parts[-1]}, Holm p {adjusted[id(d)]:.3g}, seeds {len(per_seed)})")
        if not (excludes_zero(d["ci_low"], d["ci_high"]) and adjusted[id(d)] < ALPHA):
            out.append(Line(parts, ": no significant difference", 0))
        elif len(per_seed) < 2:
            out.append(Line(parts, ": significant on ", 0, prefix=True))
        elif not agree(per_seed) or (per_seed[0] > 0) != (d["diff"] > 0):
            out.append(Line(parts, ": significant pooled, but the seeds disagree in direction", 0))
        else:
            out.append(Line(parts, f": {PRO}", 1) if d["diff"] > 0 else Line(parts, f": {CON}", -1))
    return out
