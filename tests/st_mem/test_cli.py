"""ST-MEM through the CLI: `bench embed` of 12-lead .npy arrays, and `bench run` in every
evaluation mode on LUDB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.signal import resample

from bench.run.records import load_records

from .fixtures import CHECKPOINT, RAW, RAW_11S, build, embeddings, raw, reference, reference_11s


def _embed(cli, tmp_path: Path, array: Path, fs: int) -> np.ndarray:
    out = tmp_path / f"emb{fs}.npy"
    args = ["embed", "-m", "st-mem", "--weights", str(CHECKPOINT), "--input", str(array),
            "--fs", str(fs), "-o", str(out), "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return np.load(out)


def test_bench_embed_of_a_500hz_npy(cli, host, tmp_path: Path) -> None:
    """A 12-lead 500 Hz .npy of 9 s records: the contract's embeddings (FFT resampling to
    250 Hz, one window); the same records FFT-resampled to 250 Hz beforehand: upstream's."""
    spec, built = build(host)
    expected = embeddings(spec, built.module, fs=500)
    np.testing.assert_allclose(_embed(cli, tmp_path, RAW, 500), expected, atol=1e-5, rtol=0)
    fft = tmp_path / "fft250.npy"
    np.save(fft, resample(raw(500), 2250, axis=-1).astype(np.float32))
    np.testing.assert_allclose(
        _embed(cli, tmp_path, fft, 250), reference(500, "embeddings"), atol=1e-4, rtol=0
    )


def test_bench_embed_of_10s_records_is_the_mean_of_their_three_windows(cli, tmp_path) -> None:
    """11 s records at 500 Hz: one row per record, the mean of upstream's embeddings of its
    three 9 s crops of the first 10 s."""
    expected = reference_11s("window_embeddings").mean(1)
    np.testing.assert_allclose(_embed(cli, tmp_path, RAW_11S, 500), expected, atol=1e-4, rtol=0)


def _run(cli, run_args, ludb_dir, tmp_path: Path, protocol: str):
    args = ["run", "-m", "st-mem", "-t", "ludb-lvh", "--source", "ludb",
            "--source-option", f"ludb.path={ludb_dir}", "--weights", "random",
            "--protocol", protocol, *run_args, "--run-name", protocol]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = load_records([tmp_path / "runs" / protocol])
    assert records and {r.model for r in records} == {"st-mem"}
    assert {(r.init, r.protocol) for r in records} == {("random", protocol)}
    return records


def test_linear_probe_on_ludb_runs_end_to_end(cli, run_args, ludb_dir, tmp_path: Path) -> None:
    records = _run(cli, run_args, ludb_dir, tmp_path, "linear-probe")
    assert records[0].details["model_config"]["architecture"]["width"] == 128


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["finetune", "finetune-attn", "frozen-attn"])
def test_the_other_evaluation_modes_run(cli, run_args, ludb_dir, tmp_path, protocol) -> None:
    _run(cli, run_args, ludb_dir, tmp_path, protocol)
