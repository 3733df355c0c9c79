"""ECG-JEPA through the CLI: `bench embed` of a 12-lead 500 Hz .npy, and `bench run` in every
evaluation mode on LUDB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.run.records import load_records

from .fixtures import CHECKPOINT, raw, reference


def test_bench_embed_of_a_500hz_npy(cli, tmp_path: Path) -> None:
    """A 12-lead 500 Hz .npy (standard order): one row per record, the authors' 500 Hz
    pipeline's embeddings (FFT resampling to 250 Hz, leads I, II, V1–V6)."""
    array, out = tmp_path / "x.npy", tmp_path / "e.npy"
    np.save(array, raw(500).astype(np.float32))
    args = ["embed", "-m", "ecg-jepa", "--weights", str(CHECKPOINT), "--input", str(array),
            "--fs", "500", "-o", str(out), "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(out), reference(500, "embeddings"), atol=1e-4, rtol=0)


def _run(cli, run_args, ludb_dir, tmp_path: Path, protocol: str):
    args = ["run", "-m", "ecg-jepa", "-t", "ludb-lvh", "--source", "ludb",
            "--source-option", f"ludb.path={ludb_dir}", "--weights", "random",
            "--protocol", protocol, *run_args, "--run-name", protocol]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = load_records([tmp_path / "runs" / protocol])
    assert records and {r.model for r in records} == {"ecg-jepa"}
    assert {(r.init, r.protocol) for r in records} == {("random", protocol)}
    return records


def test_linear_probe_on_ludb_runs_end_to_end(cli, run_args, ludb_dir, tmp_path: Path) -> None:
    records = _run(cli, run_args, ludb_dir, tmp_path, "linear-probe")
    assert records[0].details["model_config"]["architecture"]["width"] == 64


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["finetune", "finetune-attn", "frozen-attn"])
def test_the_other_evaluation_modes_run(cli, run_args, ludb_dir, tmp_path, protocol) -> None:
    _run(cli, run_args, ludb_dir, tmp_path, protocol)
