"""Survival metrics — Harrell's C-index and the time-dependent AUROC — on many bootstrap
replicates at once.

Inputs per record: the event indicator ``y_true`` (1: the event was observed at ``times``,
0: censored there), a risk score ``y_score`` (higher meaning an earlier event) and the
follow-up time :attr:`ScoreData.times`. A replicate is a row of record multiplicities
``weights[r, i]`` (see :func:`plugins.metrics.bootstrap.bootstrap_indices`); its metric
equals the metric on the materialised resample (``np.repeat(index, weights[r])``). Risk
scores tie only when exactly equal.

- ``c_index`` (Harrell): a pair (i, j) is comparable when i has an event and j a later
  follow-up time, or the same time censored (censored at a tied time counts as later;
  two events at one time form no pair). C = Σ w_i·w_j·(1[s_i > s_j] + ½·1[s_i = s_j]) / Σ
  w_i·w_j over comparable pairs. One compiled pass per replicate row walks the records
  from the latest time down with a Fenwick tree over the risk ranks: O(n log n).
- ``td_auroc`` (cumulative/dynamic AUC with inverse-probability-of-censoring weights,
  Uno et al. 2007, as scikit-survival's ``cumulative_dynamic_auc``): at horizon τ, cases
  are events with t_i ≤ τ, weighted ω_i = w_i / Ĝ(t_i), controls are records with
  t_j > τ, weighted w_j; AUC(τ) = Σ ω_i·w_j·(1[s_i > s_j] + ½·1[s_i = s_j]) / (Σ ω_i · Σ
  w_j). Ĝ is the Kaplan–Meier estimate of the censoring distribution on the same
  (resampled) test set, events leaving the risk set before censorings at a tied time,
  evaluated at t_i including the censorings at t_i. One compiled pass per row and horizon.

A replicate on which a metric is undefined — no comparable pair; at a horizon, no event
at or before it or no record followed beyond it — gives NaN; on the full set the metric is
then NaN with the reason in ``details["undefined"]``.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from bench.plugins.metrics.bootstrap import BootstrapResult, kernel_bootstrap, resamples_of
from bench.plugins.metrics.ranking import integer_weights, over_row_parts

from bench.api import MetricValue, ScoreData, Unit, check_binary_inputs


def check_survival_inputs(
    y_true: np.ndarray, y_score: np.ndarray, times: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate event indicators, finite risk scores and finite follow-up times of equal
    length; return them as bool, float and float arrays."""
    events, risks = check_binary_inputs(y_true, y_score)
    if times is None:
        raise ValueError("survival metrics need ScoreData.times (each record's follow-up time)")
    t = np.asarray(times, dtype=np.float64)
    if t.shape != risks.shape:
        raise ValueError(f"times must be 1-D like y_true {risks.shape}, got shape {t.shape}")
    if not np.isfinite(t).all():
        raise ValueError("times contains NaN or infinite values")
    return events, risks, t


def _risk_ranks(risks: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense rank of every risk score (equal scores share one) and the number of ranks."""
    unique, ranks = np.unique(risks, return_inverse=True)
    return ranks.astype(np.int64), len(unique)


@numba.njit(nogil=True, cache=True)
def _fenwick_add(tree: np.ndarray, rank: int, value: int) -> None:
    position = rank + 1
    while position < tree.shape[0]:
        tree[position] += value
        position += position & -position


@numba.njit(nogil=True, cache=True)
def _fenwick_below(tree: np.ndarray, rank: int) -> int:
    """Sum of the values added at ranks below ``rank``."""
    total = 0
    position = rank
    while position > 0:
        total += tree[position]
        position -= position & -position
    return total


@numba.njit(nogil=True, cache=True)
def _c_index_rows(
    weights: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    event: np.ndarray,
    rank: np.ndarray,
    n_ranks: int,
    out: np.ndarray,
) -> None:
    """``out[r]`` = Harrell's C of replicate row ``r``. ``order`` lists the records by
    descending time, ``starts`` where each tied time begins (and the end). Per time, the
    censored join the tree first (they count as later than this time's events), then each
    event counts the tree's weight below / at its risk rank, then the events join."""
    tree = np.zeros(n_ranks + 1, dtype=np.int64)
    for r in range(weights.shape[0]):
        tree[:] = 0
        row = weights[r]
        in_tree = 0
        twice_concordant = 0
        comparable = 0
        for g in range(starts.shape[0] - 1):
            for k in range(starts[g], starts[g + 1]):
                i = order[k]
                if not event[i] and row[i] > 0:
                    _fenwick_add(tree, rank[i], row[i])
                    in_tree += row[i]
            for k in range(starts[g], starts[g + 1]):
                i = order[k]
                if event[i] and row[i] > 0:
                    below = _fenwick_below(tree, rank[i])
                    at_most = _fenwick_below(tree, rank[i] + 1)
                    twice_concordant += row[i] * (below + at_most)
                    comparable += row[i] * in_tree
            for k in range(starts[g], starts[g + 1]):
                i = order[k]
                if event[i] and row[i] > 0:
                    _fenwick_add(tree, rank[i], row[i])
                    in_tree += row[i]
        out[r] = twice_concordant / (2.0 * comparable) if comparable > 0 else np.nan


def c_index_replicates(
    events: np.ndarray, risks: np.ndarray, times: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Harrell's C-index (see the module docstring) on every row of the multiplicity
    matrix ``weights`` ``(R, n)``; NaN where a row has no comparable pair."""
    e, s, t = check_survival_inputs(events, risks, times)
    w = integer_weights(weights, len(e)).astype(np.int64)
    order = np.argsort(-t, kind="stable")
    sorted_times = t[order]
    starts = np.flatnonzero(np.r_[True, sorted_times[1:] != sorted_times[:-1], True])
    rank, n_ranks = _risk_ranks(s)
    out = np.empty(len(w), dtype=np.float64)
    over_row_parts(
        lambda part: _c_index_rows(w[part], order, starts, e, rank, n_ranks, out[part]), len(w)
    )
    return out


@numba.njit(nogil=True, cache=True)
def _td_auroc_rows(
    weights: np.ndarray,
    order: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    event: np.ndarray,
    rank: np.ndarray,
    n_ranks: int,
    splits: np.ndarray,
    out: np.ndarray,
) -> None:
    """``out[r, h]`` = cumulative/dynamic AUC of row ``r`` at horizon ``h``. ``order``
    lists the records by ascending time, ``group[k]`` is the tied-time group of
    ``order[k]``, and the first ``splits[h]`` of ``order`` have times at most horizon
    ``h``. The censoring Kaplan–Meier estimate is computed per row, then per horizon the
    controls' and the cases' (IPC-weighted) weights are summed per risk rank and walked
    once in ascending risk."""
    events_at = np.zeros(n_groups)
    censored_at = np.zeros(n_groups)
    total_at = np.zeros(n_groups)
    censoring = np.zeros(n_groups)
    controls = np.zeros(n_ranks)
    cases = np.zeros(n_ranks)
    for r in range(weights.shape[0]):
        row = weights[r]
        events_at[:] = 0.0
        censored_at[:] = 0.0
        total_at[:] = 0.0
        at_risk = 0.0
        for k in range(order.shape[0]):
            i = order[k]
            total_at[group[k]] += row[i]
            at_risk += row[i]
            if event[i]:
                events_at[group[k]] += row[i]
            else:
                censored_at[group[k]] += row[i]
        survival = 1.0
        for g in range(n_groups):
            if censored_at[g] > 0:
                survival *= 1.0 - censored_at[g] / (at_risk - events_at[g])
            censoring[g] = survival
            at_risk -= total_at[g]
        for h in range(splits.shape[0]):
            controls[:] = 0.0
            cases[:] = 0.0
            control_total = 0.0
            for k in range(splits[h], order.shape[0]):
                i = order[k]
                controls[rank[i]] += row[i]
                control_total += row[i]
            if control_total == 0:  # also whenever Ĝ = 0 at a case's time
                out[r, h] = np.nan
                continue
            case_total = 0.0
            for k in range(splits[h]):
                i = order[k]
                if event[i] and row[i] > 0:
                    weight = row[i] / censoring[group[k]]
                    cases[rank[i]] += weight
                    case_total += weight
            if case_total == 0:
                out[r, h] = np.nan
                continue
            below = 0.0
            concordant = 0.0
            for q in range(n_ranks):
                concordant += cases[q] * (below + 0.5 * controls[q])
                below += controls[q]
            out[r, h] = concordant / (case_total * control_total)


def check_horizons(horizons: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """The horizons as a non-empty 1-D float array of finite values."""
    h = np.asarray(horizons, dtype=np.float64)
    if h.ndim != 1 or not len(h) or not np.isfinite(h).all():
        raise ValueError(
            f"td_auroc needs ScoreData.horizons: one or more finite times, got {horizons!r}"
        )
    return h


def td_auroc_replicates(
    events: np.ndarray,
    risks: np.ndarray,
    times: np.ndarray,
    horizons: tuple[float, ...] | np.ndarray,
    weights: np.ndarray,
) -> np.ndarray:
    """Cumulative/dynamic AUC (see the module docstring) at every horizon on every row of
    the multiplicity matrix ``weights`` ``(R, n)``: an ``(R, len(horizons))`` array, NaN
    where a row has no case or no control at a horizon."""
    e, s, t = check_survival_inputs(events, risks, times)
    h = check_horizons(horizons)
    w = integer_weights(weights, len(e)).astype(np.int64)
    order = np.argsort(t, kind="stable")
    sorted_times = t[order]
    group = np.cumsum(np.r_[True, sorted_times[1:] != sorted_times[:-1]][: len(t)]) - 1
    splits = np.searchsorted(sorted_times, h, side="right")
    rank, n_ranks = _risk_ranks(s)
    out = np.empty((len(w), len(h)), dtype=np.float64)
    n_groups = int(group[-1]) + 1 if len(group) else 0
    over_row_parts(
        lambda part: _td_auroc_rows(
            w[part], order, group, n_groups, e, rank, n_ranks, splits, out[part]
        ),
        len(w),
    )
    return out


def _horizon_mean(points: np.ndarray, values: np.ndarray) -> tuple[float, np.ndarray]:
    """The mean over the horizons scorable on the full set (``points``, ``(H,)``) of the
    full set and of every replicate row of ``values`` ``(R, H)`` (NaN where one of those
    horizons is undefined on the row); NaN throughout when none is scorable."""
    scored = np.isfinite(points)
    if not scored.any():
        return float("nan"), np.full(len(values), np.nan)
    return float(points[scored].mean()), values[:, scored].mean(axis=1)


def survival_replicates(
    name: str,
    y_true: np.ndarray,
    y_score: np.ndarray,
    weights: np.ndarray,
    *,
    times: np.ndarray,
    horizons: tuple[float, ...] = (),
) -> np.ndarray:
    """Survival metric ``name`` — ``c_index``, or ``td_auroc``'s mean over the horizons
    scorable on the full set — on every row of the multiplicity matrix ``weights``: the
    values the metric's CI is the percentile interval of."""
    if name == "c_index":
        return c_index_replicates(y_true, y_score, times, weights)
    if name == "td_auroc":
        ones = np.ones((1, len(np.asarray(y_true))), dtype=np.int32)
        points = td_auroc_replicates(y_true, y_score, times, horizons, ones)[0]
        values = td_auroc_replicates(y_true, y_score, times, horizons, weights)
        return _horizon_mean(points, values)[1]
    raise ValueError(f"unknown survival metric {name!r}; choose from ('c_index', 'td_auroc')")


def c_index(
    data: ScoreData, replicates: int | None = None, seed: int = 0, unit: Unit = "patient"
) -> MetricValue:
    """Harrell's C-index of one test set with its percentile CI on the bootstrap resamples
    (the shared ``data.replicate_indices``, see
    :func:`plugins.metrics.bootstrap.resamples_of`); NaN with ``details["undefined"]``
    when no pair is comparable."""
    events, risks, times = check_survival_inputs(data.y_true, data.y_score, data.times)
    resamples = resamples_of(data, replicates, seed, unit)

    def kernel(weights: np.ndarray) -> np.ndarray:
        return c_index_replicates(events, risks, times, weights)

    result = kernel_bootstrap(kernel, len(events), resamples)
    details = {}
    if not np.isfinite(result.point):
        details["undefined"] = (
            "no comparable pair: no event is followed by a later follow-up time "
            f"({int(events.sum())} events in {len(events)} records)"
        )
    return result.metric_value(unit, seed, **details)


def _horizon_entry(
    horizon: float, result: BootstrapResult, cases: int, controls: int
) -> dict[str, Any]:
    entry: dict[str, Any] = {"horizon": float(horizon), "cases": cases, "controls": controls}
    if np.isfinite(result.point):
        entry.update(
            value=result.point,
            ci_low=result.ci_low,
            ci_high=result.ci_high,
            valid_replicates=result.valid_replicates,
        )
    else:
        missing = "no event at or before it" if not cases else "no record followed beyond it"
        entry.update(value=None, undefined=f"horizon {horizon:g}: {missing}")
    return entry


def td_auroc(
    data: ScoreData, replicates: int | None = None, seed: int = 0, unit: Unit = "patient"
) -> MetricValue:
    """Time-dependent AUROC of one test set at each of ``data.horizons``, each with its
    percentile CI on the bootstrap resamples; the value is their mean over the horizons
    scorable on the test set (a replicate's mean is NaN where one of them is undefined on
    it). ``details["horizons"]`` holds each horizon's value, CI, cases and controls, or
    the reason it is undefined."""
    events, risks, times = check_survival_inputs(data.y_true, data.y_score, data.times)
    horizons = check_horizons(data.horizons)
    resamples = resamples_of(data, replicates, seed, unit)
    ones = np.ones((1, len(events)), dtype=np.int32)
    points = td_auroc_replicates(events, risks, times, horizons, ones)[0]
    values = td_auroc_replicates(events, risks, times, horizons, resamples)
    entries = [
        _horizon_entry(
            horizon,
            BootstrapResult.of(points[h], values[:, h]),
            cases=int((events & (times <= horizon)).sum()),
            controls=int((times > horizon).sum()),
        )
        for h, horizon in enumerate(horizons)
    ]
    result = BootstrapResult.of(*_horizon_mean(points, values))
    if np.isfinite(result.point):
        return result.metric_value(unit, seed, horizons=entries)
    return result.metric_value(
        unit, seed, horizons=entries, undefined="no horizon can be scored on this test set"
    )
