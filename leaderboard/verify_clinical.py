"""``bench verify``'s recomputation of the clinical profile from the bundles' records,
without the board's profile code (:mod:`bench.leaderboard.clinical`).

Each published profile row names a board row (its label in the JSON's ``rows``: model,
init, protocol, arch). From the latest internal-test records of that row and task:

- the fraction (the largest with AUROC records) and the number of seeds;
- the means over the seeds of AUROC, ECE, ECE after temperature scaling, Brier and Brier
  after temperature scaling (the records themselves are re-derived from the predictions
  by the bundle checks where the reference scorer has the metric: AUROC, ECE, Brier);
- ECE's 95 % CI: pooled over the seeds' replicates on the board's resamples (more than
  one seed), else the record's own interval;
- the largest subgroup gap: its mean over the seeds, the mean of the seeds' CI bounds, and
  the dimension and pair named by the seed with the largest gap.

These must equal the JSON within 1e-9, and each value as printed (three decimals) must
stand in the row's line of the Markdown. GFLOPs and latency are measured (not
re-derivable); a robustness drop, whose records bundles do not carry, is reported as not
re-derivable.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from bench.leaderboard.reference_stats import Resamples, cell_numbers
from bench.leaderboard.verify_files import BOARD_JSON, differ, markdown_section

from bench.api import FAIL, NOT_DERIVABLE, PASS, Check, NotDerivable, ResultRecord

SPLIT = "internal"
#: The profile's fields that are the mean over the seeds of the metric of the same name.
MEANS = ("auroc", "ece", "ece_ts", "brier", "brier_ts")


def _mean(values: Sequence[float]) -> float | None:
    finite = [float(v) for v in values if v is not None and v == v]
    return statistics.fmean(finite) if finite else None


def _subgroup(records: list[ResultRecord]) -> dict[str, Any]:
    scored = [r for r in records if r.value == r.value]
    if not scored:
        return {"subgroup": None, "gap": None, "gap_ci": None}
    gap = max(scored, key=lambda r: r.value).bootstrap.get("largest_gap") or {}
    pair = gap.get("pair") or ["?", "?"]
    low, high = _mean([r.ci_low for r in scored]), _mean([r.ci_high for r in scored])
    return {
        "subgroup": f"{gap.get('dimension', '?')}: {pair[1]} vs {pair[0]}",
        "gap": _mean([r.value for r in scored]),
        "gap_ci": None if low is None or high is None else [low, high],
    }


class ProfileCheck:
    """The recomputation of one board's profile rows from its records."""

    def __init__(
        self,
        data: dict[str, Any],
        records: list[ResultRecord],
        read: Callable[[ResultRecord], pd.DataFrame],
        resamples: Resamples,
    ) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}
        for row in data.get("rows", []):
            self.rows.setdefault(row["label"], []).append(row)
        self.records = [r for r in records if r.split == SPLIT]
        self.read, self.resamples = read, resamples

    def _ece_ci(self, records: list[ResultRecord]) -> list[float] | None:
        if len(records) == 1:
            r = records[0]
            return None if r.ci_low is None or r.ci_high is None else [r.ci_low, r.ci_high]
        seeds = [
            self.resamples.values(
                self.read(r), r.metric, r.seed,
                min_label_positives=int(r.bootstrap.get("min_label_positives", 1)), regression=False,
            )
            for r in records
        ]  # fmt: skip
        got = cell_numbers(seeds, [(r.ci_low, r.ci_high) for r in records])
        return None if got.ci_low is None or got.ci_high is None else [got.ci_low, got.ci_high]

    def expected(self, profile: dict[str, Any]) -> dict[str, Any] | str:
        """The recomputed fields of one profile row, or why they cannot be recomputed."""
        rows = self.rows.get(profile["row"], [])
        if len(rows) != 1:
            return f"{len(rows)} board rows carry the label {profile['row']!r}"
        row = rows[0]
        mine = [
            r for r in self.records
            if (r.task, r.source, r.model, r.init, r.protocol, r.arch)
            == (profile["task"], profile["source"], row["model"], row["init"], row["protocol"],
                row["arch"])
        ]  # fmt: skip
        fractions = [r.fraction for r in mine if r.metric == "auroc"]
        if not fractions:
            return "no AUROC records of the row on the internal test set"
        at = [r for r in mine if r.fraction == max(fractions)]
        by_metric: dict[str, list[ResultRecord]] = {}
        for r in sorted(at, key=lambda r: r.seed):
            by_metric.setdefault(r.metric, []).append(r)
        out: dict[str, Any] = {
            "fraction": max(fractions),
            "seeds": len({r.seed for r in by_metric["auroc"]}),
            **{m: _mean([r.value for r in by_metric.get(m, [])]) for m in MEANS},
            **_subgroup(by_metric.get("subgroup_auroc", [])),
        }
        if by_metric.get("ece"):
            try:
                out["ece_ci"] = self._ece_ci(by_metric["ece"])
            except NotDerivable as exc:
                return f"ECE's CI: {exc}"
        return out


def _printed(expected: dict[str, Any]) -> list[str]:
    """The profile row's recomputed numbers as the Markdown prints them."""
    texts = [f"{expected[f]:.3f}" for f in MEANS if expected.get(f) is not None]
    if expected.get("ece_ci"):
        low, high = expected["ece_ci"]
        texts.append(f"{expected['ece']:.3f} ({low:.3f}–{high:.3f})")
    if expected.get("gap") is not None:
        texts.append(f"{expected['gap']:.3f}")
    return texts


def verify_clinical(
    markdown: Path,
    data: dict[str, Any],
    records: list[ResultRecord],
    read: Callable[[ResultRecord], pd.DataFrame],
    resamples: Resamples,
) -> list[Check]:
    """One FAIL per profile field the records do not give (JSON) or whose printed value is
    not in the row's Markdown line; a row that cannot be recomputed is not re-derivable."""
    profile = data.get("clinical_profile") or []
    if not profile:
        return []
    text = markdown.read_text(encoding="utf-8") if markdown.is_file() else ""
    check = ProfileCheck(data, records, read, resamples)
    out: list[Check] = []
    for entry in profile:
        where = f"clinical profile {entry['task']}/{entry['source']} {entry['row']}"
        expected = check.expected(entry)
        if isinstance(expected, str):
            out.append(Check(where, "clinical", NOT_DERIVABLE, expected))
            continue
        if entry.get("drop") is not None:
            out.append(
                Check(where, "clinical", NOT_DERIVABLE, "robustness drop: no records bundled")
            )
        out += differ(BOARD_JSON, where, entry, expected)
        section = markdown_section(text, f"### {entry['task']} · {entry['source']} · {SPLIT}")
        lines = [x for x in (section or "").splitlines() if x.startswith(f"| {entry['row']} |")]
        missing = [t for t in _printed(expected) if not any(t in line for line in lines)]
        if missing:
            message = f"recomputed {', '.join(missing)} not printed in the row's line"
            out.append(Check(f"{markdown.name} {where}", "clinical", FAIL, message))
    if not any(c.status == FAIL for c in out):
        out.append(Check(BOARD_JSON, "clinical", PASS, f"{len(profile)} profile rows agree"))
    return out
