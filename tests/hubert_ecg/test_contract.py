"""The input-contract steps HuBERT-ECG added to the signal recipe (a FIR band-pass whose order
is set in seconds, a per-lead min-max scaling to [-1, 1]) and what they leave unchanged:
every other recipe's hash, which is the cell identity of every signal model's cells."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.api import (
    STANDARD_LEADS,
    ECGFormatError,
    ECGSignal,
    SignalFilter,
    SignalRecipe,
    apply_recipe,
)

#: Recipes of the other signal models' contracts, with their hashes measured before the new
#: filter and normalisation were added (ECG-FM, ECGFounder and its fine-tuning filters,
#: ST-MEM, MERL): adding choices must not change an existing identity.
EXISTING = [
    (SignalRecipe(segment_samples=2500, n_segments=2, resampling="endpoints"), "752416d9df562e70"),
    (SignalRecipe(target_fs=500, resampling="endpoints", normalise="zscore-record",
                  segment_samples=5000, n_segments=1), "b4b79bd3b297e234"),
    (SignalRecipe(target_fs=500, resampling="endpoints", normalise="zscore-record",
                  segment_samples=5000, n_segments=1,
                  filters=(SignalFilter("notch", freq=50.0, q=30.0),
                           SignalFilter("butter-bandpass", low=0.67, high=40.0, order=4),
                           SignalFilter("median-baseline", seconds=0.4))), "09e1db7c2616e6cf"),
    (SignalRecipe(target_fs=250, resampling="fft", normalise="none", segment_samples=2250,
                  n_segments=1), "8c06628002c35cd4"),
    (SignalRecipe(leads=("I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5",
                         "V6"), target_fs=500, resampling="time", normalise="minmax-record",
                  segment_samples=5000, n_segments=1), "bccc4a48ac50130b"),
]  # fmt: skip


@pytest.mark.parametrize(("recipe", "expected"), EXISTING)
def test_existing_recipe_hashes_are_unchanged(recipe: SignalRecipe, expected: str) -> None:
    assert recipe.hash() == expected


def test_the_registered_contract_is_distinct_and_pinned(host) -> None:
    recipe = host.registries.models.get("hubert-ecg").input.recipe
    assert recipe.hash() not in {h for _, h in EXISTING}
    assert recipe.filters == (SignalFilter("fir-bandpass", low=0.05, high=47.0, seconds=0.3),)


def _sine(freq: float, fs: float, seconds: float = 10.0) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return np.sin(2 * np.pi * freq * t)[None]


@pytest.mark.parametrize("fs", [250.0, 500.0, 360.0])
def test_the_fir_band_pass_is_a_47hz_low_pass_at_any_rate(fs) -> None:
    """0.05-47 Hz of order 0.3 fs: a 10 Hz sine passes unshifted (zero phase), a 100 Hz one
    is removed; 0.05 Hz is finer than a 0.3 s filter resolves, so a constant offset keeps
    ~96 % (as upstream's; the min-max scaling removes it). Away from the edges."""
    band = SignalFilter("fir-bandpass", low=0.05, high=47.0, seconds=0.3)
    inner = slice(int(2 * fs), int(8 * fs))
    ten = _sine(10.0, fs)
    np.testing.assert_allclose(band.apply(ten, fs)[:, inner], ten[:, inner], atol=0.01)
    assert np.abs(band.apply(_sine(100.0, fs), fs)[:, inner]).max() < 1e-3
    offset = band.apply(np.ones_like(ten), fs)[:, inner]
    assert 0.95 < offset.min() <= offset.max() < 0.97


@pytest.mark.parametrize(
    "kwargs",
    [{"low": 47.0, "high": 0.05, "seconds": 0.3}, {"low": 0.05, "high": 47.0, "seconds": 0.0}],
)
def test_an_invalid_fir_band_pass_is_refused(kwargs) -> None:
    with pytest.raises(ValueError, match="FIR band-pass filter: expected 0 < low < high"):
        SignalFilter("fir-bandpass", **kwargs)


def test_a_record_too_short_for_the_fir_filter_is_refused_naming_it() -> None:
    """Order 151 at 500 Hz needs more than 453 samples (filtfilt's padding)."""
    recipe = SignalRecipe(filters=(SignalFilter("fir-bandpass", low=0.05, high=47.0, seconds=0.3),),
                          segment_samples=400, n_segments=1)  # fmt: skip
    sig = ECGSignal(np.zeros((12, 450), np.float32), 500.0, STANDARD_LEADS)
    with pytest.raises(ECGFormatError, match="fir-bandpass filter cannot run on this record"):
        apply_recipe(sig, recipe)


@settings(max_examples=25, deadline=None)
@given(
    scale=st.floats(0.01, 50.0),
    offset=st.floats(-5.0, 5.0),
    seed=st.integers(0, 2**16),
)
def test_minmax_lead_scales_each_lead_to_minus_one_one(scale, offset, seed) -> None:
    """Each present lead spans exactly [-1, 1] over the record; a constant lead becomes -1
    (the authors' formula), a missing one stays 0 (the harness's "absent")."""
    rng = np.random.default_rng(seed)
    data = (offset + scale * rng.standard_normal((3, 1000))).astype(np.float32)
    data[2] = offset
    sig = ECGSignal(data, 500.0, ("I", "II", "III"))
    recipe = SignalRecipe(leads=("I", "II", "III", "V1"), normalise="minmax-lead",
                          segment_samples=500, n_segments=2)  # fmt: skip
    out = apply_recipe(sig, recipe)
    np.testing.assert_allclose(out[:2].min(1), -1.0, atol=1e-6)
    np.testing.assert_allclose(out[:2].max(1), 1.0, atol=1e-5)
    assert (out[2] == -1.0).all() and (out[3] == 0.0).all()
