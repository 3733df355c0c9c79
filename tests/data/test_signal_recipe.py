"""Model-declared signal recipe: linear resampling, per-lead z-score, zero-filled leads,
whole segments, and its own cache array keyed by the recipe hash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.data.cohort import Cohort
from bench.data.image_cache import ImageCache
from bench.data.signal import STANDARD_LEADS, ECGFormatError, ECGSignal
from bench.data.signal_recipe import SignalRecipe, apply_recipe, resample_linear, zscore_leads

RECIPE = SignalRecipe(segment_samples=500, n_segments=3)


def _sig(n: int, fs: float = 500.0, leads: tuple[str, ...] = STANDARD_LEADS) -> ECGSignal:
    rng = np.random.default_rng(n)
    return ECGSignal(rng.normal(size=(len(leads), n)).astype(np.float32), fs, leads)


def test_zscore_per_lead_over_the_whole_record_and_constant_lead_to_zero() -> None:
    data = np.stack([np.arange(10.0), np.full(10, 3.0)])
    out = zscore_leads(data)
    np.testing.assert_allclose(out[0].mean(), 0, atol=1e-12)
    np.testing.assert_allclose(out[0].std(), 1, atol=1e-12)
    assert (out[1] == 0).all()


@settings(max_examples=25, deadline=None)
@given(fs=st.sampled_from([100.0, 250.0, 360.0, 1000.0]), n=st.integers(50, 400))
def test_linear_resampling_is_exact_on_a_ramp(fs: float, n: int) -> None:
    ramp = (np.arange(n) / fs)[None, :] * 2.0
    out = resample_linear(ramp, fs, 500.0)
    assert out.shape[1] == int(np.floor(n * 500.0 / fs + 1e-9))
    t = np.arange(out.shape[1]) / 500.0
    inside = t <= (n - 1) / fs
    np.testing.assert_allclose(out[0, inside], 2.0 * t[inside], atol=1e-9)


def test_endpoint_resampling_pins_fairseq_signals_grid_by_hand() -> None:
    """400 -> 500 Hz of 4 samples: n' = int(4 * 1.25) = 5 outputs at 0..4, the inputs at
    linspace(0, 4, 4) = 0, 4/3, 8/3, 4; a line through them is 9/4 per output step."""
    out = resample_linear(np.array([[0.0, 3.0, 6.0, 9.0]]), 400.0, 500.0, "endpoints")
    np.testing.assert_allclose(out, [[0.0, 2.25, 4.5, 6.75, 9.0]], atol=1e-12)
    time_grid = resample_linear(np.array([[0.0, 3.0, 6.0, 9.0]]), 400.0, 500.0, "time")
    np.testing.assert_allclose(time_grid, [[0.0, 2.4, 4.8, 7.2, 9.0]], atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(fs=st.sampled_from([100.0, 250.0, 257.0, 360.0, 400.0, 1000.0]), n=st.integers(50, 4096))
def test_endpoint_resampling_equals_scipy_interp1d_on_the_pipeline_grid(fs: float, n: int) -> None:
    """The ECG-FM pipeline's resampler (fairseq-signals ``resample``: scipy's interp1d with
    the inputs at ``linspace(0, n' - 1, n)``), written independently with scipy."""
    from scipy.interpolate import interp1d

    data = np.random.default_rng(n).normal(size=(2, n))
    n_out = int(n * (500.0 / fs))
    reference = interp1d(np.linspace(0, n_out - 1, n), data, kind="linear")(np.arange(n_out))
    np.testing.assert_allclose(resample_linear(data, fs, 500.0, "endpoints"), reference,
                               rtol=0, atol=1e-12)  # fmt: skip


def test_ecg_fm_preprocesses_on_its_own_pipeline_grid() -> None:
    """ECG-FM's registered input contract resamples a 400 Hz ECG as its authors' pipeline
    does (interp1d on the endpoint grid, then the per-lead z-score), not on the time grid."""
    from scipy.interpolate import interp1d

    from bench.api import get_host

    recipe = get_host().registries.models.get("ecg-fm").input.recipe
    assert recipe is not None and recipe.resampling == "endpoints"
    sig = _sig(4000, fs=400.0)  # 10 s at 400 Hz, as CODE-15%
    raw = sig.data.astype(np.float64)
    resampled = interp1d(np.linspace(0, 4999, 4000), raw, kind="linear")(np.arange(5000))
    expected = (resampled - resampled.mean(1, keepdims=True)) / resampled.std(1, keepdims=True)
    np.testing.assert_allclose(apply_recipe(sig, recipe), expected, atol=2e-6)


def test_missing_leads_are_zero_filled_in_recipe_order() -> None:
    leads = tuple(name for name in STANDARD_LEADS if name not in ("aVR", "V3"))
    out = apply_recipe(_sig(1500, leads=leads), RECIPE)
    assert out.shape == (12, 1500)
    for k, name in enumerate(STANDARD_LEADS):
        assert (out[k] == 0).all() == (name in ("aVR", "V3"))


def test_whole_segments_only_and_unfilled_slots_stay_zero() -> None:
    out = apply_recipe(_sig(1250), RECIPE)  # 2 whole segments, remainder 250 dropped
    assert np.abs(out[:, :1000]).sum() > 0 and (out[:, 1000:] == 0).all()
    # the z-score uses the whole record (remainder included) before cutting
    np.testing.assert_allclose(out[0, :1000], zscore_leads(_sig(1250).data.astype(float))[0, :1000],
                               rtol=1e-5)  # fmt: skip


def test_record_shorter_than_one_segment_is_rejected() -> None:
    with pytest.raises(ECGFormatError, match=r"at least one 1\.00 s segment"):
        apply_recipe(_sig(400), RECIPE)


def test_recipe_cache_is_keyed_by_recipe_and_counts_missing_leads(tmp_path: Path) -> None:
    records = {"a": _sig(1500), "b": _sig(1500, leads=STANDARD_LEADS[:6]), "c": _sig(10)}
    manifest = pd.DataFrame(
        {"record_id": list(records), "patient_id": list(records), "site": "x", "label": 0}
    )
    cohort = Cohort("toy", "synthetic", "1", manifest, records.__getitem__, cache_key="toy")
    cache = ImageCache(tmp_path)
    cached = cache.recipe_signals(cohort, list(records), RECIPE, progress=False)
    assert cached.array.shape == (2, 12, 1500)
    assert set(cached.failed) == {"c"}
    assert cached.missing_leads == {"b": list(STANDARD_LEADS[6:])}
    np.testing.assert_array_equal(cached.array[cached.row("a")], apply_recipe(records["a"], RECIPE))
    other = cache.recipe_signals(cohort, ["a"], SignalRecipe(segment_samples=750, n_segments=2),
                                 progress=False)  # fmt: skip
    assert other.array.shape == (1, 12, 1500) and SignalRecipe().hash() != RECIPE.hash()
    assert len(list(tmp_path.iterdir())) == 2


def test_recipe_filters_remove_mains_hum_and_baseline_wander_and_keep_the_band() -> None:
    """A 10 Hz wave plus 50 Hz hum and 0.2 Hz wander: the notch and the median baseline
    remove those two, the band-pass keeps the 10 Hz wave (to within a few per cent)."""
    from bench.data.signal_recipe import SignalFilter

    fs, t = 500.0, np.arange(5000) / 500.0
    wave = np.sin(2 * np.pi * 10 * t)
    hum, wander = 0.5 * np.sin(2 * np.pi * 50 * t), 2.0 * np.sin(2 * np.pi * 0.2 * t)
    rows = np.stack([wave + hum, wave + wander])
    notch = SignalFilter("notch", freq=50.0, q=30.0).apply(rows[:1], fs)
    assert np.abs(notch[0, 500:-500] - wave[500:-500]).max() < 0.05
    band = SignalFilter("butter-bandpass", low=0.67, high=40.0).apply(rows[1:], fs)
    assert np.abs(band[0, 500:-500] - wave[500:-500]).max() < 0.1
    recipe = SignalRecipe(leads=("I",), filters=(SignalFilter("median-baseline", seconds=0.4),),
                          normalise="none", segment_samples=5000, n_segments=1)  # fmt: skip
    out = apply_recipe(ECGSignal(rows[1:].astype(np.float32), fs, ("I",)), recipe)
    residue = np.abs(out[0, 500:-500] - wave[500:-500]).mean()
    assert residue < 0.1 * np.abs(wander[500:-500]).mean(), residue


def test_record_zscore_is_one_mean_and_deviation_over_all_leads() -> None:
    sig = _sig(1500)
    out = apply_recipe(sig, SignalRecipe(normalise="zscore-record", segment_samples=500,
                                         n_segments=3))  # fmt: skip
    data = sig.data.astype(np.float64)
    np.testing.assert_allclose(out, (data - data.mean()) / (data.std() + 1e-8), atol=1e-6)
    assert abs(out.mean()) < 1e-6 and not np.allclose(out.std(axis=1), 1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "lowpass"}, "kind must be one of"),
        ({"kind": "butter-bandpass", "low": 40.0, "high": 0.5}, "0 < low < high"),
        ({"kind": "notch"}, "freq > 0"),
        ({"kind": "median-baseline"}, "seconds > 0"),
    ],
)
def test_a_bad_filter_is_refused_naming_what_was_expected(kwargs, message) -> None:
    from bench.data.signal_recipe import SignalFilter

    with pytest.raises(ValueError, match=message):
        SignalFilter(**kwargs)


def test_a_record_too_short_for_a_filter_is_a_format_error() -> None:
    from bench.data.signal_recipe import SignalFilter

    recipe = SignalRecipe(filters=(SignalFilter("butter-bandpass", low=0.5, high=40.0),),
                          segment_samples=10, n_segments=1)  # fmt: skip
    with pytest.raises(ECGFormatError, match="butter-bandpass filter cannot run"):
        apply_recipe(_sig(20), recipe)


def test_record_minmax_scales_the_kept_window_with_its_zero_filled_leads() -> None:
    """``minmax-record``: one min and max over every lead of the samples kept after the cut
    (a spike after the window does not count; a zero-filled lead takes part, as in MERL)."""
    leads = tuple(name for name in STANDARD_LEADS if name != "V3")
    data = np.random.default_rng(0).normal(0, 0.3, (11, 1200)).astype(np.float32)
    data[4, 1100] = 50.0  # after the one kept 1,000-sample window
    recipe = SignalRecipe(normalise="minmax-record", segment_samples=1000, n_segments=1)
    out = apply_recipe(ECGSignal(data, 500.0, leads), recipe)
    window = np.zeros((12, 1000))
    window[[STANDARD_LEADS.index(n) for n in leads]] = data[:, :1000]
    expected = (window - window.min()) / (window.max() - window.min() + 1e-8)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert out.min() == 0.0 and out.max() == pytest.approx(1.0)
