"""The MLflow logger plugin against a local sqlite tracking store: a parent run per grid,
a nested run per cell with identity params, metrics with CI bounds, tags and artifacts;
a broken tracking store never stops the run."""

from __future__ import annotations

import pytest

from tests.executors.helpers import chaos_host, grid_args, invoke
from tests.requirements import require_module

mlflow = require_module("mlflow", "mlflow")


@pytest.fixture(scope="module")
def host():
    return chaos_host()


@pytest.mark.slow
def test_grid_is_a_parent_run_with_one_nested_run_per_cell(host, tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "grid-test")
    result = invoke(host, [*grid_args(tmp_path, "g"), "--log", "mlflow"])
    assert result.exit_code == 0, result.output
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("grid-test")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    (parent,) = parents
    assert parent.info.run_name == "g" and parent.info.status == "FINISHED"
    assert parent.data.metrics["cells.finished"] == 2
    assert parent.data.params["config.profile"] == "tiny"
    cells = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.data.tags["fraction"] for r in cells) == ["0.5", "1.0"]
    records = {(r["fraction"], r["split"], r["metric"]): r for r in _records(tmp_path)}
    for run in cells:
        tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
        assert tags["init"] == "random" and tags["profile"] == "tiny"
        assert tags["identity"] and "weights_hash" in tags
        assert params["fraction"] == tags["fraction"] and params["model.name"] == "tiny-cnn"
        record = records[(float(tags["fraction"]), "internal", "auroc")]
        assert metrics["internal.auroc"] == pytest.approx(record["value"])
        assert metrics["internal.auroc.ci_low"] == pytest.approx(record["ci_low"])
        assert metrics["internal.auroc.ci_high"] == pytest.approx(record["ci_high"])
        artifacts = [a.path for a in client.list_artifacts(run.info.run_id)]
        assert artifacts == ["predictions.csv"]
    parent_artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"results.jsonl", "report.json"} <= parent_artifacts


def _records(root):
    import json

    path = root / "runs" / "g" / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_broken_tracking_store_never_stops_the_run(host, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://nowhere")
    result = invoke(host, [*grid_args(tmp_path, "g"), "--log", "mlflow"])
    assert result.exit_code == 0, result.output
    assert "mlflow logger: start failed" in result.output
    assert len(_records(tmp_path)) == 8  # 2 cells × 2 splits × 2 metrics


def test_without_log_mlflow_nothing_is_logged(host, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    result = invoke(host, grid_args(tmp_path, "g"))
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "mlflow.db").exists()
