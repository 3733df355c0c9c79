"""`bench run --precision`: every forward pass of a cell at the chosen precision, recorded
in the cell's train config and identity (absent under the default, so older cells keep
their identity); fp16 only for the linear probe."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner


def _run(cli, tmp_path: Path, name: str, *extra: str):
    args = ["run", "-m", "resnet1d", "-t", "stemi", "-p", "tiny", "-f", "1.0", "--device", "cpu"]
    args += ["-o", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")]
    return CliRunner().invoke(cli, [*args, "--run-name", name, *extra])


def _auroc(tmp_path: Path, name: str) -> dict:
    lines = (tmp_path / "runs" / name / "results.jsonl").read_text().splitlines()
    return next(r for r in map(json.loads, lines) if r["metric"] == "auroc")


def test_bf16_runs_at_bf16_and_is_another_experiment(cli, tmp_path) -> None:
    for name, extra in (("auto", ()), ("bf16", ("--precision", "bf16"))):
        result = _run(cli, tmp_path, name, *extra)
        assert result.exit_code == 0, result.output
    auto, bf16 = _auroc(tmp_path, "auto"), _auroc(tmp_path, "bf16")
    assert "precision" not in auto["details"]["train_config"]
    assert bf16["details"]["train_config"]["precision"] == "bf16"
    assert (auto["compute"]["precision"], bf16["compute"]["precision"]) == ("fp32", "bf16")
    assert auto["identity"] != bf16["identity"]
    scores = [
        pd.read_csv(tmp_path / "runs" / name / r["details"]["predictions"])["score"]
        for name, r in (("auto", auto), ("bf16", bf16))
    ]
    assert not scores[0].equals(scores[1])  # bf16 autocast really ran on the CPU


def test_fp16_is_refused_for_training(cli, tmp_path) -> None:
    result = _run(cli, tmp_path, "fp16", "--precision", "fp16")
    assert result.exit_code == 2
    assert "fp16 trains without loss scaling" in result.output


@pytest.mark.parametrize(
    ("keep", "files"),
    [("selected", ["best.safetensors"]), ("all", ["best.safetensors", "state.pt"]), ("none", [])],
)
def test_keep_weights_says_what_a_done_cell_keeps(cli, tmp_path, keep, files) -> None:
    result = _run(cli, tmp_path, keep, "--keep-weights", keep)
    assert result.exit_code == 0, result.output
    (cell,) = (tmp_path / "runs" / keep / "cells").iterdir()
    checkpoint = cell / "checkpoint"
    kept = sorted(p.name for p in checkpoint.iterdir()) if checkpoint.exists() else []
    assert kept == files


def test_keep_weights_is_not_part_of_what_a_grid_computes() -> None:
    from bench.run.config import ConfigError, RunConfig

    assert RunConfig(keep_weights="none").grid_hash() == RunConfig().grid_hash()
    with pytest.raises(ConfigError, match="keep_weights must be one of"):
        RunConfig(keep_weights="some")
