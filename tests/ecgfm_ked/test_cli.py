"""ECGFM-KED through the CLI: `bench embed` of a 12-lead .npy equals the features contract
on the recipe's input (and the authors' code at 100 Hz); `bench run` in every evaluation
mode: tests/model_zoo."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.model_zoo.ports import embed_cli

from .fixtures import CHECKPOINT, RAW, UPSTREAM_INPUT, build, embeddings, raw_500hz, reference


def _embed(cli, tmp_path: Path, source: Path, fs: str) -> np.ndarray:
    return embed_cli(cli, tmp_path, "ecgfm-ked", CHECKPOINT, source, float(fs))


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
