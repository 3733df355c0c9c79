"""Regression metrics (MAE, RMSE, R², Pearson's r) against scikit-learn and scipy, through
the registered specs, on the shared patient-level resamples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from bench.plugins.metrics.bootstrap import bootstrap_indices
from bench.plugins.metrics.regression import REGRESSION_METRICS, regression_replicates
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import pearsonr
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from bench.api import ScoreData, metric_replicates, percentile_ci


def _reference(name: str, y: np.ndarray, s: np.ndarray, weight: np.ndarray | None = None) -> float:
    """The metric by scikit-learn/scipy (Pearson's r on the expanded rows when weighted)."""
    if name == "mae":
        return float(mean_absolute_error(y, s, sample_weight=weight))
    if name == "rmse":
        return math.sqrt(mean_squared_error(y, s, sample_weight=weight))
    if name == "r2":
        return float(r2_score(y, s, sample_weight=weight))
    if weight is not None:
        rows = np.repeat(np.arange(len(y)), weight)
        y, s = y[rows], s[rows]
    return float(pearsonr(y, s).statistic)


def _regression_data(n: int = 400, seed: int = 0, resamples: int = 200) -> ScoreData:
    """QT-like targets (ms) with noisy predictions, two records per patient."""
    rng = np.random.default_rng(seed)
    y = rng.normal(400.0, 30.0, n)
    s = 0.8 * y + 80.0 + rng.normal(0.0, 15.0, n)
    groups = (np.arange(n) // 2).astype(str)
    matrix = bootstrap_indices(groups, replicates=resamples, seed=3, unit="patient")
    return ScoreData(y, s, groups, matrix)


def test_registered_as_default_regression_metrics(host):
    kinds = {spec.name: spec.task_kinds for spec in host.registries.metrics}
    assert {name for name, k in kinds.items() if "regression" in k} == set(REGRESSION_METRICS)
    assert {name for name, k in kinds.items() if "survival" in k} == {"c_index", "td_auroc"}
    specs = {name: host.registries.metrics.get(name) for name in REGRESSION_METRICS}
    assert all(spec.default and spec.kind == "scores" for spec in specs.values())
    assert all(spec.task_kinds == ("regression",) for spec in specs.values())
    assert all(spec.replicates is not None for spec in specs.values())
    higher = {name: spec.higher_is_better for name, spec in specs.items()}
    assert higher == {"mae": False, "rmse": False, "r2": True, "pearson": True}


@pytest.mark.parametrize("name", REGRESSION_METRICS)
def test_value_and_ci_on_the_shared_resamples(host, name):
    data = _regression_data()
    spec = host.registries.metrics.get(name)
    value = spec.compute(data, seed=3)
    assert value.value == pytest.approx(_reference(name, data.y_true, data.y_score), rel=1e-12)
    assert value.details == {"valid_replicates": 200, "replicates": 200, "unit": "patient",
                             "seed": 3}  # fmt: skip
    # The CI is the percentile interval of the metric on every shared resample, as the
    # leaderboard's paired test sees it through the spec's vectorised replicates.
    replicated = metric_replicates(
        spec, data.y_true, data.y_score, data.groups, data.replicate_indices
    )
    assert (value.ci_low, value.ci_high) == percentile_ci(replicated)
    assert value.ci_low < value.value < value.ci_high


@st.composite
def _weighted_sets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(2, 30))
    floats = st.integers(-(10**6), 10**6).map(lambda v: v / 1000)  # ties and spread alike
    y = np.array(draw(st.lists(floats, min_size=n, max_size=n)))
    s = np.array(draw(st.lists(floats, min_size=n, max_size=n)))
    weights = np.array(draw(st.lists(st.lists(st.integers(0, 3), min_size=n, max_size=n),
                                     min_size=1, max_size=4)))  # fmt: skip
    return y, s, weights


@settings(max_examples=60, deadline=None)
@given(_weighted_sets(), st.sampled_from(REGRESSION_METRICS))
def test_replicates_equal_the_metric_on_expanded_rows(sets, name):
    y, s, weights = sets
    values = regression_replicates(name, y, s, weights)
    for row, value in zip(weights, values, strict=True):
        rows = np.repeat(np.arange(len(y)), row)
        kept_y, kept_s = y[rows], s[rows]
        constant = len(rows) and (
            np.ptp(kept_y) == 0 or (name == "pearson" and np.ptp(kept_s) == 0)
        )
        if not len(rows) or (name in ("r2", "pearson") and constant):
            assert math.isnan(value)
            continue
        expected = _reference(name, kept_y, kept_s)
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-9 * (1 + abs(expected)))
        if name != "pearson":  # scikit-learn's sample weights give the same number
            assert value == pytest.approx(
                _reference(name, y, s, row), rel=1e-9, abs=1e-9 * (1 + abs(expected))
            )


@pytest.mark.parametrize("centre", [np.mean, np.median])
def test_constant_predictor_mae_is_the_mean_absolute_deviation(host, centre):
    data = _regression_data(n=301, seed=5)
    level = float(centre(data.y_true))
    constant = ScoreData(data.y_true, np.full(301, level), data.groups, data.replicate_indices)
    mae = host.registries.metrics.get("mae").compute(constant)
    assert mae.value == pytest.approx(np.mean(np.abs(data.y_true - level)), rel=1e-12)
    rmse = host.registries.metrics.get("rmse").compute(constant)
    assert rmse.value == pytest.approx(np.sqrt(np.mean((data.y_true - level) ** 2)), rel=1e-12)
    model = host.registries.metrics.get("mae").compute(data)
    assert model.ci_high < mae.ci_low  # the noisy model is clearly better than a constant
    pearson = host.registries.metrics.get("pearson").compute(constant)
    assert math.isnan(pearson.value) and math.isnan(pearson.ci_low)
    assert "predictions are constant" in pearson.details["undefined"]
    if centre is np.mean:
        r2 = host.registries.metrics.get("r2").compute(constant)
        assert r2.value == pytest.approx(0.0, abs=1e-12)


def test_constant_target_leaves_r2_and_pearson_undefined(host):
    data = _regression_data(n=60)
    flat = ScoreData(np.full(60, 0.1), data.y_score, data.groups, data.replicate_indices)
    for name in ("r2", "pearson"):
        value = host.registries.metrics.get(name).compute(flat)
        assert math.isnan(value.value) and value.details["valid_replicates"] == 0
        assert value.details["undefined"].startswith("the target is constant (0.1)")
    mae = host.registries.metrics.get("mae").compute(flat)
    assert mae.value == pytest.approx(np.mean(np.abs(data.y_score - 0.1)))
    assert "undefined" not in mae.details


def test_a_replicate_without_records_or_variance_is_nan():
    y = np.array([1.0, 2.0, 3.0])
    s = np.array([1.5, 2.5, 2.0])
    weights = np.array([[0, 0, 0], [0, 4, 0], [1, 1, 1]])
    for name in REGRESSION_METRICS:
        values = regression_replicates(name, y, s, weights)
        assert math.isnan(values[0])
        assert math.isnan(values[1]) == (name in ("r2", "pearson"))
        assert values[2] == pytest.approx(_reference(name, y, s))


def test_bad_inputs_name_what_was_expected():
    y = np.array([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="y_score contains NaN"):
        regression_replicates("mae", y, np.array([1.0, np.nan, 2.0]), np.ones((1, 3)))
    with pytest.raises(ValueError, match="1-D of equal length"):
        regression_replicates("mae", y, y[:2], np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"\(replicates, n=3\)"):
        regression_replicates("mae", y, y, np.ones((1, 4)))
    with pytest.raises(ValueError, match="unknown regression metric 'mse'"):
        regression_replicates("mse", y, y, np.ones((1, 3)))
