"""Paired differences between rows of a table, each with a paired bootstrap test.

Four kinds of comparison are made in every table (a pair of rows is compared once, as
the most specific kind that names it):

- ``pretraining``: every row with a pretrained init against the row of the same model,
  architecture and protocol trained from random init (the ablation that isolates what
  pretraining adds);
- ``control``: every fine-tuned (or attention-head) row with a pretrained init against the
  random-init encoder of the same model and architecture under the linear probe (does the
  pretrained model beat "any features"? Random-init encoders under a linear probe match
  published pretrained models on many ECG tasks);
- ``contrast``: configured pairs of models (``contrasts`` of
  :mod:`bench.leaderboard.settings`), per protocol;
- ``reference``: the configured reference model against every other row.

The value reported is the paper's relative difference, ``(first − second) / second`` in
%, of the seed means. Whether it is "real" is decided by a paired, patient-level
bootstrap on the saved predictions of both rows on the same test records (same seed,
same resamples for both, :class:`bench.leaderboard.replicates.Replicates`). The seeds are
pooled: each seed's replicate differences ``a − b`` (its two rows on the same resample)
are concatenated over the seeds and the pooled 95 % CI is their percentile interval
(:func:`bench.api.paired_bootstrap` on the concatenated replicates, with the seed-mean
point values). The pooled p-value is the normal approximation with the bootstrap standard
error, ``p = 2 Φ(−|d| / sd(D))`` (``d`` the seed-mean point difference, ``D`` the pooled
replicate differences): the p-value that inverts the percentile interval cannot fall
below ``2 / (B·k + 1)`` for ``B`` resamples and ``k`` seeds, which Holm's correction over a
table's comparisons would push above 0.05 for every difference, however large. Holm's step-down correction is then applied
to the pooled p-values of every comparison of a table (:mod:`bench.leaderboard.multiplicity`).
A difference is marked significant when its pooled CI excludes zero, every seed's own
difference has the same sign, and its Holm-adjusted p-value is below 0.05. Every
registered ``"scores"`` metric is tested, a plugin's included. Beside it, single-label AUROC differences get the paired permutation test
(:func:`bench.api.paired_permutation`: the two rows' scores swapped within patients,
9999 permutations seeded with the bootstrap seed); ``permutation_p`` is its largest
p-value over the seeds tested, None for other metrics and multi-label tasks. When
predictions are missing or do not cover the same records, the difference is reported
without a test and the note says why. When the second row's value is 0 the
relative difference is ±inf (shown as such), not a vanished row; when both are 0 it is
NaN (printed "—").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from bench.leaderboard.aggregate import DEFAULT_PROTOCOL, Cell, RowKey, TableKey
from bench.leaderboard.multiplicity import ALPHA, holm
from bench.leaderboard.replicates import Replicates, SeedValues

from bench.api import MetricSpec, paired_bootstrap, paired_permutation

#: Kinds of comparison, most specific first (a pair named by several gets the first).
KINDS = ("pretraining", "control", "contrast", "reference")
#: A Finding needs its seeds to agree in direction, so at least two of them.
MIN_FINDING_SEEDS = 2
PROBE = "linear-probe"
RANDOM_INIT = "random"


#: :attr:`Difference.shortfall` of a comparison whose pooled CI includes zero.
NO_DIFFERENCE = "no significant difference"
#: … whose CI and Holm p pass but that was tested on one seed (nothing to agree with).
ONE_SEED = "one seed only, not a finding"
#: … whose CI and Holm p pass but whose seeds' differences have different signs.
SEEDS_DISAGREE = "the seeds disagree in direction, not a finding"


def seeds_agree(seed_diffs: Sequence[float]) -> bool | None:
    """Whether every seed's difference has the same (non-zero) sign; None with fewer than
    :data:`MIN_FINDING_SEEDS` seeds (nothing to agree with)."""
    if len(seed_diffs) < MIN_FINDING_SEEDS:  # one seed cannot agree with another
        return None
    return all(d > 0 for d in seed_diffs) or all(d < 0 for d in seed_diffs)


@dataclass(frozen=True)
class Difference:
    """Relative difference of row ``reference`` to ``row`` at one fraction of one table.

    ``reference`` is the first row of the comparison (the reference model, the pretrained
    row, the first model of a contrast), ``row`` the second; ``reference_value`` and
    ``value`` are their seed means.
    """

    table: TableKey
    row: RowKey
    reference: RowKey
    fraction: float
    rel_diff_pct: float
    significant: bool | None  # None: not tested (see ``note``)
    p_value: float | None  # pooled over the seeds (see the module docstring)
    seeds_tested: tuple[int, ...]
    note: str = ""
    kind: str = "reference"  # one of KINDS
    reference_value: float = math.nan
    value: float = math.nan
    permutation_p: float | None = None  # AUROC only: the paired permutation test's max p
    #: Pooled paired 95 % CI of the absolute difference ``first − second``.
    ci_low: float | None = None
    ci_high: float | None = None
    #: Each tested seed's own difference ``first − second`` (recomputed from predictions).
    seed_diffs: tuple[float, ...] = ()
    #: Holm-adjusted pooled p-value over the comparisons of the table.
    p_holm: float | None = None

    @property
    def seeds_agree(self) -> bool | None:
        """:func:`seeds_agree` of the tested seeds' differences."""
        return seeds_agree(self.seed_diffs)

    @property
    def ci_excludes_zero(self) -> bool | None:
        """Whether the pooled paired CI excludes zero (None when not tested)."""
        if self.ci_low is None or self.ci_high is None:
            return None
        return self.ci_low > 0 or self.ci_high < 0

    @property
    def shortfall(self) -> str:
        """Why a tested comparison is not significant, in words ("" when it is significant
        or was not tested): its pooled CI includes zero; it fails Holm's correction; it was
        tested on one seed only; or its seeds disagree in direction (the first that holds,
        in this order)."""
        if self.significant is not False:
            return ""
        if not self.ci_excludes_zero:
            return NO_DIFFERENCE
        if self.p_holm is None or self.p_holm >= ALPHA:
            return "not significant after Holm's correction"
        if self.seeds_agree is None:
            return ONE_SEED
        return SEEDS_DISAGREE


def parse_contrast(text: str) -> tuple[str, str]:
    """``"ecg-fm:resnet1d"`` → ``("ecg-fm", "resnet1d")``; ``ValueError`` otherwise."""
    first, sep, second = text.partition(":")
    if not sep or not first or not second or ":" in second or first == second:
        raise ValueError(
            f"contrast {text!r} is not FIRST:SECOND with two different model names "
            "(e.g. ecg-fm:resnet1d)"
        )
    return first, second


def find_reference(rows: Sequence[RowKey], reference: str) -> RowKey | None:
    """The row of ``reference`` (``model`` or ``model:init``) among ``rows``.

    When a model has several rows, a finetune row is preferred, then a non-random init
    (the pretrained model is the one the paper compares), then the first in sorted order.
    """
    model, _, init = reference.partition(":")
    matches = sorted(r for r in rows if r[0] == model and (not init or r[1] == init))
    if not matches:
        return None
    return min(matches, key=lambda r: (r[5] != DEFAULT_PROTOCOL, r[1] == RANDOM_INIT))


def _random_twin(rows: Sequence[RowKey], row: RowKey) -> RowKey | None:
    """The random-init row of ``row``'s model, architecture and protocol (same selection
    preferred), or None."""
    twins = sorted(
        r for r in rows if r[1] == RANDOM_INIT and (r[0], r[3], r[5]) == (row[0], row[3], row[5])
    )
    return min(twins, key=lambda r: r[2] != row[2]) if twins else None


def _random_probe(rows: Sequence[RowKey], row: RowKey) -> RowKey | None:
    """The random-init linear-probe row of ``row``'s model and architecture (same
    selection preferred), or None; None for a probe row, whose control is its twin."""
    if row[5] == PROBE:
        return None
    probes = sorted(
        r
        for r in rows
        if r[1] == RANDOM_INIT and r[5] == PROBE and (r[0], r[3]) == (row[0], row[3])
    )
    return min(probes, key=lambda r: r[2] != row[2]) if probes else None


def comparison_pairs(
    rows: Sequence[RowKey], reference: str | None, contrasts: Sequence[tuple[str, str]]
) -> dict[tuple[RowKey, RowKey], str]:
    """(first row, second row) → kind, for the rows of one table (no ``reference`` kind
    when ``reference`` is None)."""
    kinds: dict[tuple[RowKey, RowKey], str] = {}
    for row in rows:
        twin = _random_twin(rows, row) if row[1] not in (RANDOM_INIT, "") else None
        if twin is not None:
            kinds[(row, twin)] = "pretraining"
        control = _random_probe(rows, row) if row[1] not in (RANDOM_INIT, "") else None
        if control is not None:
            kinds.setdefault((row, control), "control")
    for first, second in contrasts:
        for protocol in sorted({r[5] for r in rows}):
            same = [r for r in rows if r[5] == protocol]
            a, b = find_reference(same, first), find_reference(same, second)
            if a is not None and b is not None:
                kinds.setdefault((a, b), "contrast")
    ref = find_reference(rows, reference) if reference is not None else None
    if ref is not None:
        for row in rows:
            if row != ref:
                kinds.setdefault((ref, row), "reference")
    return kinds


@dataclass(frozen=True)
class _Test:
    """Outcome of the paired tests of one pair of cells (see :class:`Difference`)."""

    p_value: float | None = None
    seeds: tuple[int, ...] = ()
    note: str = ""
    permutation_p: float | None = None
    ci: tuple[float, float] | None = None
    seed_diffs: tuple[float, ...] = ()


def _permutation_p(
    metric: str, pairs: Sequence[tuple[SeedValues, SeedValues]], seed: int
) -> float | None:
    """Largest paired permutation p-value over the seeds' ``pairs`` for a single-label
    AUROC, else None (the permutation test's metric is AUROC)."""
    if metric != "auroc" or any(a.labels.shape[1] != 1 for a, _ in pairs):
        return None
    p_values = []
    for a, b in pairs:
        y = a.labels[:, 0]
        if y.all() or not y.any():
            return None
        result = paired_permutation(y, a.scores[:, 0], b.scores[:, 0], a.groups, seed=seed)
        p_values.append(float(result["p_value"]))
    return max(p_values)


def _test_cell(first: Cell, second: Cell, values: Replicates) -> _Test:
    """The paired tests of one pair of cells; a cell that did not converge is not tested,
    so no finding rests on it."""
    stopped = [c.model for c in (first, second) if c.converged is False]
    if stopped:
        return _Test(note=f"{' and '.join(stopped)} did not converge")
    spec = values.spec(first.metric)
    if isinstance(spec, str):
        return _Test(note=f"no paired test: {spec}")
    first_by_seed = {item.record.seed: item for item in first.records}
    second_by_seed = {item.record.seed: item for item in second.records}
    seeds = tuple(sorted(set(first_by_seed) & set(second_by_seed)))
    if not seeds:
        return _Test(note=f"{first.model} and {second.model} have no seed in common")
    pairs = []
    for s in seeds:
        a, b = values.of(first_by_seed[s]), values.of(second_by_seed[s])
        if isinstance(a, str) or isinstance(b, str):
            return _Test(note=a if isinstance(a, str) else str(b))
        if not a.pairs_with(b):
            who = f"{first.model} and {second.model} (seed {s})"
            return _Test(note=f"predictions of {who} do not cover the same test records")
        pairs.append((a, b))
    pooled = paired_bootstrap(
        np.concatenate([a.values for a, _ in pairs]),
        np.concatenate([b.values for _, b in pairs]),
        float(np.mean([a.point for a, _ in pairs])),
        float(np.mean([b.point for _, b in pairs])),
    )
    low, high = pooled["diff_ci"]
    return _Test(
        p_value=wald_p(float(pooled["diff"]), pooled_diffs(pairs)),
        seeds=seeds,
        permutation_p=_permutation_p(first.metric, pairs, values.seed),
        ci=None if math.isnan(low) else (float(low), float(high)),
        seed_diffs=tuple(a.point - b.point for a, b in pairs),
    )


def pooled_diffs(pairs: Sequence[tuple[SeedValues, SeedValues]]) -> np.ndarray:
    """The seeds' finite paired replicate differences ``a − b``, concatenated."""
    diffs = np.concatenate([a.values - b.values for a, b in pairs])
    return diffs[np.isfinite(diffs)]


def wald_p(point: float, diffs: np.ndarray) -> float:
    """Two-sided ``2 Φ(−|point| / sd(diffs))``; 1 when the standard error is not positive
    and ``point`` is 0, 0 when it is not positive and ``point`` is not."""
    se = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else 0.0
    if not se > 0:
        return 1.0 if point == 0 else 0.0
    return math.erfc(abs(point) / se / math.sqrt(2))


def relative_difference_pct(ref: float, other: float) -> float:
    """``100 (ref − other) / other``; ±inf when only ``other`` is 0, NaN when both are
    (no relative difference exists; printed "—")."""
    if other == 0:
        return math.nan if ref == 0 else math.copysign(math.inf, ref)
    return 100.0 * (ref - other) / other


def differences(
    cells: Sequence[Cell],
    reference: str | None,
    *,
    contrasts: Sequence[tuple[str, str]] = (),
    replicates: int = 500,
    seed: int = 0,
    metrics: Mapping[str, MetricSpec] | None = None,
    values: Replicates | None = None,
) -> list[Difference]:
    """Every comparison (see the module docstring) per table and fraction, sorted by
    table, kind (:data:`KINDS` order), rows and fraction.

    ``values`` (default: a fresh :class:`Replicates` of ``replicates`` resamples drawn
    with ``seed``, scored with ``metrics``) holds the records' values on the resamples.
    """
    values = values or Replicates(replicates, seed, metrics)
    by_table: dict[TableKey, dict[tuple[RowKey, float], Cell]] = {}
    for cell in cells:
        by_table.setdefault(cell.table, {})[(cell.row, cell.fraction)] = cell
    out: list[Difference] = []
    for _, grid in sorted(by_table.items()):
        start = len(out)
        rows = sorted({row for row, _ in grid})
        pairs = comparison_pairs(rows, reference, contrasts)
        ordered = sorted(pairs.items(), key=lambda item: (KINDS.index(item[1]), item[0]))
        for (first_row, second_row), kind in ordered:
            for fraction in sorted({f for _, f in grid}):
                first, second = grid.get((first_row, fraction)), grid.get((second_row, fraction))
                if first is None or second is None:
                    continue
                out.append(compare_cells(first, second, values, kind))
        out[start:] = decide(out[start:])
    return out


def compare_cells(first: Cell, second: Cell, values: Replicates, kind: str) -> Difference:
    """The paired, pooled comparison of two cells at one fraction of one table, before
    the Holm correction (:func:`decide` sets ``p_holm`` and ``significant``)."""
    test = _test_cell(first, second, values)
    return Difference(
        table=first.table,
        row=second.row,
        reference=first.row,
        fraction=first.fraction,
        rel_diff_pct=relative_difference_pct(first.mean, second.mean),
        significant=None,
        p_value=test.p_value,
        seeds_tested=test.seeds,
        note=test.note,
        kind=kind,
        reference_value=first.mean,
        value=second.mean,
        permutation_p=test.permutation_p,
        ci_low=None if test.ci is None else test.ci[0],
        ci_high=None if test.ci is None else test.ci[1],
        seed_diffs=test.seed_diffs,
    )


def decide(diffs: Sequence[Difference]) -> list[Difference]:
    """One family of comparisons (a table's) with their Holm-adjusted p-values and
    verdicts: a difference is significant when its pooled CI excludes zero, its seeds (at
    least :data:`MIN_FINDING_SEEDS`) agree in direction and its Holm-adjusted p-value is
    below :data:`ALPHA` (None when untested)."""
    tested = [i for i, d in enumerate(diffs) if d.p_value is not None]
    adjusted = dict(zip(tested, holm([diffs[i].p_value or 0.0 for i in tested]), strict=True))
    out = []
    for i, d in enumerate(diffs):
        if i not in adjusted:
            out.append(d)
            continue
        verdict = bool(d.ci_excludes_zero and d.seeds_agree and adjusted[i] < ALPHA)
        out.append(replace(d, p_holm=adjusted[i], significant=verdict))
    return out
