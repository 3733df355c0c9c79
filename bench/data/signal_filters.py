"""The filters of a signal model's input contract (:class:`SignalFilter`), applied by
:func:`bench.data.signal_recipe.apply_recipe` to a whole record at its own rate
(``SignalRecipe.filters``) or to each model window at the target rate
(``SignalRecipe.window_filters``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # numpy is imported where arrays are filtered (specs stay cheap)
    import numpy as np

#: The filters a recipe can apply (:class:`SignalFilter`).
FilterKind = Literal[
    "notch", "butter-bandpass", "fir-bandpass", "median-baseline", "butter-highpass",
    "butter-lowpass",
]  # fmt: skip
FILTER_KINDS: tuple[FilterKind, ...] = (
    "notch", "butter-bandpass", "fir-bandpass", "median-baseline", "butter-highpass",
    "butter-lowpass",
)  # fmt: skip


@dataclass(frozen=True)
class SignalFilter:
    """One filter of a model's input contract, applied lead by lead with zero phase.

    - ``notch``: scipy's ``iirnotch(freq, q)`` run forward and backward (``filtfilt``);
    - ``butter-bandpass``: a Butterworth band-pass of ``order`` between ``low`` and ``high``
      Hz (``butter(order, [low, high], "bandpass")``), ``filtfilt``;
    - ``fir-bandpass``: a windowed-sinc FIR band-pass between ``low`` and ``high`` Hz whose
      order is ``int(seconds * fs)`` at the record's rate, made odd (``firwin(order, [low,
      high], pass_zero=False)``, Hamming window), ``filtfilt`` (biosppy's ``filter_signal(
      ftype="FIR", band="bandpass")``, HuBERT-ECG's ``apply_filter``: ``seconds=0.3``);
    - ``butter-highpass`` / ``butter-lowpass``: a Butterworth high-pass above ``low`` Hz /
      low-pass below ``high`` Hz of ``order``, in second-order sections run forward and
      backward (``sosfiltfilt`` with its default padding: ST-MEM's ``HighpassFilter`` and
      ``LowpassFilter``, ``util/transforms.py``);
    - ``median-baseline``: subtracts the lead's running median over ``seconds`` (a window of
      ``int(seconds * fs) + 1`` samples, made odd; ``medfilt``), removing baseline wander.

    These are the operations of ECGFounder's ``filter_bandpass`` (notch 50 Hz Q 30,
    Butterworth order 4 at 0.67-40 Hz, 0.4 s median), and the usual ECG front ends.
    """

    kind: FilterKind
    low: float = 0.0
    high: float = 0.0
    order: int = 4
    freq: float = 0.0
    q: float = 30.0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FILTER_KINDS:
            raise ValueError(f"SignalFilter.kind must be one of {FILTER_KINDS}, got {self.kind!r}")
        if self.kind == "notch" and not (self.freq > 0 and self.q > 0):
            raise ValueError(f"notch filter: expected freq > 0 and q > 0, got {self}")
        if self.kind == "butter-bandpass" and not (0 < self.low < self.high and self.order >= 1):
            raise ValueError(
                f"band-pass filter: expected 0 < low < high and order >= 1, got {self}"
            )
        if self.kind == "fir-bandpass" and not (0 < self.low < self.high and self.seconds > 0):
            raise ValueError(
                f"FIR band-pass filter: expected 0 < low < high and seconds > 0, got {self}"
            )
        if self.kind == "butter-highpass" and not (self.low > 0 and self.order >= 1):
            raise ValueError(f"high-pass filter: expected low > 0 and order >= 1, got {self}")
        if self.kind == "butter-lowpass" and not (self.high > 0 and self.order >= 1):
            raise ValueError(f"low-pass filter: expected high > 0 and order >= 1, got {self}")
        if self.kind == "median-baseline" and not self.seconds > 0:
            raise ValueError(f"median baseline filter: expected seconds > 0, got {self}")

    def apply(self, rows: np.ndarray, fs: float) -> np.ndarray:
        """``rows`` ``(leads, n)`` at ``fs`` Hz, filtered (float64)."""
        import numpy as np
        from scipy import signal

        rows = np.asarray(rows, dtype=np.float64)
        if self.kind == "median-baseline":
            kernel = int(self.seconds * fs) + 1
            kernel += 1 - kernel % 2
            return rows - np.stack([signal.medfilt(row, kernel_size=kernel) for row in rows])
        if self.kind == "fir-bandpass":
            order = int(self.seconds * fs)
            order += 1 - order % 2
            taps = signal.firwin(order, [self.low, self.high], pass_zero=False, fs=fs)
            return signal.filtfilt(taps, np.ones(1), rows, axis=-1)
        if self.kind in ("butter-highpass", "butter-lowpass"):
            highpass = self.kind == "butter-highpass"
            cutoff, btype = (self.low, "highpass") if highpass else (self.high, "lowpass")
            sos = signal.butter(self.order, cutoff, btype=btype, fs=fs, output="sos")
            return np.asarray(signal.sosfiltfilt(sos, rows, axis=-1))
        if self.kind == "notch":
            b, a = signal.iirnotch(self.freq, self.q, fs)
        else:
            b, a = signal.butter(self.order, [self.low, self.high], btype="bandpass", fs=fs)
        return np.stack([signal.filtfilt(b, a, row) for row in rows])
