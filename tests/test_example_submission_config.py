"""The example submission's grid (examples/bench-example-plugin/submission.yaml) keeps the
core grid's settings (configs/leaderboard-1-stemi.yaml), so its submitted row stays
comparable with the board's rows."""

from __future__ import annotations

from pathlib import Path

from bench.api import load_yaml

REPO = Path(__file__).resolve().parents[1]
OWN_KEYS = {"models", "run_name"}


def test_the_example_submission_runs_the_core_grid_settings() -> None:
    core = load_yaml((REPO / "configs" / "leaderboard-1-stemi.yaml").read_text())
    submission = load_yaml((REPO / "examples/bench-example-plugin/submission.yaml").read_text())
    assert submission["models"] == ["example-signal-cnn"]
    # the same metrics, the run-level saliency metrics and their options left out (as the
    # file's header says)
    core_metrics = [m for m in core["metrics"] if not m.startswith("saliency_")]
    assert submission["metrics"] == core_metrics
    core_options = {k: v for k, v in core.get("metric_options", {}).items() if k != "saliency"}
    assert submission.get("metric_options", {}) == core_options
    assert set(submission) - {"metric_options"} == set(core) - {"metric_options"}
    for key in set(core) - OWN_KEYS - {"metrics", "metric_options"}:
        assert submission[key] == core[key], key
