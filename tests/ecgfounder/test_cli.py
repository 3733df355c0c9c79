"""ECGFounder through the CLI: `bench embed` of a 12-lead 500 Hz .npy equals the authors'
code, and `bench run` runs a linear probe end to end on LUDB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.run.records import load_records

from .fixtures import RAW, TAGS, checkpoint, reference


@pytest.mark.parametrize("model", sorted(TAGS))
def test_bench_embed_of_a_500hz_npy_equals_the_authors_code(cli, tmp_path: Path, model) -> None:
    out = tmp_path / "emb.npy"
    args = ["embed", "-m", model, "--weights", str(checkpoint(model)), "--input", str(RAW),
            "--fs", "500", "-o", str(out), "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    expected = reference(model, "eval", "embeddings")
    np.testing.assert_allclose(np.load(out), expected, atol=1e-4, rtol=0)


def test_linear_probe_on_ludb_runs_end_to_end(cli, run_args, ludb_dir, tmp_path: Path) -> None:
    args = ["run", "-m", "ecgfounder", "-t", "ludb-lvh", "--source", "ludb",
            "--source-option", f"ludb.path={ludb_dir}", "--weights", "random",
            "--protocol", "linear-probe", *run_args, "--run-name", "probe"]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = load_records([tmp_path / "runs" / "probe"])
    assert records and {r.model for r in records} == {"ecgfounder"}
    assert {r.init for r in records} == {"random"}
    assert {r.protocol for r in records} == {"linear-probe"}
    assert records[0].details["model_config"]["architecture"]["filter_list"][-1] == 128


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["finetune", "finetune-attn", "frozen-attn"])
def test_the_other_evaluation_modes_run(cli, run_args, ludb_dir, tmp_path, protocol) -> None:
    args = ["run", "-m", "ecgfounder-1lead", "-t", "ludb-lvh", "--source", "ludb",
            "--source-option", f"ludb.path={ludb_dir}", "--weights", "random",
            "--protocol", protocol, *run_args, "--run-name", protocol]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = load_records([tmp_path / "runs" / protocol])
    assert records and {r.protocol for r in records} == {protocol}
