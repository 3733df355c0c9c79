"""ECGFM-KED equals the authors' code: a tiny random-init encoder saved in their training
checkpoint layout, run by their models/xresnet1d_101.py on their MimicivDataset's
preprocessing of a fixed raw input (tests/ecgfm_ked/fixtures/README.md), against the
harness's build of the same file through the model's own recipe."""

from __future__ import annotations

import numpy as np
import torch

from .fixtures import CHECKPOINT, build, embeddings, raw_500hz, reference, upstream_resampled


def test_embeddings_equal_the_authors_encoder(host) -> None:
    """Upstream's 100 Hz records through the recipe (MIMIC lead order kept, first 10 s,
    mV), the time-mean of the last map: equal to 1e-4."""
    spec, built = build(host, CHECKPOINT)
    assert built.init == "file"
    assert built.config["architecture"] == {
        "in_channels": 12, "stem": (8, 8, 64), "widths": (4, 8, 8, 12),
        "blocks": (3, 4, 23, 3), "kernel_size": 5, "kernel_size_stem": 5,
    }  # fmt: skip
    x = upstream_resampled(spec)
    np.testing.assert_array_equal(x.numpy(), np.load(CHECKPOINT.parent / "upstream_input.npy"))
    ours = embeddings(spec, built.module, x)
    expected = reference()
    assert ours.shape == expected.shape == (2, 48)
    np.testing.assert_allclose(ours, expected, atol=1e-4, rtol=0)


def test_the_500hz_path_equals_upstreams_input(host) -> None:
    """From the raw 500 Hz records in the standard order, the harness reorders the leads
    to MIMIC's order, resamples to 100 Hz by FFT (``resampling="fft"``, upstream's
    ``scipy.signal.resample`` of the whole record) and keeps 10 s in mV: upstream's input."""
    spec, _ = build(host, CHECKPOINT)
    ours = raw_500hz(spec).numpy()
    theirs = np.load(CHECKPOINT.parent / "upstream_input.npy")
    assert ours.shape == theirs.shape == (2, 12, 1000)
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)


def test_each_part_of_the_contract_matters(host) -> None:
    """The fixture catches the standard lead order (aVL before aVF) and z-scored input."""
    spec, built = build(host, CHECKPOINT)
    x = upstream_resampled(spec)
    swapped = x[:, [0, 1, 2, 3, 5, 4, *range(6, 12)]]
    zscored = (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True)
    for wrong in (swapped, zscored):
        with torch.no_grad():
            got = built.module.eval().tokens(wrong).mean(1).numpy()
        assert np.abs(got - reference()).max() > 1e-2
