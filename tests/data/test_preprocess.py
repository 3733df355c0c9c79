"""The paper's preprocessing: limb leads, resampling, filtering, quality checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.data.preprocess import (
    DEFAULT_PREPROCESS,
    PreprocessConfig,
    add_limb_leads,
    check_quality,
    prepare,
    preprocess,
    preprocess_batch,
    resample,
)
from bench.data.signal import STANDARD_LEADS, ECGFormatError, ECGSignal

from .fixtures import synthetic_ecg

FS = 500.0


def _limb_only(seed: int = 0) -> ECGSignal:
    full = synthetic_ecg(seed)
    keep = [full.leads.index(n) for n in ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")]
    return ECGSignal(full.data[keep], full.fs, tuple(full.leads[i] for i in keep))


def test_limb_leads_derived_exactly() -> None:
    sig = _limb_only()
    out = add_limb_leads(sig)
    i, ii = sig.lead("I"), sig.lead("II")
    np.testing.assert_allclose(out.lead("III"), ii - i, atol=1e-6)
    np.testing.assert_allclose(out.lead("aVR"), -(i + ii) / 2, atol=1e-6)
    np.testing.assert_allclose(out.lead("aVL"), i - ii / 2, atol=1e-6)
    np.testing.assert_allclose(out.lead("aVF"), ii - i / 2, atol=1e-6)
    assert set(out.leads) == set(STANDARD_LEADS)


def test_derivation_names_missing_base_lead() -> None:
    sig = _limb_only()
    no_ii = ECGSignal(np.delete(sig.data, 1, axis=0), FS, tuple(n for n in sig.leads if n != "II"))
    with pytest.raises(ECGFormatError, match="lead 'II' is missing"):
        add_limb_leads(no_ii)


def test_missing_plotted_lead_is_named() -> None:
    sig = synthetic_ecg(1)
    keep = [k for k, n in enumerate(sig.leads) if n != "V4"]
    with pytest.raises(ECGFormatError, match=r"missing plotted lead\(s\) \['V4'\]"):
        preprocess(ECGSignal(sig.data[keep], FS, tuple(sig.leads[k] for k in keep)))


def test_nan_is_rejected_with_lead_name() -> None:
    sig = synthetic_ecg(2)
    data = sig.data.copy()
    data[sig.leads.index("V2"), 100:103] = np.nan
    with pytest.raises(ECGFormatError, match="lead V2: 3 non-finite samples"):
        preprocess(ECGSignal(data, FS, sig.leads))


@pytest.mark.parametrize(("value", "match"), [(0.0, "lead V1: flat"), (12.0, "lead V1: saturated")])
def test_bad_lead_rejected_or_flagged(value: float, match: str) -> None:
    sig = synthetic_ecg(3)
    data = sig.data.copy()
    data[sig.leads.index("V1")] = value
    bad = ECGSignal(data, FS, sig.leads)
    assert any(match in flag for flag in check_quality(bad))
    with pytest.raises(ECGFormatError, match=match):
        preprocess(bad)
    kept = preprocess(bad, dataclasses.replace(DEFAULT_PREPROCESS, on_bad_lead="flag"))
    assert kept.shape == (8, 2500)


FAULTS = {
    "NaN": (np.nan, "non-finite"),
    "flat": (0.0, "flat"),
    "saturated": (12.0, "saturated"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("fs", [500.0, 250.0, 1000.0])
def test_quality_is_judged_on_the_window_that_is_used(fault: str, fs: float) -> None:
    """A fault after the first 5 s is never used, so it must not reject the record; the same
    fault inside the window must. At other rates the window is 5 s at the record's rate."""
    value, message = FAULTS[fault]
    sig = synthetic_ecg(3, fs=fs, seconds=10.0)
    window = int(5 * fs)
    late = sig.data.copy()
    late[sig.leads.index("V1"), window + 1 :] = value  # from just after the window to the end
    out = preprocess(ECGSignal(late, fs, sig.leads))
    assert out.shape == (8, 2500) and np.isfinite(out).all()
    np.testing.assert_array_equal(out, preprocess(sig))  # what lies beyond is never read
    early = sig.data.copy()
    early[sig.leads.index("V1"), :window] = value  # the whole window, the rest is clean
    with pytest.raises(ECGFormatError, match=f"lead V1: .*{message}"):
        preprocess(ECGSignal(early, fs, sig.leads))


def test_clean_signal_has_no_flags() -> None:
    assert check_quality(synthetic_ecg(4)) == []


@pytest.mark.parametrize("fs", [250.0, 1000.0, 257.0])
def test_resampling_gives_five_seconds_at_500_hz(fs: float) -> None:
    out = preprocess(synthetic_ecg(5, fs=fs, seconds=10.0))
    assert out.shape == (8, 2500) and out.dtype == np.float32
    assert resample(synthetic_ecg(5, fs=fs, seconds=10.0), FS).n_samples == 5000


def test_resampling_keeps_a_sine() -> None:
    t = np.arange(2500) / 250.0
    sig = ECGSignal(np.sin(2 * np.pi * 5 * t)[None].astype(np.float32), 250.0, ("I",))
    out = resample(sig, FS)
    t2 = np.arange(out.n_samples) / FS
    inner = slice(100, -100)
    np.testing.assert_allclose(out.data[0, inner], np.sin(2 * np.pi * 5 * t2)[inner], atol=0.02)


def _with_noise(extra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sig = synthetic_ecg(6)
    clean = preprocess(sig)
    noisy = preprocess(ECGSignal(sig.data + extra.astype(np.float32), FS, sig.leads))
    return clean, noisy


def test_bandpass_removes_baseline_wander() -> None:
    t = np.arange(5000) / FS
    wander = 1.5 * np.sin(2 * np.pi * 0.15 * t) + 0.8
    clean, noisy = _with_noise(np.broadcast_to(wander, (12, t.size)))
    # 1.5 mV of wander plus a 0.8 mV offset leave under 0.1 mV anywhere, edges included.
    assert np.abs(noisy - clean).max() < 0.1
    assert np.abs(noisy - clean)[:, 500:].max() < 0.05


def test_bandpass_removes_mains_hum() -> None:
    t = np.arange(5000) / FS
    hum = 0.5 * np.sin(2 * np.pi * 60 * t)
    clean, noisy = _with_noise(np.broadcast_to(hum, (12, t.size)))
    assert np.abs(noisy - clean).std() < 0.01  # 0.35 mV rms in, < 0.01 mV rms out
    assert np.abs(noisy - clean).max() < 0.1


def test_median_filter_keeps_qrs_amplitude() -> None:
    sig = synthetic_ecg(7)
    out = preprocess(sig)
    raw = sig.lead("II")[:2500]
    raw_span = raw.max() - raw.min()
    assert out[1].max() - out[1].min() == pytest.approx(raw_span, rel=0.1)


@pytest.mark.parametrize(
    ("pad", "check"),
    [
        ("edge", lambda tail, last: np.allclose(tail, last)),
        ("zero", lambda tail, last: np.allclose(tail, 0.0)),
    ],
)
def test_short_records_are_padded(pad: str, check: object) -> None:
    config = dataclasses.replace(DEFAULT_PREPROCESS, pad=pad)
    out = preprocess(synthetic_ecg(8, seconds=3.0), config)
    assert out.shape == (8, 2500)
    assert check(out[:, 1500:], out[:, 1499:1500])  # type: ignore[operator]


def test_short_record_rejected_under_reject_policy() -> None:
    config = dataclasses.replace(DEFAULT_PREPROCESS, pad="reject")
    with pytest.raises(ECGFormatError, match=r"3.00 s long .* expected at least 5.00 s"):
        preprocess(synthetic_ecg(8, seconds=3.0), config)


def test_batch_equals_single() -> None:
    signals = [synthetic_ecg(s, seconds=sec) for s, sec in ((1, 10.0), (2, 3.0), (3, 7.0))]
    batch = preprocess_batch(signals)
    for sig, row in zip(signals, batch, strict=True):
        np.testing.assert_allclose(row, preprocess(sig), atol=1e-5)


def test_config_hash_tracks_every_field() -> None:
    base = PreprocessConfig()
    assert base.hash() == PreprocessConfig().hash()
    assert base.hash() != dataclasses.replace(base, median_kernel=5).hash()
    assert base.hash() != dataclasses.replace(base, version=base.version + "-changed").hash()


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [("median_kernel", 4, "odd"), ("bandpass_hz", (40.0, 0.5), "bandpass_hz"),
     ("pad", "wrap", "pad")],
)  # fmt: skip
def test_bad_config_is_explained(field: str, value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PreprocessConfig(**{field: value})


@settings(max_examples=25, deadline=None)
@given(
    fs=st.floats(min_value=100.0, max_value=2000.0),
    seconds=st.floats(min_value=0.5, max_value=12.0),
    seed=st.integers(0, 1000),
)
def test_output_shape_and_dtype_for_any_rate_and_length(
    fs: float, seconds: float, seed: int
) -> None:
    out = preprocess(synthetic_ecg(seed, fs=fs, seconds=seconds))
    assert out.shape == (8, 2500)
    assert out.dtype == np.float32
    assert np.isfinite(out).all()


def test_prepare_takes_mv_and_standardised_samples_and_refuses_other_units() -> None:
    base = synthetic_ecg(3)
    standardised = dataclasses.replace(base, units="zscore")
    np.testing.assert_array_equal(prepare(standardised), prepare(base))
    with pytest.raises(ECGFormatError, match=r"signal units must be mV .* got 'uV'"):
        prepare(dataclasses.replace(base, units="uV"))
