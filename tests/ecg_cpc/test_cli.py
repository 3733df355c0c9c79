"""ECG-CPC through the CLI: `bench embed` of 12-lead .npy files (240 Hz, the authors' rate, and
500 Hz), and `bench run` in every evaluation mode on LUDB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.signal import resample

from bench.run.records import load_records

from .fixtures import CHECKPOINT, raw, reference_windows


def _embed(cli, tmp_path: Path, records: np.ndarray, fs: int, *extra: str) -> np.ndarray:
    array, out = tmp_path / f"x{fs}.npy", tmp_path / f"e{fs}.npy"
    np.save(array, records.astype(np.float32))
    args = ["embed", "-m", "ecg-cpc", "--weights", str(CHECKPOINT), "--input", str(array),
            "--fs", str(fs), "-o", str(out), "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache"), *extra]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return np.load(out)


def test_bench_embed_gives_the_mean_of_the_authors_windows(cli, tmp_path: Path) -> None:
    """A 12-lead 240 Hz .npy: one row per record, the mean of upstream's four window
    embeddings; ``--per-segment`` gives each window's."""
    np.testing.assert_allclose(
        _embed(cli, tmp_path, raw(), 240), reference_windows().mean(1), atol=1e-4, rtol=0
    )
    per_segment = _embed(cli, tmp_path, raw(), 240, "--per-segment")
    np.testing.assert_allclose(
        per_segment.reshape(reference_windows().shape), reference_windows(), atol=1e-4, rtol=0
    )


def test_bench_embed_of_a_500hz_npy(cli, tmp_path: Path) -> None:
    """The same records band-limited up to 500 Hz: the contract's Fourier resampling brings
    them back to the authors' 240 Hz windows, and the embeddings equal upstream's."""
    records = resample(raw(), 5000, axis=-1)
    np.testing.assert_allclose(
        _embed(cli, tmp_path, records, 500), reference_windows().mean(1), atol=1e-4, rtol=0
    )


def _run(cli, run_args, ludb_dir, tmp_path: Path, protocol: str):
    args = ["run", "-m", "ecg-cpc", "-t", "ludb-lvh", "--source", "ludb",
            "--source-option", f"ludb.path={ludb_dir}", "--weights", "random",
            "--protocol", protocol, *run_args, "--run-name", protocol]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = load_records([tmp_path / "runs" / protocol])
    assert records and {r.model for r in records} == {"ecg-cpc"}
    assert {(r.init, r.protocol) for r in records} == {("random", protocol)}
    return records


def test_linear_probe_on_ludb_runs_end_to_end(cli, run_args, ludb_dir, tmp_path: Path) -> None:
    records = _run(cli, run_args, ludb_dir, tmp_path, "linear-probe")
    assert records[0].details["model_config"]["architecture"]["width"] == 64


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["finetune", "finetune-attn", "frozen-attn"])
def test_the_other_evaluation_modes_run(cli, run_args, ludb_dir, tmp_path, protocol) -> None:
    _run(cli, run_args, ludb_dir, tmp_path, protocol)
