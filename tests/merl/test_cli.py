"""MERL through the CLI: `bench embed` of a 12-lead 500 Hz .npy equals the authors' code
(`bench run` in every evaluation mode: tests/model_zoo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.model_zoo.ports import embed_cli

from .fixtures import RAW, checkpoint, reference


def test_bench_embed_of_a_500hz_npy_equals_the_authors_code(cli, tmp_path: Path) -> None:
    """The .npy holds the leads in the standard order (aVL before aVF), 10.2 s."""
    got = embed_cli(cli, tmp_path, "merl", checkpoint(), RAW, 500)
    np.testing.assert_allclose(got, reference("resnet18", "embeddings"), atol=1e-4, rtol=0)
