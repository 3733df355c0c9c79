"""``bench saliency`` through click on a tiny model and checkpoint made by the test."""

from __future__ import annotations

import json

import click
import numpy as np
import pytest
import torch
from bench.plugins.metrics.saliency import add_saliency_command, register_saliency
from click.testing import CliRunner
from torch import nn

from bench import hookimpl
from bench.host.specs import BuiltModel, ModelSpec


def _build(*, num_classes: int, profile: str, input_size: int, weights: str | None) -> BuiltModel:
    module = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(8, num_classes),
    )  # fmt: skip
    return BuiltModel(module, init="random")


SPEC = ModelSpec(name="tiny-cam", build=_build, saliency_layers=lambda m: [m[1]])


class TinyCamPlugin:
    @hookimpl
    def bench_register_models(self, register):
        register(SPEC)


@pytest.fixture
def saliency_cli(tmp_path):
    from bench.host.manager import PluginHost
    from bench.weights.checkpoints import save_state_dict_file

    host = PluginHost()
    host.load_default_plugins()
    host.register(TinyCamPlugin(), "tiny-cam")
    torch.manual_seed(0)
    module = _build(num_classes=2, profile="quick", input_size=64, weights=None).module
    checkpoint = tmp_path / "best.safetensors"
    save_state_dict_file(module.state_dict(), checkpoint)

    @click.group()
    @click.pass_context
    def cli(ctx: click.Context) -> None:
        ctx.obj = host

    add_saliency_command(cli)
    return cli, checkpoint


def test_saliency_command_writes_records_and_overlays(saliency_cli, tmp_path) -> None:
    cli, checkpoint = saliency_cli
    out = tmp_path / "out"
    args = ["saliency", "--model", "tiny-cam", "--task", "stemi", "--checkpoint", str(checkpoint),
            "--profile", "tiny", "--n", "4", "--output", str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = (out / "saliency" / "results.jsonl").read_text().splitlines()
    records = {r["metric"]: r for r in map(json.loads, lines)}
    assert set(records) == {"saliency_localisation", "saliency_pointing", "saliency_entropy",
                            "saliency_gini", "saliency_faithfulness"}  # fmt: skip
    for record in records.values():
        assert record["model"] == "tiny-cam" and record["split"] == "internal"
        assert record["n"] == 4 and record["details"]["region"] == "st"
        # one score per explained ECG, in record_ids' order: the board pairs models on them
        scores, ids = record["details"]["per_image"], record["details"]["record_ids"]
        assert len(scores) == len(ids) == 4
        assert record["value"] == pytest.approx(np.mean([v for v in scores if v is not None]))
    loc = records["saliency_localisation"]
    assert loc["ci_low"] <= loc["value"] <= loc["ci_high"]
    assert 0.0 <= records["saliency_entropy"]["value"] <= 1.0
    overlay = "tiny-cam__stemi__synthetic__f1__s0__finetune__gradcam.png"  # cell and method
    assert (out / "saliency" / overlay).stat().st_size > 10_000
    assert {r["details"]["overlay"] for r in records.values()} == {overlay}
    assert "saliency_localisation" in result.output


def test_saliency_command_needs_exactly_one_model_source(saliency_cli, tmp_path) -> None:
    cli, _ = saliency_cli
    result = CliRunner().invoke(cli, ["saliency", "--model", "tiny-cam", "--task", "stemi"])
    assert result.exit_code == 2 and "exactly one of --checkpoint" in result.output
    result = CliRunner().invoke(cli, ["saliency", "-m", "tiny-cam", "-t", "stemi", "--run",
                                      str(tmp_path)])  # fmt: skip
    assert result.exit_code == 1 and "no finished cell for model 'tiny-cam'" in result.output


def test_register_saliency_registers_saliency_metrics() -> None:
    specs = []
    register_saliency(specs.append)
    assert {s.kind for s in specs} == {"saliency"}
    assert {s.name for s in specs} >= {"saliency_localisation", "saliency_faithfulness"}


def test_a_run_cells_saliency_records_carry_the_cells_cohort_hash(tmp_path) -> None:
    """Saliency of a trained cell is scored on that cell's data: its records carry the
    cell's cohort hash (by content, see bench.run.task_data), not the loaded cohort's own
    (which, for a file-based source, would depend on where the files lie)."""
    from bench.plugins.metrics.saliency.explained import CHECKPOINT, SaliencyError, find_cell

    from bench.api import cell_id
    from bench.run.records import ResultRecord, dumps

    cell = tmp_path / "cells" / cell_id("tiny-cam", "stemi", "ptbxl", 0.5, 1, "finetune")
    cell.mkdir(parents=True)
    record = ResultRecord(run_id="r", model="tiny-cam", task="stemi", source="ptbxl",
                          fraction=0.5, seed=1, split="internal", metric="auroc", value=0.7,
                          cohort_hash="c0ffee")  # fmt: skip
    (cell / "records.jsonl").write_text(dumps([record]))
    (cell / CHECKPOINT).parent.mkdir()
    (cell / CHECKPOINT).write_bytes(b"")
    found = find_cell(tmp_path, "tiny-cam", "stemi", "ptbxl", None, None)
    assert (found.fraction, found.seed, found.cohort_hash) == (0.5, 1, "c0ffee")
    (tmp_path / "run.json").write_text("[1, 2]")  # a run.json that is not an object
    with pytest.raises(SaliencyError, match=r"run\.json: expected a JSON object, got list"):
        find_cell(tmp_path, "tiny-cam", "stemi", "ptbxl", None, None)
