"""Survival metrics (Harrell's C-index, cumulative/dynamic AUROC) against scikit-survival,
through the registered specs, on the shared patient-level resamples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from bench.plugins.metrics.bootstrap import bootstrap_indices
from bench.plugins.metrics.survival import (
    c_index_replicates,
    survival_replicates,
    td_auroc_replicates,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from sksurv.exceptions import NoComparablePairException
from sksurv.metrics import concordance_index_censored, cumulative_dynamic_auc
from sksurv.util import Surv

from bench.api import ScoreData, percentile_ci

HORIZONS = (2.0, 5.0, 10.0)


def _survival_data(n: int = 600, seed: int = 0, resamples: int = 200) -> ScoreData:
    """Exponential event times whose hazard rises with a risk factor, uniform censoring,
    two records per patient; the score is the noisy risk factor."""
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=n)
    event_time = rng.exponential(6.0 * np.exp(-0.8 * factor))
    censor_time = rng.uniform(0.0, 20.0, n)
    times = np.round(np.minimum(event_time, censor_time), 1)  # tied times, as in real data
    events = (event_time <= censor_time).astype(int)
    groups = (np.arange(n) // 2).astype(str)
    matrix = bootstrap_indices(groups, replicates=resamples, seed=1, unit="patient")
    return ScoreData(events, factor + rng.normal(size=n), groups, matrix, times=times,
                     horizons=HORIZONS)  # fmt: skip


def _cumulative_dynamic(events: np.ndarray, times: np.ndarray, risks: np.ndarray,
                        horizons: np.ndarray) -> np.ndarray:  # fmt: skip
    """scikit-survival's AUC(τ), its censoring distribution fitted on the same set."""
    y = Surv.from_arrays(events.astype(bool), times)
    with np.errstate(invalid="ignore"):  # a horizon without cases: NaN, as ours
        return cumulative_dynamic_auc(y, y, risks, horizons)[0]


def test_registered_as_default_survival_metrics(host):
    for name in ("c_index", "td_auroc"):
        spec = host.registries.metrics.get(name)
        assert spec.default and spec.higher_is_better and spec.kind == "scores"
        assert spec.task_kinds == ("survival",)


def test_c_index_value_and_ci_against_scikit_survival(host):
    data = _survival_data()
    value = host.registries.metrics.get("c_index").compute(data, seed=1)
    expected = concordance_index_censored(data.y_true.astype(bool), data.times, data.y_score)[0]
    assert value.value == pytest.approx(expected, rel=1e-12)
    assert value.value > 0.6 and value.ci_low < value.value < value.ci_high
    assert value.details == {"valid_replicates": 200, "replicates": 200, "unit": "patient",
                             "seed": 1}  # fmt: skip


def test_td_auroc_per_horizon_against_scikit_survival(host):
    data = _survival_data()
    value = host.registries.metrics.get("td_auroc").compute(data, seed=1)
    expected = _cumulative_dynamic(data.y_true, data.times, data.y_score, np.array(HORIZONS))
    entries = value.details["horizons"]
    assert [e["horizon"] for e in entries] == list(HORIZONS)
    assert [e["value"] for e in entries] == pytest.approx(expected, rel=1e-12)
    assert value.value == pytest.approx(np.mean(expected), rel=1e-12)
    for entry in entries:
        assert entry["ci_low"] < entry["value"] < entry["ci_high"]
        assert entry["cases"] == int(((data.times <= entry["horizon"]) & (data.y_true == 1)).sum())
        assert entry["controls"] == int((data.times > entry["horizon"]).sum())
    assert value.ci_low < value.value < value.ci_high
    # Each horizon's CI is its percentile interval over the same resamples as the mean's.
    replicated = td_auroc_replicates(
        data.y_true, data.y_score, data.times, HORIZONS, data.replicate_indices
    )
    assert entries[0]["ci_low"] == pytest.approx(np.quantile(replicated[:, 0], 0.025))
    assert value.ci_high == pytest.approx(np.quantile(replicated.mean(axis=1), 0.975))


@pytest.mark.parametrize("name", ["c_index", "td_auroc"])
def test_ci_is_the_percentile_interval_of_the_survival_replicates(host, name):
    data = _survival_data(n=300)
    value = host.registries.metrics.get(name).compute(data)
    values = survival_replicates(name, data.y_true, data.y_score, data.replicate_indices,
                                 times=data.times, horizons=HORIZONS)  # fmt: skip
    assert (value.ci_low, value.ci_high) == percentile_ci(values)
    assert value.details["valid_replicates"] == np.isfinite(values).sum() == 200


def test_constant_predictor_scores_one_half(host):
    data = _survival_data(n=200)
    flat = ScoreData(data.y_true, np.full(200, 0.3), data.groups, data.replicate_indices,
                     times=data.times, horizons=HORIZONS)  # fmt: skip
    for name in ("c_index", "td_auroc"):
        value = host.registries.metrics.get(name).compute(flat)
        assert value.value == 0.5 and value.ci_low == 0.5 and value.ci_high == 0.5
    model = host.registries.metrics.get("c_index").compute(data)
    assert model.ci_low > 0.5  # the risk factor beats the constant predictor


@st.composite
def _censored_sets(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """Small sets with tied times and tied risks (integers: sksurv's 1e-8 tie tolerance
    then sees the same ties), the latest time a lone censored record (so that sksurv's
    censoring distribution stays positive at every event), and multiplicity rows that
    keep it."""
    n = draw(st.integers(2, 30))
    times = np.array([*draw(st.lists(st.integers(1, 8), min_size=n, max_size=n)), 9], float)
    events = np.array([*draw(st.lists(st.booleans(), min_size=n, max_size=n)), False])
    risks = np.array(draw(st.lists(st.integers(0, 4), min_size=n + 1, max_size=n + 1)), float)
    rows = draw(st.lists(st.lists(st.integers(0, 3), min_size=n, max_size=n), min_size=1,
                         max_size=3))  # fmt: skip
    weights = np.array([[*row, draw(st.integers(1, 2))] for row in rows])
    return events, risks, times, weights


@settings(max_examples=80, deadline=None)
@given(_censored_sets())
def test_c_index_replicates_equal_scikit_survival_on_expanded_rows(sets):
    events, risks, times, weights = sets
    values = c_index_replicates(events, risks, times, weights)
    for row, value in zip(weights, values, strict=True):
        rows = np.repeat(np.arange(len(times)), row)
        try:
            expected = concordance_index_censored(events[rows], times[rows], risks[rows])[0]
        except (NoComparablePairException, ValueError):  # no pair, or no event at all
            assert math.isnan(value)
            continue
        assert value == pytest.approx(expected, rel=1e-12)


@settings(max_examples=80, deadline=None)
@given(_censored_sets(), st.sets(st.integers(1, 8), min_size=1, max_size=3))
def test_td_auroc_replicates_equal_scikit_survival_on_expanded_rows(sets, horizons):
    events, risks, times, weights = sets
    chosen = np.array(sorted(horizons), dtype=float) + 0.5
    values = td_auroc_replicates(events, risks, times, chosen, weights)
    for row, value in zip(weights, values, strict=True):
        rows = np.repeat(np.arange(len(times)), row)
        in_range = chosen >= times[rows].min()  # sksurv's range: [min, max) time
        assert np.isnan(value[~in_range]).all()  # no case at or before them
        if not events[rows].any():  # sksurv refuses all-censored data; no case anywhere
            assert np.isnan(value).all()
        elif in_range.any():
            expected = _cumulative_dynamic(events[rows], times[rows], risks[rows], chosen[in_range])
            np.testing.assert_allclose(value[in_range], expected, rtol=1e-12)


def test_c_index_weights_count_pairs_by_the_product_of_multiplicities():
    # Records: 0 (event at 1, risk 2), 1 (censored at 1, risk 1), 2 (event at 3, risk 3).
    # Comparable pairs: (0, 1) concordant, (0, 2) discordant; record 1 before 2 is censored.
    events, risks, times = np.array([1, 0, 1]), np.array([2.0, 1.0, 3.0]), np.array([1.0, 1, 3])
    weights = np.array([[1, 1, 1], [1, 3, 1], [2, 1, 5], [0, 1, 1]])
    values = c_index_replicates(events, risks, times, weights)
    # C = w0·w1 / (w0·w1 + w0·w2); a row without record 0 has no comparable pair.
    assert values[:3] == pytest.approx([1 / 2, 3 / 4, 2 / 12])
    assert math.isnan(values[3])


def test_unscorable_data_gives_nan_with_the_reason(host):
    data = _survival_data(n=100)
    censored = ScoreData(np.zeros(100, dtype=int), data.y_score, data.groups,
                         data.replicate_indices, times=data.times, horizons=HORIZONS)  # fmt: skip
    c_index = host.registries.metrics.get("c_index").compute(censored)
    assert math.isnan(c_index.value) and c_index.details["valid_replicates"] == 0
    assert c_index.details["undefined"].startswith("no comparable pair")
    td_auroc = host.registries.metrics.get("td_auroc").compute(censored)
    assert math.isnan(td_auroc.value)
    assert td_auroc.details["undefined"] == "no horizon can be scored on this test set"
    # One horizon before the first event, one past the last follow-up: the value is the
    # mean over the horizon in between, the others say why they are missing.
    first_event = data.times[data.y_true == 1].min()
    horizons = (first_event - 0.05, 5.0, float(data.times.max()))
    mixed = ScoreData(data.y_true, data.y_score, data.groups, data.replicate_indices,
                      times=data.times, horizons=horizons)  # fmt: skip
    value = host.registries.metrics.get("td_auroc").compute(mixed)
    entries = value.details["horizons"]
    assert entries[0]["value"] is None and "no event at or before it" in entries[0]["undefined"]
    assert entries[2]["value"] is None and "no record followed beyond" in entries[2]["undefined"]
    assert value.value == entries[1]["value"] and (value.ci_low, value.ci_high) == (
        entries[1]["ci_low"],
        entries[1]["ci_high"],
    )


def test_bad_inputs_name_what_was_expected(host):
    data = _survival_data(n=20)
    without_times = ScoreData(data.y_true, data.y_score, data.groups, data.replicate_indices)
    with pytest.raises(ValueError, match=r"need ScoreData\.times"):
        host.registries.metrics.get("c_index").compute(without_times)
    without_horizons = ScoreData(data.y_true, data.y_score, data.groups,
                                 data.replicate_indices, times=data.times)  # fmt: skip
    with pytest.raises(ValueError, match=r"td_auroc needs ScoreData\.horizons"):
        host.registries.metrics.get("td_auroc").compute(without_horizons)
    with pytest.raises(ValueError, match="times contains NaN"):
        c_index_replicates(data.y_true, data.y_score, np.full(20, np.nan), np.ones((1, 20)))
    with pytest.raises(ValueError, match="unknown survival metric 'brier'"):
        survival_replicates("brier", data.y_true, data.y_score, np.ones((1, 20)), times=data.times)
    with pytest.raises(ValueError, match="binary labels"):
        c_index_replicates(data.times, data.y_score, data.times, np.ones((1, 20)))
