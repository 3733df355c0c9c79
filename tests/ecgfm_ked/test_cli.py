"""ECGFM-KED through the CLI: `bench embed` of a 12-lead .npy equals the features contract
on the recipe's input (and the authors' code at 100 Hz), and `bench run` runs every
evaluation protocol end to end on LUDB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.run.records import load_records

from .fixtures import CHECKPOINT, RAW, UPSTREAM_INPUT, build, embeddings, raw_500hz, reference


def _embed(cli, tmp_path: Path, source: Path, fs: str) -> np.ndarray:
    out = tmp_path / "emb.npy"
    args = ["embed", "-m", "ecgfm-ked", "--weights", str(CHECKPOINT), "--input", str(source),
            "--fs", fs, "-o", str(out), "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return np.load(out)


def test_bench_embed_of_a_500hz_npy(cli, host, tmp_path: Path) -> None:
    """The .npy holds the leads in the standard order (aVL before aVF), 10 s at 500 Hz:
    one row per record, the pooled features of the recipe's window."""
    spec, built = build(host, CHECKPOINT)
    expected = embeddings(spec, built.module, raw_500hz(spec))
    got = _embed(cli, tmp_path, RAW, "500")
    assert got.shape == (2, 48)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_bench_embed_of_upstreams_100hz_input_equals_the_authors_code(cli, tmp_path) -> None:
    """Upstream's 100 Hz records, put back in the standard lead order, embed as upstream."""
    upstream = np.load(UPSTREAM_INPUT)[:, [0, 1, 2, 3, 5, 4, *range(6, 12)]]
    source = tmp_path / "x100.npy"
    np.save(source, upstream)
    np.testing.assert_allclose(_embed(cli, tmp_path, source, "100"), reference(), atol=1e-4)


def _run(cli, run_args, ludb_dir, tmp_path: Path, protocol: str):
    args = ["run", "-m", "ecgfm-ked", "-t", "ludb-lvh", "--source", "ludb",
            "--source-option", f"ludb.path={ludb_dir}", "--weights", "random",
            "--protocol", protocol, *run_args, "--run-name", protocol]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = load_records([tmp_path / "runs" / protocol])
    assert records and {r.model for r in records} == {"ecgfm-ked"}
    assert {(r.init, r.protocol) for r in records} == {("random", protocol)}
    return records


def test_linear_probe_on_ludb_runs_end_to_end(cli, run_args, ludb_dir, tmp_path: Path) -> None:
    records = _run(cli, run_args, ludb_dir, tmp_path, "linear-probe")
    assert records[0].details["model_config"]["architecture"]["widths"][-1] == 48


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["finetune", "finetune-attn", "frozen-attn"])
def test_the_other_evaluation_modes_run(cli, run_args, ludb_dir, tmp_path, protocol) -> None:
    _run(cli, run_args, ludb_dir, tmp_path, protocol)
