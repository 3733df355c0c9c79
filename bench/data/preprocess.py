"""The paper's signal preprocessing: derive limb leads, resample, cut to 5 s, filter.

Recipe (HeartBEiT Methods, see DESIGN.md "The ECG → image recipe"), in this order:

1. select the plotted leads (deriving missing limb leads from I and II);
2. keep the window that becomes the first ``n_samples`` output samples (5 s at 500 Hz):
   the first ``ceil(n_samples * fs / target_fs)`` samples at the record's own rate;
3. reject non-finite samples in that window; flag flat or saturated leads in it (reject or
   keep, per config) — what lies after the window is never used, so it is never judged;
4. resample the window to ``target_fs`` (polyphase, :func:`scipy.signal.resample_poly`)
   and keep its first ``n_samples`` samples;
5. Butterworth band-pass (0.5–40 Hz, zero-phase ``sosfiltfilt``), then a median filter;
6. pad records shorter than ``n_samples`` according to ``pad`` (after filtering, so the
   filter never sees the artificial padding).

Filtering runs on the truncated record so every record costs the same, and it is
vectorised over leads and records (:func:`finish` takes a whole batch).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import ndimage, signal

from bench.data.signal import (
    STANDARDISED_UNITS,
    ECGFormatError,
    ECGSignal,
    derive_limb_leads,
)

PadPolicy = Literal["edge", "zero", "reject"]
BadLeadPolicy = Literal["reject", "flag"]


@dataclass(frozen=True)
class PreprocessConfig:
    """Versioned preprocessing recipe; :meth:`hash` goes into every result record.

    - ``target_fs`` / ``n_samples``: output rate and length (default 500 Hz, 2,500 = 5 s);
      longer records keep their *first* ``n_samples`` samples.
    - ``pad``: what to do with records shorter than ``n_samples`` after resampling:
      ``"edge"`` (default) repeats the last filtered value, ``"zero"`` appends 0 mV
      (the filtered signal's baseline), ``"reject"`` raises :class:`ECGFormatError`.
    - ``bandpass_hz`` / ``filter_order``: Butterworth band-pass, applied forwards and
      backwards (zero phase, so the effective magnitude response is squared).
    - ``median_kernel``: odd kernel in samples of the median filter that follows. 3 samples
      (6 ms at 500 Hz) removes single-sample spikes; a QRS lasts 80–120 ms (40–60 samples),
      so its shape and amplitude are kept.
    - ``edge_mean_s``: the filter's edge padding reflects the record about its mean level
      over this many seconds at each end (see :func:`_extend`).
    - ``plot_leads``: output rows, in order (the paper's 8 leads).
    - ``flat_mv``: a lead whose peak-to-peak amplitude is below this is "flat".
    - ``saturation_mv``: a lead reaching ``|x| >= saturation_mv`` is "saturated"
      (no physiological ECG reaches 10 mV; recorders clip there or below).
    - ``on_bad_lead``: ``"reject"`` raises on a flat/saturated lead, ``"flag"`` keeps the
      record (the flags are available from :func:`check_quality`).
    """

    target_fs: float = 500.0
    n_samples: int = 2500
    pad: PadPolicy = "edge"
    bandpass_hz: tuple[float, float] = (0.5, 40.0)
    filter_order: int = 4
    median_kernel: int = 3
    edge_mean_s: float = 0.1
    plot_leads: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
    flat_mv: float = 0.01
    saturation_mv: float = 10.0
    on_bad_lead: BadLeadPolicy = "reject"
    version: str = "2"  # 2: quality judged on the 5 s window, resampling after the crop

    def __post_init__(self) -> None:
        low, high = self.bandpass_hz
        if not 0 < low < high < self.target_fs / 2:
            raise ValueError(
                f"PreprocessConfig.bandpass_hz must satisfy 0 < low < high < target_fs/2 "
                f"= {self.target_fs / 2}, got {self.bandpass_hz}"
            )
        if self.median_kernel < 1 or self.median_kernel % 2 == 0:
            raise ValueError(
                f"PreprocessConfig.median_kernel must be a positive odd number of samples, "
                f"got {self.median_kernel}"
            )
        if self.n_samples < 1:
            raise ValueError(f"PreprocessConfig.n_samples must be >= 1, got {self.n_samples}")
        if self.pad not in ("edge", "zero", "reject"):
            raise ValueError(
                f"PreprocessConfig.pad must be 'edge', 'zero' or 'reject', got {self.pad!r}"
            )
        if self.on_bad_lead not in ("reject", "flag"):
            raise ValueError(
                f"PreprocessConfig.on_bad_lead must be 'reject' or 'flag', got {self.on_bad_lead!r}"
            )

    def hash(self) -> str:
        """Short sha256 of the canonical JSON of every field (version included)."""
        return config_hash(self)


def config_hash(config: object) -> str:
    """Short sha256 of a dataclass's fields as canonical (sorted-key) JSON."""
    payload = json.dumps(asdict(config), sort_keys=True, default=str)  # type: ignore[call-overload]
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


DEFAULT_PREPROCESS = PreprocessConfig()

LIMB_LEADS: tuple[str, ...] = ("III", "aVR", "aVL", "aVF")


def add_limb_leads(sig: ECGSignal) -> ECGSignal:
    """Add III, aVR, aVL and aVF where missing, computed from leads I and II.

    Raises :class:`ECGFormatError` naming the lead when I or II is absent.
    """
    missing = [name for name in LIMB_LEADS if name not in sig.leads]
    if not missing:
        return sig
    for base in ("I", "II"):
        if base not in sig.leads:
            raise ECGFormatError(
                f"cannot derive limb leads {missing}: lead {base!r} is missing "
                f"(record has {list(sig.leads)})"
            )
    i, ii = sig.lead("I"), sig.lead("II")
    derived = derive_limb_leads(i, ii)
    extra = np.stack([derived[name] for name in missing]).astype(sig.data.dtype)
    return ECGSignal(
        data=np.concatenate([sig.data, extra]),
        fs=sig.fs,
        leads=sig.leads + tuple(missing),
        units=sig.units,
        flags=sig.flags,
    )


def resample(sig: ECGSignal, target_fs: float) -> ECGSignal:
    """Polyphase resampling to ``target_fs`` (rate ratio approximated by a fraction)."""
    if sig.fs == target_fs:
        return sig
    ratio = Fraction(target_fs / sig.fs).limit_denominator(1000)
    data = signal.resample_poly(sig.data, ratio.numerator, ratio.denominator, axis=1)
    return ECGSignal(
        data=data.astype(np.float32), fs=target_fs, leads=sig.leads, units=sig.units,
        flags=sig.flags,
    )  # fmt: skip


def _select(sig: ECGSignal, leads: Sequence[str]) -> ECGSignal:
    if any(name not in sig.leads for name in leads):
        sig = add_limb_leads(sig) if any(n in LIMB_LEADS for n in leads) else sig
    absent = [name for name in leads if name not in sig.leads]
    if absent:
        raise ECGFormatError(f"missing plotted lead(s) {absent}; record has {list(sig.leads)}")
    data = np.stack([sig.lead(name) for name in leads])
    return ECGSignal(data=data, fs=sig.fs, leads=tuple(leads), units=sig.units, flags=sig.flags)


def check_quality(sig: ECGSignal, config: PreprocessConfig = DEFAULT_PREPROCESS) -> list[str]:
    """Problems with each lead of ``sig``: non-finite samples, flat or saturated leads.

    Returns one human-readable flag per problem, e.g. ``"lead V1: flat (peak-to-peak
    0.000 mV < 0.01 mV)"``; an empty list means the signal is clean.
    """
    flags = []
    finite = np.isfinite(sig.data)
    for name, row, ok in zip(sig.leads, sig.data, finite, strict=True):
        if not ok.all():
            flags.append(f"lead {name}: {int((~ok).sum())} non-finite samples (NaN/inf)")
            continue
        if row.size == 0:
            continue
        span = float(row.max() - row.min())
        if span < config.flat_mv:
            flags.append(f"lead {name}: flat (peak-to-peak {span:.3f} mV < {config.flat_mv} mV)")
        peak = float(np.abs(row).max())
        if peak >= config.saturation_mv:
            flags.append(
                f"lead {name}: saturated (|x| reaches {peak:.2f} mV >= {config.saturation_mv} mV)"
            )
    return flags


def used_window(sig: ECGSignal, config: PreprocessConfig = DEFAULT_PREPROCESS) -> ECGSignal:
    """The part of ``sig`` (at its own rate) that becomes the first ``n_samples`` samples at
    ``target_fs``: its first ``ceil(n_samples * fs / target_fs)`` samples."""
    n = math.ceil(round(config.n_samples * sig.fs / config.target_fs, 9))
    return ECGSignal(
        data=sig.data[:, :n], fs=sig.fs, leads=sig.leads, units=sig.units, flags=sig.flags
    )


def prepare(sig: ECGSignal, config: PreprocessConfig = DEFAULT_PREPROCESS) -> np.ndarray:
    """Validate, select, crop and resample one record: ``(len(plot_leads), m)`` float64.

    ``m <= n_samples``; :func:`finish` filters and pads a batch of these. The quality check
    judges only the window that is used (:func:`used_window`). Raises
    :class:`ECGFormatError` for a missing lead, non-finite samples in the window, a record
    shorter than ``n_samples`` under ``pad="reject"``, or a bad lead in the window under
    ``on_bad_lead="reject"``.
    """
    if sig.units not in ("mV", STANDARDISED_UNITS):
        raise ECGFormatError(
            f"signal units must be mV (or {STANDARDISED_UNITS!r}), got {sig.units!r}"
        )
    selected = used_window(_select(sig, config.plot_leads), config)
    flags = check_quality(selected, config)
    nonfinite = [f for f in flags if "non-finite" in f]
    if nonfinite:
        raise ECGFormatError("; ".join(nonfinite))
    if flags and config.on_bad_lead == "reject":
        raise ECGFormatError("bad lead(s): " + "; ".join(flags))
    resampled = resample(selected, config.target_fs).data
    if resampled.shape[1] == 0:
        raise ECGFormatError("record has no samples")
    if resampled.shape[1] < config.n_samples and config.pad == "reject":
        raise ECGFormatError(
            f"record is {resampled.shape[1] / config.target_fs:.2f} s long after resampling; "
            f"expected at least {config.n_samples / config.target_fs:.2f} s (pad='reject')"
        )
    return np.asarray(resampled[:, : config.n_samples], dtype=np.float64)


@lru_cache(maxsize=16)
def _bandpass_sos(low: float, high: float, order: int, fs: float) -> np.ndarray:
    return np.asarray(signal.butter(order, [low, high], btype="bandpass", fs=fs, output="sos"))


def _extend(x: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Pad both ends by a record length with point reflections about the local mean level.

    Reflecting about the *end sample* (scipy's ``"odd"``) shifts the level by twice the
    momentary value of any oscillation there (an R peak, mains hum), which the 0.5 Hz
    high-pass turns into a second-long transient; mirroring (``"even"``) breaks the slope
    of baseline wander. Reflecting about the mean of the last ``edge_mean_s`` seconds keeps
    both the level and the slow trend continuous.
    """
    k = max(1, min(x.shape[-1], round(config.edge_mean_s * config.target_fs)))
    head = 2 * x[..., :k].mean(axis=-1, keepdims=True) - x[..., :0:-1]
    tail = 2 * x[..., -k:].mean(axis=-1, keepdims=True) - x[..., -2::-1]
    return np.concatenate([head, x, tail], axis=-1)


def _filter(x: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Band-pass then median filter along the last axis of ``(..., samples)``."""
    sos = _bandpass_sos(*config.bandpass_hz, config.filter_order, config.target_fs)
    n = x.shape[-1]
    y = signal.sosfiltfilt(sos, _extend(x, config), axis=-1, padlen=0)[..., n - 1 : 2 * n - 1]
    size = (1,) * (y.ndim - 1) + (config.median_kernel,)
    return np.asarray(ndimage.median_filter(y, size=size, mode="nearest"))


def finish(
    prepared: Sequence[np.ndarray], config: PreprocessConfig = DEFAULT_PREPROCESS
) -> np.ndarray:
    """Filter and pad records from :func:`prepare`: ``(B, leads, n_samples)`` float32 mV.

    Records of equal length are filtered together in one vectorised call.
    """
    n_leads, n = len(config.plot_leads), config.n_samples
    out = np.empty((len(prepared), n_leads, n), dtype=np.float32)
    lengths = np.array([p.shape[1] for p in prepared], dtype=int)
    for length in np.unique(lengths):
        idx = np.flatnonzero(lengths == length)
        filtered = _filter(np.stack([prepared[int(i)] for i in idx]), config)
        out[idx, :, :length] = filtered
        if length < n:
            fill = filtered[:, :, -1:] if config.pad == "edge" else 0.0
            out[idx, :, length:] = fill
    return out


def preprocess(sig: ECGSignal, config: PreprocessConfig = DEFAULT_PREPROCESS) -> np.ndarray:
    """The full recipe for one record: ``(len(plot_leads), n_samples)`` float32 in mV."""
    return finish([prepare(sig, config)], config)[0]


def preprocess_batch(
    signals: Sequence[ECGSignal], config: PreprocessConfig = DEFAULT_PREPROCESS
) -> np.ndarray:
    """The full recipe for many records at once: ``(B, len(plot_leads), n_samples)`` float32.

    Raises on the first bad record; :class:`bench.data.image_cache.ImageCache` uses
    :func:`prepare` / :func:`finish` directly to skip bad records instead.
    """
    return finish([prepare(s, config) for s in signals], config)
