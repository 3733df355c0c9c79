"""ST-MEM through the CLI: `bench embed` of 12-lead .npy arrays (`bench run` in every
evaluation mode: tests/model_zoo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.signal import resample

from tests.model_zoo.ports import embed_cli

from .fixtures import CHECKPOINT, RAW, RAW_11S, build, embeddings, raw, reference, reference_11s


def _embed(cli, tmp_path: Path, array: Path, fs: int) -> np.ndarray:
    return embed_cli(cli, tmp_path, "st-mem", CHECKPOINT, array, fs)


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
