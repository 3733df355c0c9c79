"""The leaderboard's Findings, generated from the paired differences, never written by hand.

For one metric (AUROC by default), every comparison of every task, source, split and
training fraction (:mod:`bench.leaderboard.paired`) becomes, per task, either a sentence
(``stemi, internal test, 1 % of labels: heartbeit (mim) scores higher than heartbeit
(random) (AUROC 0.71 vs 0.64, +10.9 %; difference +0.070 [+0.030, +0.110], pooled paired
95 % CI over all 3 seeds, every seed in the same direction; Holm-adjusted p 0.004).``) when it is
significant (:mod:`bench.leaderboard.paired`: pooled CI excluding zero, every seed in the
same direction, Holm-adjusted p < 0.05), or an entry of the task's "No significant
difference" list; a comparison that would be significant but was tested on a single seed
(no second seed to agree with), or whose seeds disagree in direction, is listed as such, and
so are comparisons that could not be tested. Pretraining ablations come first, then
contrasts, then the reference's comparisons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.leaderboard.aggregate import Cell, RowKey, TableKey, cell_labels, fraction_label
from bench.leaderboard.names import METRIC_NAMES
from bench.leaderboard.paired import KINDS, ONE_SEED, SEEDS_DISAGREE, Difference

SPLIT_NAMES = {"internal": "internal test", "external": "external site"}
INTRO = (
    "Generated from the result records by `bench.leaderboard.findings`, not written by "
    "hand: for every task, split and training fraction of the {metric} tables, the "
    "comparisons whose pooled paired patient-level bootstrap 95 % CI (every seed's paired "
    "replicate differences, concatenated) excludes zero, whose seeds (two or more) all "
    "agree in direction, and whose p-value survives Holm's correction across the comparisons of "
    "its table; then those where it does not. A name marked § is a quick-profile "
    "stand-in (see the Rows section)."
)


@dataclass(frozen=True)
class Findings:
    """Per task: sentences of the significant differences, then the other comparisons."""

    metric: str
    significant: dict[str, list[str]]
    not_significant: dict[str, list[str]]
    untested: dict[str, list[str]]
    #: comparisons whose CI and Holm p pass but that were tested on one seed only
    one_seed: dict[str, list[str]]
    #: comparisons whose CI and Holm p pass but whose seeds disagree in direction
    seeds_disagree: dict[str, list[str]]

    @property
    def tasks(self) -> list[str]:
        """Tasks with at least one comparison, sorted."""
        return sorted({*self.significant, *self.not_significant, *self.untested, *self.one_seed,
                       *self.seeds_disagree})  # fmt: skip

    def sentences(self, task: str) -> list[str]:
        """The task's findings as plain sentences."""
        out = list(self.significant.get(task, []))
        if self.one_seed.get(task):
            out.append(
                "Significant on a single seed only, so not a finding (a finding needs two or "
                "more seeds agreeing): " + "; ".join(self.one_seed[task]) + "."
            )
        if self.seeds_disagree.get(task):
            out.append(
                "Pooled CI and Holm's correction pass but the seeds disagree in direction, so "
                "not a finding: " + "; ".join(self.seeds_disagree[task]) + "."
            )
        if self.not_significant.get(task):
            out.append("No significant difference: " + "; ".join(self.not_significant[task]) + ".")
        if self.untested.get(task):
            out.append("Not tested (see the table notes): " + "; ".join(self.untested[task]) + ".")
        return out

    def to_dict(self) -> dict[str, object]:
        """JSON form: the metric and each task's sentences."""
        return {"metric": self.metric, "tasks": {t: self.sentences(t) for t in self.tasks}}

    def markdown(self) -> str:
        """The ``## Findings`` section."""
        name = METRIC_NAMES.get(self.metric, self.metric)
        lines = ["## Findings", "", INTRO.format(metric=name), ""]
        if not self.tasks:
            lines += [f"No paired comparisons in the {name} tables.", ""]
        for task in self.tasks:
            lines += [f"### {task}", ""] + [f"- {s}" for s in self.sentences(task)] + [""]
        return "\n".join(lines)


def _seeds(n: int) -> str:
    return {1: "the one seed tested", 2: "both seeds"}.get(n, f"all {n} seeds")


def _agree(n: int) -> str:
    return "a single seed" if n == 1 else "every seed in the same direction"


def _place(table: TableKey, fraction: float, several_sources: bool) -> str:
    task, source, split, _ = table
    name = f"{task} ({source})" if several_sources else task
    return f"{name}, {SPLIT_NAMES.get(split, split)}, {fraction_label(fraction)} of labels"


def findings(diffs: Sequence[Difference], cells: Sequence[Cell], metric: str = "auroc") -> Findings:
    """The findings of the ``metric`` tables (``cells`` give the rows' display labels)."""
    labels: dict[TableKey, dict[RowKey, str]] = {}
    for table in {c.table for c in cells if c.metric == metric}:
        labels[table] = cell_labels(c for c in cells if c.table == table)
    chosen = [d for d in diffs if d.table[3] == metric and d.table in labels]
    sources: dict[str, set[str]] = {}
    for d in chosen:
        sources.setdefault(d.table[0], set()).add(d.table[1])
    chosen.sort(key=lambda d: (d.table[0], KINDS.index(d.kind), d.table, d.reference, d.row,
                               d.fraction))  # fmt: skip
    name = METRIC_NAMES.get(metric, metric)
    significant: dict[str, list[str]] = {}
    other: dict[str, dict[str, dict[str, list[str]]]] = {
        "no": {}, "untested": {}, ONE_SEED: {}, SEEDS_DISAGREE: {}
    }  # fmt: skip
    for d in chosen:
        task, source, split, _ = d.table
        first, second = labels[d.table][d.reference], labels[d.table][d.row]
        if d.significant:
            direction = "higher" if d.reference_value > d.value else "lower"
            significant.setdefault(task, []).append(
                f"{_place(d.table, d.fraction, len(sources[task]) > 1)}: {first} scores "
                f"{direction} than {second} ({name} {d.reference_value:.2f} vs {d.value:.2f}, "
                f"{d.rel_diff_pct:+.1f} %; difference {d.reference_value - d.value:+.3f} "
                f"[{d.ci_low:+.3f}, {d.ci_high:+.3f}], pooled paired 95 % CI over "
                f"{_seeds(len(d.seeds_tested))}, {_agree(len(d.seeds_tested))}; "
                f"Holm-adjusted p {d.p_holm:.3g})."
            )
            continue
        where = SPLIT_NAMES.get(split, split) + (f" ({source})" if len(sources[task]) > 1 else "")
        pair = f"{first} vs {second}"
        bucket = "untested" if d.significant is None else d.shortfall
        bucket = bucket if bucket in other else "no"
        places = other[bucket].setdefault(task, {}).setdefault(pair, [])
        places.append(f"{where} {fraction_label(d.fraction)}")
    return Findings(
        metric=metric,
        significant=significant,
        not_significant=_listed(other["no"]),
        untested=_listed(other["untested"]),
        one_seed=_listed(other[ONE_SEED]),
        seeds_disagree=_listed(other[SEEDS_DISAGREE]),
    )


def _listed(by_task: dict[str, dict[str, list[str]]]) -> dict[str, list[str]]:
    """task → ``["A vs B (internal test 1 %, external site 10 %)", …]``."""
    return {
        task: [f"{pair} ({', '.join(places)})" for pair, places in pairs.items()]
        for task, pairs in by_task.items()
    }
