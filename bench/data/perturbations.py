"""Named perturbations of a raw ECG: what ``bench robustness`` re-evaluates models under.

Every condition turns a raw :class:`bench.data.signal.ECGSignal` (before any model's
preprocessing) into another one, deterministically: its random draws come from
:func:`condition_seed`, a hash of the *record id* and the *condition name* only, so every
model of a run sees exactly the same perturbed ECGs and their drops pair up record by
record. The conditions (:data:`CONDITIONS`):

- lead subsets ``lead-I``, ``lead-II``, ``leads-I-II``, ``limb-6`` (I, II, III, aVR, aVL,
  aVF) and ``independent-8`` (I, II, V1–V6): the other leads are *removed* from the record.
  What a model then gets is its input contract's business: a model with its own signal
  recipe zero-fills a lead the record lacks; the image recipe (and the default signal
  input) derives III, aVR, aVL and aVF from I and II and refuses a record without one of
  its plotted leads (:func:`bench.data.preprocess.prepare`);
- additive noise ``wander-<snr>db`` (baseline wander: a sum of :data:`WANDER_COMPONENTS`
  sinusoids of random frequency in 0.05–0.5 Hz, random phase and amplitude),
  ``hum50-<snr>db`` and ``hum60-<snr>db`` (mains hum: a 50 or 60 Hz sinusoid of random
  phase) and ``emg-<snr>db`` (EMG-like noise: white Gaussian noise band-passed to
  20–150 Hz, 4th-order Butterworth, zero phase; the upper edge is lowered to 0.45 ``fs``
  for records sampled below 333 Hz), each at an SNR of 20, 10 and 5 dB;
- ``roundtrip-250hz``: down to 250 Hz and back (:func:`scipy.signal.resample_poly`, its
  default Kaiser-windowed anti-aliasing filter), which removes what lies above 125 Hz; a
  record sampled at 250 Hz or less is returned unchanged;
- ``scale-0.8`` and ``scale-1.2``: every sample multiplied by 0.8 or 1.2 (±20 % gain).

**SNR**, per lead: ``SNR_dB = 10 · log10(P_signal / P_noise)`` where ``P_signal`` is the
mean square of the lead about its own mean over the whole record (its variance, so a
baseline offset does not count as signal) and ``P_noise`` the mean square of the noise
added to that lead over the same samples. Each lead gets its own independent noise draw,
scaled so that its mean square is exactly ``P_signal / 10^(SNR_dB / 10)``; a flat lead
(``P_signal = 0``) gets no noise.

Pure numpy/scipy: no torch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np
from scipy import signal as sps

from bench.data.cohort import Cohort
from bench.data.signal import RECORD_ERRORS, ECGFormatError, ECGSignal, failure_reason

#: Version of what the conditions compute (part of the perturbed inputs' cache key).
PERTURBATIONS_VERSION = 1
#: Sinusoids summed into one lead's baseline wander.
WANDER_COMPONENTS = 5
WANDER_BAND_HZ = (0.05, 0.5)
EMG_BAND_HZ = (20.0, 150.0)
#: The round trip's intermediate sampling rate.
ROUNDTRIP_FS = 250
#: The SNRs every noise condition is applied at.
SNRS_DB: tuple[int, ...] = (20, 10, 5)

#: A noise generator: ``(n_leads, n_samples, fs, rng) → (n_leads, n_samples)`` raw noise,
#: scaled to the target SNR afterwards.
NoiseFn = Callable[[int, int, float, np.random.Generator], np.ndarray]


def condition_seed(record_id: str, condition: str) -> int:
    """The seed of ``condition``'s draws on ``record_id``: 64 bits of SHA-256 of the JSON
    pair ``[record_id, condition]`` (the same in every process, run and model)."""
    digest = hashlib.sha256(json.dumps([record_id, condition]).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _wander(n_leads: int, n_samples: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n_samples) / fs
    freqs = rng.uniform(*WANDER_BAND_HZ, size=(n_leads, WANDER_COMPONENTS, 1))
    phases = rng.uniform(0, 2 * np.pi, size=(n_leads, WANDER_COMPONENTS, 1))
    amplitudes = rng.uniform(0.5, 1.0, size=(n_leads, WANDER_COMPONENTS, 1))
    return (amplitudes * np.sin(2 * np.pi * freqs * t + phases)).sum(axis=1)


def _hum(frequency: float) -> NoiseFn:
    def hum(n_leads: int, n_samples: int, fs: float, rng: np.random.Generator) -> np.ndarray:
        if frequency >= fs / 2:
            raise ECGFormatError(
                f"a {frequency:g} Hz hum needs a sampling rate above {2 * frequency:g} Hz; "
                f"the record has {fs:g} Hz"
            )
        t = np.arange(n_samples) / fs
        phases = rng.uniform(0, 2 * np.pi, size=(n_leads, 1))
        return np.sin(2 * np.pi * frequency * t + phases)

    return hum


def _emg(n_leads: int, n_samples: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    low, high = EMG_BAND_HZ[0], min(EMG_BAND_HZ[1], 0.45 * fs)
    if not low < high:
        raise ECGFormatError(f"EMG-like noise (20-150 Hz) needs more than 44 Hz; record has {fs:g}")
    white = rng.standard_normal((n_leads, n_samples))
    sos = sps.butter(4, [low, high], btype="bandpass", fs=fs, output="sos")
    return np.asarray(sps.sosfiltfilt(sos, white, axis=1))


def add_noise(data: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``data + noise`` with each lead's noise scaled to ``snr_db`` (module docstring):
    mean square ``var(lead) / 10^(snr_db / 10)``; float64."""
    x = np.asarray(data, dtype=np.float64)
    signal_power = x.var(axis=1, keepdims=True)
    noise_power = np.mean(noise**2, axis=1, keepdims=True)
    target = signal_power / 10 ** (snr_db / 10)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(noise_power > 0, np.sqrt(target / noise_power), 0.0)
    return x + gain * noise


def roundtrip(data: np.ndarray, fs: float, via: float = ROUNDTRIP_FS) -> np.ndarray:
    """``data`` resampled from ``fs`` to ``via`` Hz and back (same length); unchanged when
    ``fs <= via``. float64."""
    x = np.asarray(data, dtype=np.float64)
    if fs <= via:
        return x
    ratio = Fraction(via / fs).limit_denominator(1000)
    down = sps.resample_poly(x, ratio.numerator, ratio.denominator, axis=1)
    back = sps.resample_poly(down, ratio.denominator, ratio.numerator, axis=1)
    n = x.shape[1]
    if back.shape[1] < n:
        back = np.pad(back, ((0, 0), (0, n - back.shape[1])), mode="edge")
    return np.asarray(back[:, :n])


@dataclass(frozen=True)
class Condition:
    """One named perturbation (see the module docstring); :meth:`apply` performs it."""

    name: str
    kind: str  # "leads" | "noise" | "roundtrip" | "scale"
    description: str
    leads: tuple[str, ...] = ()
    snr_db: float | None = None
    noise: NoiseFn | None = field(default=None, compare=False, repr=False)
    factor: float = 1.0

    def apply(self, sig: ECGSignal, record_id: str) -> ECGSignal:
        """``sig`` under this condition, drawn from :func:`condition_seed` of ``record_id``.

        A lead subset keeps the named leads the record has, in the record's order, and
        raises :class:`ECGFormatError` when it has none of them."""
        if self.kind == "leads":
            keep = [i for i, lead in enumerate(sig.leads) if lead in self.leads]
            if not keep:
                raise ECGFormatError(
                    f"record {record_id}: has none of the leads of {self.name} "
                    f"({', '.join(self.leads)}); it has {list(sig.leads)}"
                )
            return replace(sig, data=sig.data[keep], leads=tuple(sig.leads[i] for i in keep))
        data = np.asarray(sig.data, dtype=np.float64)
        if self.kind == "noise":
            assert self.noise is not None and self.snr_db is not None
            rng = np.random.default_rng(condition_seed(record_id, self.name))
            raw = self.noise(data.shape[0], data.shape[1], sig.fs, rng)
            out = add_noise(data, raw, self.snr_db)
        elif self.kind == "roundtrip":
            out = roundtrip(data, sig.fs)
        else:
            out = data * self.factor
        return replace(sig, data=out.astype(sig.data.dtype, copy=False))


LEAD_SUBSETS: dict[str, tuple[str, ...]] = {
    "lead-I": ("I",),
    "lead-II": ("II",),
    "leads-I-II": ("I", "II"),
    "limb-6": ("I", "II", "III", "aVR", "aVL", "aVF"),
    "independent-8": ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6"),
}
_NOISES: dict[str, tuple[NoiseFn, str]] = {
    "wander": (_wander, "baseline wander (sinusoids, 0.05-0.5 Hz)"),
    "hum50": (_hum(50.0), "50 Hz mains hum"),
    "hum60": (_hum(60.0), "60 Hz mains hum"),
    "emg": (_emg, "EMG-like noise (Gaussian, 20-150 Hz)"),
}


def _conditions() -> dict[str, Condition]:
    out = {
        name: Condition(name, "leads", f"only {', '.join(leads)}", leads=leads)
        for name, leads in LEAD_SUBSETS.items()
    }
    for prefix, (noise, what) in _NOISES.items():
        for snr in SNRS_DB:
            name = f"{prefix}-{snr}db"
            out[name] = Condition(name, "noise", f"{what} at {snr} dB SNR", snr_db=snr, noise=noise)
    out["roundtrip-250hz"] = Condition(
        "roundtrip-250hz", "roundtrip", f"down to {ROUNDTRIP_FS} Hz and back"
    )
    for factor in (0.8, 1.2):
        out[f"scale-{factor:g}"] = Condition(
            f"scale-{factor:g}", "scale", f"amplitude x{factor:g}", factor=factor
        )
    return out


#: Every condition by name, in the order tables show them.
CONDITIONS: dict[str, Condition] = _conditions()


def condition(name: str) -> Condition:
    """The condition called ``name``; an unknown name is a ``ValueError`` listing them."""
    try:
        return CONDITIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown robustness condition {name!r}; expected one of {', '.join(CONDITIONS)}"
        ) from None


def perturb(sig: ECGSignal, record_id: str, name: str) -> ECGSignal:
    """``sig`` (record ``record_id``) under the condition called ``name``."""
    return condition(name).apply(sig, record_id)


def perturbed_cohort(cohort: Cohort, name: str) -> Cohort:
    """``cohort`` whose records load under the condition ``name``, with a cache key of its
    own (``<key>-perturbed-<name>-v<version>``): its cached model inputs never mix with the
    clean ones, and every representation builds them from the perturbed raw signal."""
    perturbation = condition(name)
    load = cohort.load_signal

    def load_signal(record_id: str) -> ECGSignal:
        return perturbation.apply(load(record_id), record_id)

    key = f"{cohort.cache_key}-perturbed-{name}-v{PERTURBATIONS_VERSION}"
    return replace(cohort, load_signal=load_signal, cache_key=key)


def perturbed_hash(cohort: Cohort, record_ids: Sequence[str], name: str) -> str:
    """16 hex digits of SHA-256 over ``record_ids`` (in order) under condition ``name``:
    each record's id, lead names, rate and perturbed samples, or its failure message. Two
    models whose records carry the same hash were fed the same perturbed ECGs."""
    loaded = perturbed_cohort(cohort, name)
    digest = hashlib.sha256()
    for record_id in record_ids:
        digest.update(f"{record_id}\0".encode())
        try:
            sig = loaded.load_signal(str(record_id))
        except RECORD_ERRORS as err:
            digest.update(failure_reason(err).encode())
            continue
        digest.update(f"{','.join(sig.leads)}\0{sig.fs!r}\0".encode())
        digest.update(np.ascontiguousarray(sig.data).tobytes())
    return digest.hexdigest()[:16]
