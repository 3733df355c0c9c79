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

Multi-label tasks (``y_true``/``y_score`` ``(n, K)``) are broken down as the harness's
macro scores are (:func:`bench.api.macro_values`): within a subgroup each label is scored
under the rule above (at least :data:`MIN_POSITIVES` positives of that label in the
subgroup and a negative; the others are listed under ``labels`` with the reason), and the
subgroup's value is the mean over its scorable labels, on the full set and replicate by
replicate (a label undefined on a replicate contributes its full-sample value, counted in
``filled_label_values``); a subgroup with no scorable label is listed, not scored. The gap
is taken between those macro values on the same resamples; when the two subgroups of the
gap do not score the same labels, ``gap["same_labels"]`` is false and the gap mixes a
difference in labels with one in subgroups.

The metric's value is the largest gap over the dimensions (lower is better; 0 = none), with
that gap's paired CI. With no dimension holding two scored subgroups the value is NaN and
``details["undefined"]`` says why, as the bootstrap leaves NaN where a replicate lacks a
class and a macro over no scorable label is NaN. It does not raise: a test set too small for
subgroups (a 20-record LUDB run) is a fact about the data, and an exception would stop
``bench run``/``bench rescore`` for every other cell and metric of the grid. Malformed
input (a covariate whose length is not the test set's) raises :class:`ValueError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    #: Multi-label: each label's own :class:`Subgroup` within this subgroup (its
    #: ``n_positive`` that label's positives), and the replicate values filled in.
    labels: tuple[Subgroup, ...] = ()
    filled: int = 0

    def to_dict(self) -> dict[str, Any]:
        """``{n, n_positive, value, ci_low, ci_high, valid_replicates}`` or
        ``{n, n_positive, "not scored": reason}``; multi-label adds ``labels`` (label name
        → its own entry), ``labels_scored`` and ``filled_label_values``."""
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
        if self.labels:
            entry["labels"] = {label.name: label.to_dict() for label in self.labels}
            entry["labels_scored"] = self.scored_labels
            entry["filled_label_values"] = self.filled
        return entry

    @property
    def scored_labels(self) -> list[str]:
        """The labels of a multi-label subgroup's macro."""
        return [label.name for label in self.labels if label.result is not None]


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


def score_multilabel_subgroup(
    metric: str,
    name: str,
    members: np.ndarray,
    y_true: np.ndarray,
    y_score: np.ndarray,
    resamples: np.ndarray,
    label_names: Sequence[str],
    level: float = DEFAULT_LEVEL,
) -> Subgroup:
    """``metric`` macro-averaged over the labels (columns of ``y_true``/``y_score``
    ``(n, K)``, named ``label_names``) scorable within the subgroup ``members``, each label
    scored by :func:`score_subgroup` (see the module docstring)."""
    labels = tuple(
        score_subgroup(metric, label, members, y_true[:, k], y_score[:, k], resamples, level)
        for k, label in enumerate(label_names)
    )
    n, n_positive = int(members.sum()), int(y_true[members].any(axis=1).sum())
    scored = [label.result for label in labels if label.result is not None]
    if not scored:
        reason = f"no label with >= {MIN_POSITIVES} positive records and a negative"
        return Subgroup(name, n, n_positive, None, reason, labels)
    values = np.stack([r.values for r in scored])
    points = np.array([r.point for r in scored])
    undefined = ~np.isfinite(values)
    filled = np.where(undefined, points[:, None], values)
    result = BootstrapResult.of(points.mean(), filled.mean(axis=0), level)
    return Subgroup(name, n, n_positive, result, labels=labels, filled=int(undefined.sum()))


def dimension_entry(
    metric: str,
    labels: np.ndarray,
    y_true: np.ndarray,
    y_score: np.ndarray,
    resamples: np.ndarray,
    level: float = DEFAULT_LEVEL,
    label_names: Sequence[str] = (),
) -> dict[str, Any]:
    """One dimension's details: ``unknown`` (records left out), ``subgroups`` (name →
    :meth:`Subgroup.to_dict`) and ``gap`` (best minus worst scored subgroup with its paired
    CI and p-value; ``None`` with a ``no gap`` reason when fewer than two are scored).
    ``label_names`` (one per column of ``(n, K)`` labels) makes it multi-label."""
    known = labels != ""
    groups = [
        score_multilabel_subgroup(
            metric, name, labels == name, y_true, y_score, resamples, label_names, level
        )
        if label_names
        else score_subgroup(metric, name, labels == name, y_true, y_score, resamples, level)
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
    by_name = {group.name: group for group in groups}
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
    if label_names:
        pair = (by_name[best_name].scored_labels, by_name[worst_name].scored_labels)
        entry["gap"]["same_labels"] = pair[0] == pair[1]
    return entry


def _checked(
    y_true: np.ndarray, y_score: np.ndarray, labels: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Binary ``(n,)`` or multi-label ``(n, K)`` labels and scores, validated, and the
    label names of a multi-label set (``labels``, else ``"0"``…``"K-1"``; ``()`` binary)."""
    y, s = np.asarray(y_true), np.asarray(y_score)
    if y.ndim != 2:
        return (*check_binary_inputs(y, s), ())
    if s.shape != y.shape:
        raise ValueError(f"multi-label y_score has shape {s.shape}; expected {y.shape}")
    names = tuple(labels) if labels is not None else tuple(str(k) for k in range(y.shape[1]))
    if len(names) != y.shape[1]:
        raise ValueError(f"{len(names)} label names for {y.shape[1]} label columns")
    columns = [check_binary_inputs(y[:, k], s[:, k]) for k in range(y.shape[1])]
    return np.stack([c[0] for c in columns], 1), np.stack([c[1] for c in columns], 1), names


def subgroup_breakdown(
    metric: str,
    y_true: np.ndarray,
    y_score: np.ndarray,
    covariates: Mapping[str, Any],
    resamples: np.ndarray,
    level: float = DEFAULT_LEVEL,
    labels: Sequence[str] | None = None,
) -> MetricValue:
    """``metric`` per subgroup of every dimension in ``covariates`` and the largest gap
    (the module docstring), on the multiplicity matrix ``resamples`` ``(R, n)``.
    ``(n, K)`` labels and scores are a multi-label set, ``labels`` its label names."""
    y, s, names = _checked(y_true, y_score, labels)
    weights = np.asarray(resamples)
    if weights.ndim != 2 or weights.shape[1] != len(y):
        raise ValueError(
            f"resamples must be a (replicates, n={len(y)}) multiplicity matrix, "
            f"got shape {weights.shape}"
        )
    dimensions = {
        dimension: dimension_entry(metric, groups, y, s, weights, level, names)
        for dimension, groups in subgroup_labels(covariates, len(y)).items()
    }
    details: dict[str, Any] = {
        "metric": metric,
        "min_positives": MIN_POSITIVES,
        **({"labels": list(names)} if names else {}),
        "dimensions": dimensions,
        "largest_gap": None,
        "replicates": len(weights),
        "valid_replicates": 0,
    }
    gaps = [(d, e["gap"]) for d, e in dimensions.items() if e["gap"] is not None]
    if not gaps:
        details["undefined"] = (
            f"no dimension has two subgroups with{' a label of' if names else ''} "
            f">= {MIN_POSITIVES} positive records and a negative "
            f"(dimensions: {', '.join(dimensions) or 'none in the covariates'})"
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
    labels = data.labels or None
    value = subgroup_breakdown(
        metric, data.y_true, data.y_score, data.covariates, resamples, labels=labels
    )
    value.details.update(unit=unit, seed=seed)
    return value
