"""HuBERT-ECG through the CLI: `bench embed` of 12-lead .npy arrays (a record is the mean of
its 5 s windows, ``--per-segment`` one row per window; `bench run` in every evaluation mode:
tests/model_zoo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.model_zoo.ports import embed_cli

from .fixtures import RAW, SAFETENSORS, raw, reference


def _embed(cli, tmp_path: Path, array: Path, fs: int, *extra: str) -> np.ndarray:
    return embed_cli(cli, tmp_path, "hubert-ecg", SAFETENSORS, array, fs, *extra)


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
