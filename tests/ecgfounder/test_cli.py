"""ECGFounder through the CLI: `bench embed` of a 12-lead 500 Hz .npy equals the authors'
code (`bench run` in every evaluation mode: tests/model_zoo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.model_zoo.ports import embed_cli

from .fixtures import RAW, TAGS, checkpoint, reference


@pytest.mark.parametrize("model", sorted(TAGS))
def test_bench_embed_of_a_500hz_npy_equals_the_authors_code(cli, tmp_path: Path, model) -> None:
    got = embed_cli(cli, tmp_path, model, checkpoint(model), RAW, 500)
    np.testing.assert_allclose(got, reference(model, "eval", "embeddings"), atol=1e-4, rtol=0)
