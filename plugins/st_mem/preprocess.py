"""ST-MEM's per-window preprocessing, applied by the model to each 2,250-sample window
(``configs/downstream/st_mem.yaml``'s ``eval_transforms`` after the crop, with the
authors' ``util/transforms.py`` operations):

1. ``HighpassFilter(fs=250, cutoff=0.67)``: a 5th-order Butterworth high-pass, zero-phase
   (``scipy.signal.sosfiltfilt`` of second-order sections);
2. ``LowpassFilter(fs=250, cutoff=40)``: the same, low-pass at 40 Hz;
3. ``Standardize(axis=(-1, -2))``: one z-score over the window's leads and samples together
   (a constant window becomes all-zero).

The model does this rather than the harness's input contract because the contract's
filters run on the whole record at its own rate and offer a Butterworth band-pass in
transfer-function form, not the authors' separate high- and low-pass sections on each
250 Hz window (measured on ECG-like records: up to 0.46 z-units apart; docs/models.md).
The filters need no gradient: a window is an input, not a parameter.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
from scipy import signal
from torch import Tensor

#: The rate the windows are at (the input contract's ``target_fs``).
FS = 250.0
#: Cut-offs (Hz) and order of the authors' high- and low-pass filters.
HIGHPASS_HZ = 0.67
LOWPASS_HZ = 40.0
ORDER = 5


@cache
def _sections() -> tuple[np.ndarray, np.ndarray]:
    """The high- and low-pass second-order sections (``SOSFilter``'s ``butter``)."""
    high = signal.butter(ORDER, HIGHPASS_HZ, btype="highpass", fs=FS, output="sos")
    low = signal.butter(ORDER, LOWPASS_HZ, btype="lowpass", fs=FS, output="sos")
    return high, low


def window_transform(windows: Tensor) -> Tensor:
    """``(B, leads, T)`` windows at 250 Hz, filtered and standardised one window at a time
    (float64 arithmetic, returned as float32 on ``windows``' device)."""
    high, low = _sections()
    x = windows.detach().to("cpu", torch.float64).numpy()
    x = signal.sosfiltfilt(low, signal.sosfiltfilt(high, x, axis=-1), axis=-1)
    loc = x.mean(axis=(-1, -2), keepdims=True)
    scale = x.std(axis=(-1, -2), keepdims=True)
    out = np.divide(x - loc, scale, out=np.zeros_like(x), where=scale != 0)
    return torch.from_numpy(out).to(windows.device, torch.float32)
