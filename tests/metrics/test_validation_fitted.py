"""Metrics fitted on a cell's validation predictions: temperature-scaled ECE/Brier and the
decision metrics at validation's Youden threshold, each checked against an independent
computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from bench.plugins.metrics.validation_fitted import fit_temperature, logits, youden_threshold
from click.testing import CliRunner
from sklearn.metrics import confusion_matrix, roc_curve

from bench.api import ScoreData, bootstrap_indices, get_host
from bench.run.records import load_records


def _overconfident(n: int, seed: int, sharpen: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from true probabilities q, scores sigmoid(sharpen * logit(q))."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.05, 0.95, n)
    y = (rng.uniform(size=n) < q).astype(int)
    return y, 1 / (1 + np.exp(-sharpen * logits(q)))


def _data(y, p, reference=None, replicates=200) -> ScoreData:
    groups = np.array([f"p{i // 2}" for i in range(len(y))])
    return ScoreData(
        y_true=y,
        y_score=p,
        groups=groups,
        replicate_indices=bootstrap_indices(groups, replicates=replicates, seed=1),
        reference=reference,
    )


def _compute(name: str, data: ScoreData):
    return get_host().registries.metrics.get(name).compute(data)


def test_temperature_scaling_on_validation_lowers_a_miscalibrated_models_ece() -> None:
    """Scores three times too sharp: the fitted temperature is near 3 and the test set's
    ECE and Brier fall after scaling (validation and test drawn apart)."""
    y_val, p_val = _overconfident(4000, 0)
    y, p = _overconfident(3000, 1)
    data = _data(y, p, ScoreData(y_val, p_val, np.arange(len(y_val)).astype(str)))
    ece, brier = _compute("ece_ts", data), _compute("brier_ts", data)
    assert 2.5 < ece.details["temperature"] < 3.5
    assert ece.value < 0.5 * ece.details["raw"] and brier.value < brier.details["raw"]
    assert ece.ci_low <= ece.value <= ece.ci_high


def test_the_fitted_temperature_minimises_validation_log_loss_on_a_grid() -> None:
    y, p = _overconfident(2000, 2, sharpen=0.5)  # under-confident: T < 1
    grid = np.exp(np.linspace(np.log(0.05), np.log(20), 20001))
    z = logits(p)
    losses = [np.mean(np.logaddexp(0, z / t) - y * z / t) for t in grid]
    assert fit_temperature(y, p) == pytest.approx(grid[int(np.argmin(losses))], rel=2e-3)


@pytest.mark.parametrize("seed", range(5))
def test_youden_threshold_is_sklearns_best_roc_point(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    score = np.round(rng.normal(y * 0.8, 1.0), 1)  # ties on purpose
    fpr, tpr, thresholds = roc_curve(y, score)
    assert youden_threshold(y, score) == thresholds[int(np.argmax(tpr - fpr))]


@pytest.mark.parametrize("name", ["sensitivity", "specificity", "ppv", "npv"])
def test_decision_metrics_and_cis_equal_weighted_confusion_matrices(name: str) -> None:
    y_val, p_val = _overconfident(500, 3)
    y, p = _overconfident(400, 4)
    data = _data(y, p, ScoreData(y_val, p_val, np.arange(500).astype(str)))
    value = _compute(name, data)
    predicted = (p >= youden_threshold(y_val, p_val)).astype(int)

    def metric(w: np.ndarray) -> float:
        tn, fp, fn, tp = confusion_matrix(y, predicted, sample_weight=w, labels=[0, 1]).ravel()
        num, den = {"sensitivity": (tp, tp + fn), "specificity": (tn, tn + fp),
                    "ppv": (tp, tp + fp), "npv": (tn, tn + fn)}[name]  # fmt: skip
        return num / den if den else math.nan

    assert value.value == pytest.approx(metric(np.ones(len(y))), abs=1e-12)
    per_replicate = np.array([metric(w) for w in data.replicate_indices])
    low, high = np.quantile(per_replicate[np.isfinite(per_replicate)], [0.025, 0.975])
    assert (value.ci_low, value.ci_high) == pytest.approx((low, high), abs=1e-12)
    assert value.details["rule"] == "Youden on validation"


@pytest.mark.parametrize("name", ["ece_ts", "sensitivity"])
def test_without_usable_validation_predictions_the_value_is_nan_with_the_reason(name) -> None:
    y, p = _overconfident(100, 5)
    assert "no validation predictions" in _compute(name, _data(y, p)).details["undefined"]
    one_class = ScoreData(np.zeros(10, int), np.full(10, 0.3), np.arange(10).astype(str))
    value = _compute(name, _data(y, p, one_class))
    assert math.isnan(value.value) and "one class" in value.details["undefined"]


def test_a_cell_keeps_its_validation_predictions_and_rescore_fits_on_them(cli, tmp_path):
    """A trained cell's predictions hold its validation records (split ``validation``,
    exactly the cell's validation set); no record scores them; bench rescore computes the
    validation-fitted metrics from them."""
    import pandas as pd

    run = ["run", "-m", "tiny-cnn", "-t", "stemi", "-p", "tiny", "-f", "1.0",
           "-o", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache"),
           "--run-name", "v"]  # fmt: skip
    assert CliRunner().invoke(cli, run).exit_code == 0
    run_dir = tmp_path / "runs" / "v"
    (cell,) = run_dir.glob("cells/*")
    rows = pd.read_csv(cell / "predictions.csv", dtype={"record_id": str})
    assert set(rows["split"]) == {"internal", "external", "validation"}
    records = load_records([run_dir])
    assert "validation" not in {r.split for r in records}
    assert (rows["split"] == "validation").sum() == records[0].details["n_validation"] > 0
    rescore = ["rescore", str(run_dir), "--metric", "ece_ts", "--metric", "sensitivity"]
    result = CliRunner().invoke(cli, rescore)
    assert result.exit_code == 0, result.output
    fitted = {r.metric: r for r in load_records([run_dir]) if r.split == "internal"}
    assert fitted["ece_ts"].bootstrap["temperature"] > 0
    assert 0 <= fitted["sensitivity"].value <= 1
