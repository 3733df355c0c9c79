"""ECG-CPC through the CLI: `bench embed` of 12-lead .npy files (240 Hz, the authors' rate, and
500 Hz; `bench run` in every evaluation mode: tests/model_zoo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.signal import resample

from tests.model_zoo.ports import embed_cli

from .fixtures import CHECKPOINT, raw, reference_windows


def _embed(cli, tmp_path: Path, records: np.ndarray, fs: int, *extra: str) -> np.ndarray:
    array = tmp_path / f"x{fs}.npy"
    np.save(array, records.astype(np.float32))
    return embed_cli(cli, tmp_path, "ecg-cpc", CHECKPOINT, array, fs, *extra)


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
