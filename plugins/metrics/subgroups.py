"""Subgroup metrics: AUROC or AUPRC per sex, age band and site, each with its patient-level
CI, and the largest gap within each of those dimensions with a paired-bootstrap CI.

``subgroup_auroc`` and ``subgroup_auprc`` read :attr:`bench.api.ScoreData.covariates`
(what the cohort knows of each test record: ``site`` always, ``sex`` and ``age`` where the
source has them) and are computed from saved predictions, so ``bench rescore RUN --metric
subgroup_auroc`` adds them to a finished run.

Subgroups, per dimension present:

- ``sex``: :func:`bench.api.known_sex` of the manifest value (lower-cased text, e.g. ``m``
  and ``f`` for LUDB, ``0`` and ``1`` for PTB-XL); unknown values form no subgroup;
- ``age``: the band of :func:`bench.api.age_band` (:data:`bench.api.AGE_BANDS`: ``<40``,
  ``40-65`` with both ends included, ``>65``) of :func:`bench.api.age_years` (``">89"``
  reads as 89); unreadable ages form no subgroup;
- ``site``: the site text.

Records whose value is unknown are counted (``unknown``) and left out of that dimension
only. The bands are the ones stratified splits use; metrics have no per-run options, so
other bands mean another metric plugin (see docs/metrics.md).

A subgroup is *scored* when it holds at least :data:`MIN_POSITIVES` positive records and
at least one negative; the others are listed with their size, positives and the reason.

Confidence intervals. The shared multiplicity matrix (``(R, n)``: how often each record is
drawn in each replicate, every record of a patient drawn as often as the patient) is
restricted to the subgroup's columns: replicate ``r`` of a subgroup is replicate ``r`` of
the whole test set seen through the subgroup's records, so the unit stays the patient and
every subgroup (and every model) is evaluated on the same draws. The CI is the percentile
interval over the replicates in which the subgroup holds both classes (``valid_replicates``).

The gap of a dimension with two or more scored subgroups is best minus worst at the point
estimates; its CI is the percentile interval of the same two subgroups' difference replicate
by replicate, with the two-sided bootstrap p-value of :func:`bench.api.paired_bootstrap`.
The pair is chosen on the data: with more than two subgroups the largest observed gap is
biased upwards, and its p-value does not correct for having picked the pair.

The metric's value is the largest gap over the dimensions (lower is better; 0 = none), with
that gap's paired CI. With no dimension holding two scored subgroups the value is NaN and
``details["undefined"]`` says why, as the bootstrap leaves NaN where a replicate lacks a
class and a macro over no scorable label is NaN. It does not raise: a test set too small for
subgroups (a 20-record LUDB run) is a fact about the data, and an exception would stop
``bench run``/``bench rescore`` for every other cell and metric of the grid. Malformed
input (a covariate whose length is not the test set's) raises :class:`ValueError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from bench.plugins.metrics.bootstrap import BootstrapResult, bootstrap_metric, resamples_of

from bench.api import (
    DEFAULT_LEVEL,
    MetricValue,
    ScoreData,
    Unit,
    age_band,
    age_years,
    check_binary_inputs,
    known_sex,
    paired_bootstrap,
)

#: Fewest positive records a subgroup needs to be scored (the issue's default N): below it
#: a bootstrap CI of AUROC/AUPRC is dominated by which few positives a replicate draws.
MIN_POSITIVES = 10
#: The covariates broken down, in the order they are reported (and ties between gaps go).
DIMENSIONS: tuple[str, ...] = ("sex", "age", "site")
#: Age values :func:`bench.api.age_band` could not read.
_UNKNOWN_BAND = "unknown"


def subgroup_labels(covariates: Mapping[str, Any], n: int) -> dict[str, np.ndarray]:
    """Per dimension of :data:`DIMENSIONS` present in ``covariates``, every record's subgroup
    name (``""`` where unknown; see the module docstring)."""
    out: dict[str, np.ndarray] = {}
    for dimension in DIMENSIONS:
        if dimension not in covariates:
            continue
        values = pd.Series(np.asarray(covariates[dimension], dtype=object))
        if len(values) != n:
            raise ValueError(
                f"ScoreData.covariates[{dimension!r}] has {len(values)} values for "
                f"{n} records; expected one per record, aligned with y_true"
            )
        if dimension == "sex":
            names = known_sex(values)
        elif dimension == "age":
            bands = age_band(age_years(values))
            names = bands.mask(bands == _UNKNOWN_BAND)
        else:
            text = values.astype("string").str.strip()
            names = text.mask(text == "")
        out[dimension] = names.fillna("").astype(str).to_numpy()
    return out


@dataclass(frozen=True)
class Subgroup:
    """One subgroup's size and positives, and its metric with CI where scored."""

    name: str
    n: int
    n_positive: int
    result: BootstrapResult | None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """``{n, n_positive, value, ci_low, ci_high, valid_replicates}`` or
        ``{n, n_positive, "not scored": reason}``."""
        entry: dict[str, Any] = {"n": self.n, "n_positive": self.n_positive}
        if self.result is None:
            entry["not scored"] = self.reason
        else:
            entry.update(
                value=self.result.point,
                ci_low=self.result.ci_low,
                ci_high=self.result.ci_high,
                valid_replicates=self.result.valid_replicates,
            )
        return entry


def score_subgroup(
    metric: str,
    name: str,
    members: np.ndarray,
    y_true: np.ndarray,
    y_score: np.ndarray,
    resamples: np.ndarray,
    level: float = DEFAULT_LEVEL,
) -> Subgroup:
    """``metric`` (``"auroc"`` or ``"auprc"``) on the records ``members`` (boolean mask),
    its CI from the columns of the shared ``resamples`` they occupy, or why not scored."""
    n, n_positive = int(members.sum()), int(y_true[members].sum())
    if n_positive < MIN_POSITIVES:
        reason = f"{n_positive} positive record(s), fewer than {MIN_POSITIVES}"
        return Subgroup(name, n, n_positive, None, reason)
    if n_positive == n:
        return Subgroup(name, n, n_positive, None, "no negative record")
    result = bootstrap_metric(
        metric, y_true[members], y_score[members], resamples[:, members], level
    )
    return Subgroup(name, n, n_positive, result)


def dimension_entry(
    metric: str,
    labels: np.ndarray,
    y_true: np.ndarray,
    y_score: np.ndarray,
    resamples: np.ndarray,
    level: float = DEFAULT_LEVEL,
) -> dict[str, Any]:
    """One dimension's details: ``unknown`` (records left out), ``subgroups`` (name →
    :meth:`Subgroup.to_dict`) and ``gap`` (best minus worst scored subgroup with its paired
    CI and p-value; ``None`` with a ``no gap`` reason when fewer than two are scored)."""
    known = labels != ""
    groups = [
        score_subgroup(metric, name, labels == name, y_true, y_score, resamples, level)
        for name in sorted(set(labels[known]))
    ]
    entry: dict[str, Any] = {
        "unknown": int((~known).sum()),
        "subgroups": {group.name: group.to_dict() for group in groups},
        "gap": None,
    }
    scored = sorted((g.result.point, g.name, g.result) for g in groups if g.result is not None)
    if len(scored) < 2:
        entry["no gap"] = f"{len(scored)} scored subgroup(s); a gap needs two"
        return entry
    (_, worst_name, worst), (_, best_name, best) = scored[0], scored[-1]
    paired = paired_bootstrap(best.values, worst.values, best.point, worst.point, level)
    low, high = paired["diff_ci"]
    entry["gap"] = {
        "pair": [best_name, worst_name],
        "value": paired["diff"],
        "ci_low": low,
        "ci_high": high,
        "p_value": paired["p_value"],
        "valid_replicates": paired["valid_replicates"],
    }
    return entry


def subgroup_breakdown(
    metric: str,
    y_true: np.ndarray,
    y_score: np.ndarray,
    covariates: Mapping[str, Any],
    resamples: np.ndarray,
    level: float = DEFAULT_LEVEL,
) -> MetricValue:
    """``metric`` per subgroup of every dimension in ``covariates`` and the largest gap
    (the module docstring), on the multiplicity matrix ``resamples`` ``(R, n)``."""
    y, s = check_binary_inputs(y_true, y_score)
    weights = np.asarray(resamples)
    if weights.ndim != 2 or weights.shape[1] != len(y):
        raise ValueError(
            f"resamples must be a (replicates, n={len(y)}) multiplicity matrix, "
            f"got shape {weights.shape}"
        )
    dimensions = {
        dimension: dimension_entry(metric, labels, y, s, weights, level)
        for dimension, labels in subgroup_labels(covariates, len(y)).items()
    }
    details: dict[str, Any] = {
        "metric": metric,
        "min_positives": MIN_POSITIVES,
        "dimensions": dimensions,
        "largest_gap": None,
        "replicates": len(weights),
        "valid_replicates": 0,
    }
    gaps = [(d, e["gap"]) for d, e in dimensions.items() if e["gap"] is not None]
    if not gaps:
        details["undefined"] = (
            f"no dimension has two subgroups with >= {MIN_POSITIVES} positive records and "
            f"a negative (dimensions: {', '.join(dimensions) or 'none in the covariates'})"
        )
        return MetricValue(float("nan"), details=details)
    dimension, gap = max(gaps, key=lambda item: item[1]["value"])
    details["largest_gap"] = {"dimension": dimension, "pair": gap["pair"]}
    details["valid_replicates"] = gap["valid_replicates"]
    return MetricValue(gap["value"], gap["ci_low"], gap["ci_high"], details)


def subgroup_metric(
    metric: str,
    data: ScoreData,
    replicates: int | None = None,
    seed: int = 0,
    unit: Unit = "patient",
) -> MetricValue:
    """The ``subgroup_<metric>`` score metric on one test set: :func:`subgroup_breakdown` on
    ``data.covariates`` and the shared resamples (drawn from ``data.groups`` with
    ``replicates``/``seed``/``unit`` when ``data`` has none)."""
    resamples = resamples_of(data, replicates, seed, unit)
    value = subgroup_breakdown(metric, data.y_true, data.y_score, data.covariates, resamples)
    value.details.update(unit=unit, seed=seed)
    return value
