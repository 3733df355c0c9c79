"""ECG-JEPA through the CLI: `bench embed` of a 12-lead 500 Hz .npy (`bench run` in every
evaluation mode: tests/model_zoo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.model_zoo.ports import embed_cli

from .fixtures import CHECKPOINT, raw, reference


def test_bench_embed_of_a_500hz_npy(cli, tmp_path: Path) -> None:
    """A 12-lead 500 Hz .npy (standard order): one row per record, the authors' 500 Hz
    pipeline's embeddings (FFT resampling to 250 Hz, leads I, II, V1–V6)."""
    array = tmp_path / "x.npy"
    np.save(array, raw(500).astype(np.float32))
    got = embed_cli(cli, tmp_path, "ecg-jepa", CHECKPOINT, array, 500)
    np.testing.assert_allclose(got, reference(500, "embeddings"), atol=1e-4, rtol=0)
