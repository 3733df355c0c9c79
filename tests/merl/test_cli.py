"""MERL through the CLI: `bench embed` of a 12-lead 500 Hz .npy equals the authors' code,
and `bench run` runs every evaluation protocol end to end on LUDB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.run.records import load_records

from .fixtures import RAW, checkpoint, reference


def test_bench_embed_of_a_500hz_npy_equals_the_authors_code(cli, tmp_path: Path) -> None:
    """The .npy holds the leads in the standard order (aVL before aVF), 10.2 s."""
    out = tmp_path / "emb.npy"
    args = ["embed", "-m", "merl", "--weights", str(checkpoint()), "--input", str(RAW),
            "--fs", "500", "-o", str(out), "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    expected = reference("resnet18", "embeddings")
    np.testing.assert_allclose(np.load(out), expected, atol=1e-4, rtol=0)


def _run(cli, run_args, ludb_dir, tmp_path: Path, protocol: str):
    args = ["run", "-m", "merl", "-t", "ludb-lvh", "--source", "ludb",
            "--source-option", f"ludb.path={ludb_dir}", "--weights", "random",
            "--protocol", protocol, *run_args, "--run-name", protocol]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = load_records([tmp_path / "runs" / protocol])
    assert records and {r.model for r in records} == {"merl"}
    assert {(r.init, r.protocol) for r in records} == {("random", protocol)}
    return records


def test_linear_probe_on_ludb_runs_end_to_end(cli, run_args, ludb_dir, tmp_path: Path) -> None:
    records = _run(cli, run_args, ludb_dir, tmp_path, "linear-probe")
    assert records[0].details["model_config"]["architecture"]["widths"][-1] == 128


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["finetune", "finetune-attn", "frozen-attn"])
def test_the_other_evaluation_modes_run(cli, run_args, ludb_dir, tmp_path, protocol) -> None:
    _run(cli, run_args, ludb_dir, tmp_path, protocol)
