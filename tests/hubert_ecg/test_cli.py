"""HuBERT-ECG through the CLI: `bench embed` of 12-lead .npy arrays (a record is the mean of
its 5 s windows, ``--per-segment`` one row per window), and `bench run` in every evaluation
mode on LUDB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.run.records import load_records

from .fixtures import RAW, SAFETENSORS, raw, reference


def _embed(cli, tmp_path: Path, array: Path, fs: int, *extra: str) -> np.ndarray:
    out = tmp_path / f"emb{fs}{len(extra)}.npy"
    args = ["embed", "-m", "hubert-ecg", "--weights", str(SAFETENSORS), "--input", str(array),
            "--fs", str(fs), "-o", str(out), "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache"), *extra]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return np.load(out)


def test_bench_embed_gives_one_row_per_record_the_mean_of_its_windows(cli, tmp_path) -> None:
    """A 12-lead 500 Hz .npy: each record's row is the mean of upstream's embeddings of its
    two 5 s windows; ``--per-segment``: one row per window, upstream's."""
    expected = reference(500)
    np.testing.assert_allclose(_embed(cli, tmp_path, RAW, 500), expected.mean(1), atol=1e-4, rtol=0)
    np.testing.assert_allclose(
        _embed(cli, tmp_path, RAW, 500, "--per-segment"),
        expected.reshape(4, -1),
        atol=1e-4,
        rtol=0,
    )


def test_bench_embed_of_a_250hz_npy(cli, tmp_path: Path) -> None:
    """At 250 Hz the contract filters at 250 Hz and resamples as the authors do."""
    array = tmp_path / "raw250.npy"
    np.save(array, raw(250))
    np.testing.assert_allclose(
        _embed(cli, tmp_path, array, 250), reference(250).mean(1), atol=1e-4, rtol=0
    )


def _run(cli, run_args, ludb_dir, tmp_path: Path, protocol: str, model: str = "hubert-ecg"):
    args = ["run", "-m", model, "-t", "ludb-lvh", "--source", "ludb",
            "--source-option", f"ludb.path={ludb_dir}", "--weights", "random",
            "--protocol", protocol, *run_args, "--run-name", protocol]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = load_records([tmp_path / "runs" / protocol])
    assert records and {r.model for r in records} == {model}
    assert {(r.init, r.protocol) for r in records} == {("random", protocol)}
    return records


def test_linear_probe_on_ludb_runs_end_to_end(cli, run_args, ludb_dir, tmp_path: Path) -> None:
    records = _run(cli, run_args, ludb_dir, tmp_path, "linear-probe")
    assert records[0].details["model_config"]["architecture"]["hidden_size"] == 64


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["finetune", "finetune-attn", "frozen-attn"])
def test_the_other_evaluation_modes_run(cli, run_args, ludb_dir, tmp_path, protocol) -> None:
    _run(cli, run_args, ludb_dir, tmp_path, protocol, model="hubert-ecg-small")
