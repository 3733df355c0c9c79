"""HuBERT-ECG equals the authors' code: a tiny random-init ``HuBERTECG`` saved by upstream
in both released layouts, run by upstream on its own preprocessing (``ecg_preprocessing`` and
``ECGDataset``) of a fixed raw input (tests/hubert_ecg/fixtures/README.md), against the
harness's build of the same files on the same raw input through the model's own contract."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from bench.plugins.hubert_ecg.model import window_transform

from bench.api import SignalFilter

from .fixtures import (
    FIXTURES,
    LEGACY,
    SAFETENSORS,
    build,
    harness_inputs,
    raw,
    reference,
    window_embeddings,
    windows,
)


@pytest.mark.parametrize("fs", [500, 250])
@pytest.mark.parametrize("weights", [SAFETENSORS, LEGACY], ids=["hf", "legacy"])
def test_window_embeddings_equal_the_authors_pipeline(host, weights, fs: int) -> None:
    """Raw records at 500 or 250 Hz through the contract (FIR band-pass at the record's
    rate, FFT resampling to 500 Hz, per-lead min-max, 5 s windows) and the model (flatten,
    decimate, encoder, time mean): equal to upstream to 1e-4 (measured: ~2e-7)."""
    spec, built = build(host, weights)
    assert built.init == "file" and built.config["architecture"]["hidden_size"] == 32
    ours = window_embeddings(spec, built.module, fs)
    expected = reference(fs)
    assert ours.shape == expected.shape == (2, 2, 32)
    np.testing.assert_allclose(ours, expected, atol=1e-4, rtol=0)


def test_the_model_is_fed_what_the_authors_dataset_feeds_it(host) -> None:
    """The first window of each record, flattened lead-major and decimated to 6,000 values,
    equals ``ECGDataset``'s output for the preprocessed file (measured: ~6e-8)."""
    spec, _ = build(host)
    fed = window_transform(windows(harness_inputs(spec, raw(500), 500.0))).numpy()
    expected = np.load(FIXTURES / "500hz_first_window_inputs.npy")
    assert fed.shape == (4, 6000)
    np.testing.assert_allclose(fed[::2], expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "change",
    [
        {"filters": ()},
        {"filters": (SignalFilter("fir-bandpass", low=0.5, high=47.0, seconds=0.3),)},
        {"resampling": "time"},
        {"normalise": "zscore"},
    ],
    ids=["no-filter", "other-band", "linear-resampling", "zscore"],
)
def test_each_step_of_the_contract_is_part_of_the_parity(host, change) -> None:
    """Leaving out or changing a step of the contract moves the 250 Hz embeddings away from
    upstream's: the parity above pins every step."""
    spec, built = build(host)
    recipe = replace(spec.input.recipe, **change)
    other = replace(spec, input=replace(spec.input, recipe=recipe))
    assert np.abs(window_embeddings(other, built.module, 250) - reference(250)).max() > 1e-3


def test_without_the_decimation_the_encoder_sees_other_inputs(host) -> None:
    """Every fifth sample of the flattened window (no anti-alias filter) instead of
    ``decimate``: other embeddings."""
    spec, built = build(host)
    x = windows(harness_inputs(spec, raw(500), 500.0))
    import torch

    with torch.no_grad():
        naive = built.module.eval().hubert_ecg(x.reshape(4, -1)[:, ::5]).mean(1).numpy()
    assert np.abs(naive.reshape(2, 2, -1) - reference(500)).max() > 1e-3
