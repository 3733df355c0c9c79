"""The metrics plugin through the public hooks: registered specs and `bench wasserstein`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from bench.plugins.metrics.bootstrap import bootstrap_indices
from click.testing import CliRunner
from PIL import Image
from sklearn.metrics import average_precision_score, roc_auc_score

from bench.host.specs import MetricValue, ScoreData


def _score_data(shared: bool) -> ScoreData:
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.2).astype(int)
    groups = np.repeat(np.arange(150), 2)
    resamples = bootstrap_indices(groups, replicates=50, seed=4) if shared else None
    return ScoreData(y, rng.random(300) * 0.5 + 0.5 * y, groups, resamples)


def test_hook_registers_score_and_image_metrics(host):
    metrics = host.registries.metrics
    specs = {name: metrics.get(name) for name in
             ("auroc", "auprc", "auprc_trapezoid", "brier", "ece", "wasserstein_w1")}  # fmt: skip
    assert {n for n, s in specs.items() if s.default} == {"auroc", "auprc"}
    assert specs["wasserstein_w1"].kind == "images"
    assert not specs["brier"].higher_is_better
    data = _score_data(shared=False)
    value = specs["auroc"].compute(data, replicates=40, seed=2, unit="record")
    assert isinstance(value, MetricValue)
    assert value.value == pytest.approx(roc_auc_score(data.y_true, data.y_score), abs=1e-12)
    assert value.ci_low <= value.value <= value.ci_high
    assert value.details == {"valid_replicates": 40, "replicates": 40, "unit": "record", "seed": 2}


def test_score_metrics_reuse_shared_resamples(host):
    data = _score_data(shared=True)
    auprc = host.registries.metrics.get("auprc").compute(data, seed=4)
    assert auprc.value == pytest.approx(average_precision_score(data.y_true, data.y_score))
    assert auprc.details["replicates"] == 50
    again = host.registries.metrics.get("auprc").compute(data, seed=4)
    assert (again.ci_low, again.ci_high) == (auprc.ci_low, auprc.ci_high)


def test_wasserstein_command_writes_the_three_numbers(cli, tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    for k in range(4):  # near-uniform grey images: tiny within-set distances
        Image.fromarray(np.full((20, 20, 3), 200 + k, dtype=np.uint8)).save(folder / f"{k}.png")
    out = tmp_path / "w.json"
    args = ["wasserstein", "--a", str(folder), "--b", "natural", "--n", "4", "--size", "20",
            "--output", str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "A–A" in result.output and "A–B" in result.output
    data = json.loads(out.read_text())
    summary = data["summary"]
    assert summary["within_a"]["n_pairs"] == 6 and summary["across"]["n_pairs"] == 16
    assert summary["within_a"]["mean"] == pytest.approx(5 / 3)  # |i - j| grey levels
    assert summary["across"]["mean"] > 20
    assert "china.jpg" in data["b"]["description"]


def test_wasserstein_emd2d_and_bad_set(cli):
    args = ["wasserstein", "--a", "natural", "--b", "natural", "--n", "5", "--size", "32",
            "--distance", "emd2d", "--pairs", "4", "--emd-size", "8"]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "emd2d" in result.output
    bad = CliRunner().invoke(cli, ["wasserstein", "--a", "imagenet", "--b", "natural"])
    assert bad.exit_code == 2 and "neither 'natural'" in bad.output
