"""The window stage of the signal recipe (ST-MEM's contract): a record's first seconds,
windows spread over it (``NCrop``), filters and a z-score on each window; and that a
recipe without them keeps the identity it had before they existed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from bench.api import STANDARD_LEADS, ECGSignal, SignalFilter, SignalRecipe, apply_recipe
from bench.data.signal_recipe import window_starts

SPREAD = SignalRecipe(target_fs=250, normalise="none", segment_samples=2250, n_segments=3,
                      windows="spread")  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2252, 20_000), k=st.integers(2, 5))
def test_spread_windows_are_ncrops_starts(n: int, k: int) -> None:
    """``NCrop(S, k)``'s starts, ``arange(0, n - S + 1, (n - S) // (k - 1))``, the first
    ``k`` of them, wherever its step is positive."""
    recipe = replace(SPREAD, n_segments=k)
    step = (n - 2250) // (k - 1)
    expected = list(np.arange(0, n - 2250 + 1, step))[:k] if step else [0]
    assert window_starts(n, recipe) == expected
    assert all(start + 2250 <= n for start in window_starts(n, recipe))


def test_a_10s_record_at_250hz_has_windows_at_0_half_and_one_second() -> None:
    assert window_starts(2500, SPREAD) == [0, 125, 250]
    assert window_starts(2250, SPREAD) == [0] and window_starts(2249, SPREAD) == []
    assert window_starts(5000, replace(SPREAD, windows="consecutive")) == [0, 2250]


def test_the_windows_are_copied_then_filtered_and_zscored_each_on_its_own() -> None:
    """Each slot holds its window of the record, high- and low-passed with ``sosfiltfilt``
    and z-scored over its leads and samples (as upstream's transforms on each crop)."""
    rng = np.random.default_rng(3)
    data = rng.standard_normal((12, 2500)).cumsum(1).astype(np.float32)
    recipe = replace(SPREAD, window_filters=(SignalFilter("butter-highpass", low=0.67, order=5),
                                             SignalFilter("butter-lowpass", high=40.0, order=5)),
                     window_normalise="zscore-window")  # fmt: skip
    out = apply_recipe(ECGSignal(data, 250.0, STANDARD_LEADS), recipe)
    high = signal.butter(5, 0.67, btype="highpass", fs=250, output="sos")
    low = signal.butter(5, 40.0, btype="lowpass", fs=250, output="sos")
    for k, start in enumerate((0, 125, 250)):
        x = signal.sosfiltfilt(low, signal.sosfiltfilt(high, data[:, start : start + 2250]))
        expected = (x - x.mean()) / x.std()
        np.testing.assert_allclose(out[:, k * 2250 : (k + 1) * 2250], expected, atol=1e-5)


def test_clip_seconds_keeps_the_first_seconds_at_the_records_own_rate() -> None:
    data = np.arange(12 * 6000, dtype=np.float32).reshape(12, 6000)
    recipe = SignalRecipe(target_fs=500, normalise="none", segment_samples=1000, n_segments=9,
                          clip_seconds=10.0)  # fmt: skip
    out = apply_recipe(ECGSignal(data, 500.0, STANDARD_LEADS), recipe)
    np.testing.assert_array_equal(out[:, :5000], data[:, :5000])
    assert not out[:, 5000:].any()


@pytest.mark.parametrize(
    "change",
    [{"clip_seconds": 10.0}, {"windows": "spread"}, {"window_normalise": "zscore-window"},
     {"window_filters": (SignalFilter("butter-lowpass", high=40.0),)}],
)  # fmt: skip
def test_each_window_field_changes_the_identity_only_when_set(change) -> None:
    base = SignalRecipe(target_fs=250, resampling="fft", normalise="none", segment_samples=2250,
                        n_segments=1)  # fmt: skip
    assert base.hash() == "8c06628002c35cd4"  # the identity ST-MEM's contract had before
    assert replace(base, **change).hash() != base.hash()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"kind": "butter-highpass"}, "high-pass filter: expected low > 0"),
     ({"kind": "butter-lowpass", "high": 40.0, "order": 0}, "low-pass filter: expected high > 0")],
)  # fmt: skip
def test_an_invalid_high_or_low_pass_is_refused(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        SignalFilter(**kwargs)


def test_an_unknown_window_layout_or_normalisation_is_refused() -> None:
    with pytest.raises(ValueError, match="windows one of"):
        SignalRecipe(windows="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window_normalise must be one of"):
        SignalRecipe(window_normalise="zscore")  # type: ignore[arg-type]
