"""A reference implementation of the board's statistics, written from their definitions.

``bench verify LEADERBOARD_DIR`` (:mod:`bench.leaderboard.verify`) recomputes every number
of the published board with this module. It shares no code with the board's kernels
(:mod:`bench.leaderboard.aggregate`, ``paired``, ``multiplicity``, ``replicates``,
``seeds``, ``tabledata`` and :mod:`bench.statistics`): a bug there would otherwise verify
itself. Metric values come from the independent reference scorer of the submission
checks (:func:`bench.api.replicate_values`: scikit-learn, one replicate at a time), the
resamples from :func:`bench.api.replicate_counts` (the board's shared patient-level
resamples, redrawn from the seed the board states), and the rest is written out here:

- a cell over seeds: the mean, the sample standard deviation, min and max of the seeds'
  values; its CI the percentile interval of all seeds' replicate values pooled;
- a paired difference ``a − b`` of two cells: the difference of the seed means; its CI the
  percentile interval of the seeds' replicate differences concatenated (finite ones);
  ``p = 2 Φ(−|d| / s)`` with ``s`` the sample standard deviation of those differences;
- Holm: the ``i``-th smallest of ``m`` p-values times ``m − i + 1``, the running maximum
  over the sorted order, capped at 1;
- a Finding (†): the CI excludes 0, two or more seeds were tested and every seed's own
  difference has the same non-zero sign, and the Holm-adjusted p is below 0.05.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from bench.api import (
    label_column,
    percentile_interval,
    prediction_labels,
    replicate_counts,
    replicate_values,
    score_column,
)

ALPHA = 0.05


@dataclass(frozen=True)
class SeedResample:
    """One record's metric on its test set and on each of the board's resamples."""

    seed: int
    record_ids: tuple[str, ...]
    labels: np.ndarray
    scores: np.ndarray
    point: float
    values: np.ndarray
    groups: tuple[str, ...] = ()  # each record's patient, in the order of ``record_ids``


class Resamples:
    """The board's shared resamples (``replicates`` drawn with ``seed`` per test set of
    patients), drawn once per test set."""

    def __init__(self, replicates: int, seed: int) -> None:
        self.replicates = replicates
        self.seed = seed
        self._counts: dict[tuple[str, ...], np.ndarray] = {}

    def values(
        self,
        frame: pd.DataFrame,
        metric: str,
        seed: int,
        *,
        min_label_positives: int,
        regression: bool,
    ) -> SeedResample:
        """``metric`` of one record's predictions ``frame`` (its split's rows) on the test
        set and on every resample; the rows in order of their record ids."""
        rows = frame.sort_values("record_id", kind="stable")
        groups = tuple(rows["patient_id"].astype(str))
        if groups not in self._counts:
            self._counts[groups] = replicate_counts(
                np.asarray(groups), self.replicates, self.seed, "patient"
            )
        names = prediction_labels(rows)
        columns = [label_column(n) for n in names] if names else ["label"]
        scores = [score_column(n) for n in names] if names else ["score"]
        y = rows[columns].to_numpy(np.float64)
        s = rows[scores].to_numpy(np.float64)
        if not names:
            y, s = y[:, 0], s[:, 0]
        point, values = replicate_values(
            metric, y, s, self._counts[groups],
            min_label_positives=min_label_positives, regression=regression,
        )  # fmt: skip
        return SeedResample(
            seed, tuple(rows["record_id"].astype(str)), y.reshape(len(y), -1),
            s.reshape(len(s), -1), point, values, groups,
        )  # fmt: skip


@dataclass(frozen=True)
class CellNumbers:
    """A cell's numbers as the board defines them (module docstring)."""

    mean: float
    std: float
    min: float
    max: float
    ci_low: float | None
    ci_high: float | None
    seed_values: dict[int, float]
    identical_seeds: bool
    flagged_seeds: tuple[int, ...]


def cell_numbers(
    seeds: Sequence[SeedResample], seed_bounds: Sequence[tuple[float | None, float | None]]
) -> CellNumbers:
    """The numbers of one cell from its seeds (sorted by seed); ``seed_bounds`` (each
    record's own CI) give the CI where no replicate value is finite."""
    points = [s.point for s in seeds]
    mean = statistics.fmean(points)
    low, high = percentile_interval(np.concatenate([s.values for s in seeds]))
    ci_low: float | None = low
    ci_high: float | None = high
    if np.isnan(low):
        lows = [b[0] for b in seed_bounds]
        highs = [b[1] for b in seed_bounds]
        ci_low = None if None in lows else statistics.fmean(x for x in lows if x is not None)
        ci_high = None if None in highs else statistics.fmean(x for x in highs if x is not None)
    flagged = []
    for s in seeds:
        own_low, own_high = percentile_interval(s.values)
        if np.isfinite([s.point, own_low, own_high]).all() and not own_low <= s.point <= own_high:
            flagged.append(s.seed)
    identical = len(seeds) > 1 and all(
        s.record_ids == seeds[0].record_ids and np.array_equal(s.scores, seeds[0].scores)
        for s in seeds[1:]
    )
    return CellNumbers(
        mean=min(max(mean, min(points)), max(points)),
        std=statistics.stdev(points) if len(points) > 1 else 0.0,
        min=min(points),
        max=max(points),
        ci_low=ci_low,
        ci_high=ci_high,
        seed_values={s.seed: s.point for s in seeds},
        identical_seeds=identical,
        flagged_seeds=tuple(flagged),
    )


@dataclass(frozen=True)
class PairedNumbers:
    """A paired comparison's numbers before Holm (module docstring)."""

    diff: float
    ci_low: float | None
    ci_high: float | None
    p_value: float
    seed_diffs: tuple[float, ...]
    seeds: tuple[int, ...]

    @property
    def seeds_agree(self) -> bool | None:
        """Every seed's difference has the same non-zero sign; None for a single seed."""
        if len(self.seed_diffs) < 2:
            return None
        return all(d > 0 for d in self.seed_diffs) or all(d < 0 for d in self.seed_diffs)


def paired_numbers(first: Sequence[SeedResample], second: Sequence[SeedResample]) -> PairedNumbers:
    """The pooled paired comparison of two cells' common seeds (same order in both)."""
    pooled = np.concatenate([a.values - b.values for a, b in zip(first, second, strict=True)])
    finite = pooled[np.isfinite(pooled)]
    d = statistics.fmean(a.point for a in first) - statistics.fmean(b.point for b in second)
    low, high = percentile_interval(finite)
    sd = float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0
    p = normal_p(d, sd)
    return PairedNumbers(
        diff=d,
        ci_low=None if np.isnan(low) else low,
        ci_high=None if np.isnan(high) else high,
        p_value=p,
        seed_diffs=tuple(a.point - b.point for a, b in zip(first, second, strict=True)),
        seeds=tuple(a.seed for a in first),
    )


def normal_p(point: float, se: float) -> float:
    """Two-sided ``2 Φ(−|point| / se)``; without a positive ``se``, 1 when ``point`` is 0
    and 0 otherwise."""
    if not se > 0:
        return 1.0 if point == 0 else 0.0
    return float(2 * norm.cdf(-abs(point) / se))


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given (module docstring)."""
    m = len(p_values)
    ranked = sorted((p, i) for i, p in enumerate(p_values))
    out = [1.0] * m
    for rank, (_, i) in enumerate(ranked):
        steps = [min(1.0, (m - r) * ranked[r][0]) for r in range(rank + 1)]
        out[i] = max(steps)
    return out


def finding(numbers: PairedNumbers, p_holm: float) -> bool:
    """Whether a comparison is a Finding (marked †): module docstring."""
    excludes = (
        numbers.ci_low is not None
        and numbers.ci_high is not None
        and (numbers.ci_low > 0 or numbers.ci_high < 0)
    )
    return bool(excludes and numbers.seeds_agree and p_holm < ALPHA)


def relative_pct(first: float, second: float) -> float | None:
    """``100 (first − second) / second``; ±inf when only ``second`` is 0, None when both."""
    if second == 0:
        return None if first == 0 else float(np.copysign(np.inf, first))
    return 100.0 * (first - second) / second
