"""Decision curve (``net_benefit``) and reliability diagram (``reliability``) metrics,
checked against independent computations: a per-threshold count of treated records, the
published ``dcurves`` package (a stored reference), numpy histograms, the ``ece`` and
``ece_ts`` metrics, and the metrics recomputed on each resample written out row by row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from bench.plugins.metrics.decision_curve import THRESHOLDS, net_benefit_curves
from bench.plugins.metrics.reliability import reliability_bins
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.api import ScoreData, bootstrap_indices, get_host, percentile_ci
from bench.run.records import load_records

DCURVES = Path(__file__).parent / "fixtures" / "dcurves" / "reference.json"

#: Probabilities with ties and values exactly at the thresholds and bin edges.
probabilities = st.one_of(
    st.floats(0.0, 1.0),
    st.sampled_from([0.0, 1.0, *THRESHOLDS, 0.2, 0.4, 0.6, 0.8]),
    st.integers(0, 100).map(lambda k: k / 100),
)
scored = st.lists(st.tuples(st.integers(0, 1), probabilities), min_size=1, max_size=60)


def _arrays(rows: list[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    y, p = zip(*rows, strict=True)
    return np.array(y), np.array(p, dtype=np.float64)


def _data(y, p, reference=None, replicates=200, seed=3) -> ScoreData:
    groups = np.array([f"p{i // 2}" for i in range(len(y))])
    return ScoreData(
        y_true=y,
        y_score=p,
        groups=groups,
        replicate_indices=bootstrap_indices(groups, replicates=replicates, seed=seed),
        reference=reference,
    )


def _metric(name: str):
    return get_host().registries.metrics.get(name)


def _reference_net_benefit(y: np.ndarray, p: np.ndarray, pt: float) -> tuple[float, float]:
    """NB of the model and of treating all at ``pt``, by counting treated records."""
    n = len(y)
    tp = sum(1 for yi, pi in zip(y, p, strict=True) if pi >= pt and yi == 1)
    fp = sum(1 for yi, pi in zip(y, p, strict=True) if pi >= pt and yi == 0)
    positives = sum(1 for yi in y if yi == 1)
    odds = pt / (1 - pt)
    return tp / n - fp / n * odds, positives / n - (n - positives) / n * odds


@settings(max_examples=60, deadline=None)
@given(scored)
def test_net_benefit_equals_counting_treated_records_at_each_threshold(rows) -> None:
    y, p = _arrays(rows)
    curves = net_benefit_curves(y, p, np.ones((1, len(y)), dtype=np.int64))
    expected = np.array([_reference_net_benefit(y, p, t) for t in THRESHOLDS])
    np.testing.assert_allclose(curves["model"][0], expected[:, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(curves["treat_all"][0], expected[:, 1], rtol=1e-12, atol=1e-12)
    gain = expected[:, 0] - np.maximum(expected[:, 1], 0)
    value = _metric("net_benefit").compute(_data(y, p, replicates=20))
    assert value.value == pytest.approx(gain.mean(), abs=1e-12)


def test_net_benefit_equals_the_dcurves_package() -> None:
    """dcurves 1.1.7's decision curve on a stored data set (ties, records exactly at the
    thresholds; see fixtures/dcurves/README.md)."""
    reference = json.loads(DCURVES.read_text())
    assert reference["thresholds"] == list(THRESHOLDS)
    y, p = np.array(reference["y_true"]), np.array(reference["y_prob"])
    details = _metric("net_benefit").compute(_data(y, p, replicates=50)).details
    for strategy in ("model", "treat_all", "treat_none"):
        np.testing.assert_allclose(
            details["curves"][strategy]["value"],
            reference["net_benefit"][strategy],
            rtol=1e-12,
            atol=1e-12,
        )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 1), min_size=1, max_size=80), st.floats(0.001, 0.999))
def test_treat_all_is_prevalence_minus_the_weighted_negatives(labels, pt) -> None:
    y = np.array(labels)
    prevalence = y.mean()
    curves = net_benefit_curves(y, np.full(len(y), 0.5), np.ones((1, len(y))), (pt,))
    expected = prevalence - (1 - prevalence) * pt / (1 - pt)
    assert curves["treat_all"][0, 0] == pytest.approx(expected, rel=1e-12, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 1), min_size=2, max_size=80).filter(lambda v: sum(v) > 0))
def test_a_perfect_classifier_gains_its_prevalence_at_every_threshold(labels) -> None:
    """Probabilities 1 for positives and 0 for negatives: NB = prevalence at every pt, and
    the gain over the better default is min(prevalence, (1 − prevalence) · pt / (1 − pt))."""
    y = np.array(labels)
    prevalence = y.mean()
    value = _metric("net_benefit").compute(_data(y, y.astype(float), replicates=20))
    curve = value.details["curves"]["model"]["value"]
    np.testing.assert_allclose(curve, prevalence, rtol=1e-12)
    odds = np.array(THRESHOLDS) / (1 - np.array(THRESHOLDS))
    gain = np.minimum(prevalence, (1 - prevalence) * odds)
    np.testing.assert_allclose(value.details["gain"]["value"], gain, rtol=1e-9, atol=1e-12)
    assert value.value == pytest.approx(gain.mean(), rel=1e-9)


def _on_expanded_rows(name: str, data: ScoreData) -> list:
    """The metric recomputed on every resample written out record by record."""
    out = []
    for counts in data.replicate_indices:
        idx = np.repeat(np.arange(len(data.y_true)), counts)
        rows = ScoreData(
            y_true=data.y_true[idx],
            y_score=data.y_score[idx],
            groups=data.groups[idx],
            replicate_indices=np.ones((1, len(idx)), dtype=np.int64),
        )
        out.append(_metric(name).compute(rows))
    return out


def _floats(values: list) -> np.ndarray:
    """A details list as floats, ``None`` (an undefined point) as NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.02, 0.98, n)
    y = (rng.uniform(size=n) < q).astype(int)
    return y, 1 / (1 + np.exp(-3 * np.log(q / (1 - q))))


def test_net_benefit_cis_are_the_metric_on_each_expanded_resample() -> None:
    y, p = _overconfident(120, 4)
    data = _data(y, p, replicates=60)
    value = _metric("net_benefit").compute(data)
    per_replicate = _on_expanded_rows("net_benefit", data)
    assert (value.ci_low, value.ci_high) == pytest.approx(
        percentile_ci(np.array([v.value for v in per_replicate])), abs=1e-12
    )
    for strategy in ("model", "treat_all"):
        curves = np.array([v.details["curves"][strategy]["value"] for v in per_replicate])
        low, high = zip(*(percentile_ci(c) for c in curves.T), strict=True)
        entry = value.details["curves"][strategy]
        np.testing.assert_allclose(entry["ci_low"], low, atol=1e-12)
        np.testing.assert_allclose(entry["ci_high"], high, atol=1e-12)
    assert value.details["curves"]["treat_none"]["ci_high"] == [0.0] * len(THRESHOLDS)
    assert np.allclose(
        _metric("net_benefit").replicates(y, p, data.replicate_indices),
        [v.value for v in per_replicate],
        atol=1e-12,
    )


@settings(max_examples=50, deadline=None)
@given(scored, st.integers(0, 2**31 - 1))
def test_reliability_bins_equal_numpy_histograms_on_each_resample(rows, seed) -> None:
    """Counts, mean predicted and observed rates per bin equal np.histogram of p · 15 with
    integer edges (bin k = [k, k+1), the last closed: the documented rule) on the
    resample written out row by row."""
    y, p = _arrays(rows)
    weights = np.random.default_rng(seed).integers(0, 3, size=(4, len(y)))
    got = reliability_bins(y, p, weights)
    for r, counts in enumerate(weights):
        idx = np.repeat(np.arange(len(y)), counts)
        histogram = {
            key: np.histogram(p[idx] * 15, bins=15, range=(0, 15), weights=w)[0]
            for key, w in (("count", None), ("p", p[idx]), ("y", y[idx]))
        }
        np.testing.assert_array_equal(got["count"][r], histogram["count"])
        filled = histogram["count"] > 0
        np.testing.assert_array_equal(np.isfinite(got["observed"][r]), filled)
        np.testing.assert_allclose(
            got["observed"][r][filled], histogram["y"][filled] / histogram["count"][filled]
        )
        np.testing.assert_allclose(
            got["mean_predicted"][r][filled], histogram["p"][filled] / histogram["count"][filled]
        )


@settings(max_examples=30, deadline=None)
@given(scored)
def test_reliability_value_and_ci_are_the_ece_metrics(rows) -> None:
    y, p = _arrays(rows)
    data = _data(y, p, replicates=30)
    ours, ece = _metric("reliability").compute(data), _metric("ece").compute(data)
    assert ours.value == ece.value
    assert (ours.ci_low, ours.ci_high) == (ece.ci_low, ece.ci_high)


def test_reliability_observed_rate_cis_are_each_expanded_resamples_rate() -> None:
    y, p = _overconfident(150, 5)
    data = _data(y, p, replicates=60)
    diagram = _metric("reliability").compute(data).details["diagram"]
    per_replicate = _on_expanded_rows("reliability", data)
    observed = np.array([_floats(r.details["diagram"]["observed"]["value"]) for r in per_replicate])
    intervals = np.array([percentile_ci(column) for column in observed.T])
    np.testing.assert_allclose(_floats(diagram["observed"]["ci_low"]), intervals[:, 0], atol=1e-12)
    np.testing.assert_allclose(_floats(diagram["observed"]["ci_high"]), intervals[:, 1], atol=1e-12)
    assert diagram["observed"]["valid_replicates"] == list(np.isfinite(observed).sum(axis=0))
    assert None in diagram["observed"]["value"]  # an empty bin is in the test
    json.dumps(diagram, allow_nan=False)  # undefined points are None, not NaN
    assert sum(diagram["count"]) == len(y)


def test_reliability_after_temperature_scaling_is_ece_ts() -> None:
    """The temperature-scaled diagram's ECE, its CI and temperature are ``ece_ts``'s, the
    scaled ECE is lower on an overconfident model; without validation predictions the
    section says why."""
    y_val, p_val = _overconfident(3000, 6)
    y, p = _overconfident(2000, 7)
    reference = ScoreData(y_val, p_val, np.arange(len(y_val)).astype(str))
    data = _data(y, p, reference)
    value, fitted = _metric("reliability").compute(data), _metric("ece_ts").compute(data)
    scaled = value.details["temperature_scaled"]
    assert scaled["temperature"] == fitted.details["temperature"]
    assert scaled["ece"]["value"] == fitted.value < 0.5 * value.value
    assert (scaled["ece"]["ci_low"], scaled["ece"]["ci_high"]) == (fitted.ci_low, fitted.ci_high)
    assert sum(scaled["diagram"]["count"]) == len(y)
    without = _metric("reliability").compute(_data(y, p)).details["temperature_scaled"]
    assert "validation" in without["undefined"]


def test_curve_metrics_are_registered_for_classification_and_refuse_logits() -> None:
    for name, higher in (("net_benefit", True), ("reliability", False)):
        spec = _metric(name)
        assert spec.task_kinds == ("classification",) and spec.higher_is_better is higher
        with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
            spec.compute(_data(np.array([0, 1]), np.array([-2.0, 3.0])))


@pytest.mark.slow
def test_bench_run_records_both_curves_as_json(cli, tmp_path) -> None:
    """Through ``bench run`` (~15 s: it trains a cell): the records' ``bootstrap`` holds the
    curves, valid JSON."""
    run = ["run", "-m", "tiny-cnn", "-t", "stemi", "-p", "tiny", "-f", "1.0",
           "-o", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache"),
           "--run-name", "d", "--metric", "net_benefit", "--metric", "reliability",
           "--metric", "ece"]  # fmt: skip
    result = CliRunner().invoke(cli, run)
    assert result.exit_code == 0, result.output
    records = {(r.split, r.metric): r for r in load_records([tmp_path / "runs" / "d"])}
    decision, reliability = records["internal", "net_benefit"], records["internal", "reliability"]
    assert len(decision.bootstrap["curves"]["model"]["value"]) == len(THRESHOLDS)
    assert sum(reliability.bootstrap["diagram"]["count"]) == reliability.n
    assert "temperature" in reliability.bootstrap["temperature_scaled"]
    assert reliability.value == records["internal", "ece"].value
    for record in (decision, reliability):
        json.dumps(record.bootstrap, allow_nan=False)
