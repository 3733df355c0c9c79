"""Vectorised signal synthesis: beats placed with heart-rate variability, projected on the
leads, plus acquisition (baseline wander, mains, muscle noise, site filter and gain).

Each record is synthesised on a circular 12 s frame in the frequency domain: the beat train
is a convolution of an impulse train with the beat template, the noise sources are added as
spectra, the site's pass band multiplies the spectrum (zero phase), and the central 10 s are
kept. Randomness beyond the latent variables comes from per-record generators seeded by
(seed, task, patient, ECG), so a record is the same alone or in any batch.
"""

from __future__ import annotations

import numpy as np
from scipy import fft

from bench.data.signal import derive_limb_leads
from bench.data.synthetic.config import FS, N_SAMPLES, SyntheticConfig
from bench.data.synthetic.morphology import PRE_S, TEMPLATE_LEN, build_beats, lead_vectors
from bench.data.synthetic.pathology import Latents, draw_latents
from bench.data.synthetic.sites import site_table

FRAME = 6000  # 12 s: mains (50/60 Hz) and wander (k/12 Hz) fall on exact FFT bins
OFFSET = (FRAME - N_SAMPLES) // 2
_FREQS = np.fft.rfftfreq(FRAME, 1.0 / FS)
_WANDER_BINS = np.arange(1, 7)  # 0.083 – 0.5 Hz
_PRE = round(PRE_S * FS)
_INT16_STD = 2.0**16 / np.sqrt(12.0)


def _rng(config: SyntheticConfig, patient: int, ecg: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, config.task_code, int(patient), int(ecg), purpose])


def beat_train(
    config: SyntheticConfig, patient: int, ecg: int, heart_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """R-peak positions (frame samples) and beat amplitudes of one record.

    RR intervals follow respiratory sinus arrhythmia plus random variability; amplitudes
    breathe with respiration.
    """
    rng = _rng(config, patient, ecg, 1)
    rr0 = 60.0 / heart_rate
    n = int(FRAME / FS / rr0 * 1.3) + 3
    resp_hz = rng.uniform(0.2, 0.33)
    phase = rng.uniform(0, 2 * np.pi, size=2)
    i = np.arange(n)
    rr = rr0 * (
        1.0
        + 0.04 * np.sin(2 * np.pi * resp_hz * i * rr0 + phase[0])
        + rng.uniform(0.01, 0.04) * rng.standard_normal(n)
    )
    t = rng.uniform(0, rr0) + np.concatenate([[0.0], np.cumsum(rr[:-1])])
    t = t[t < FRAME / FS]
    amp = 1.0 + 0.05 * np.sin(2 * np.pi * resp_hz * t + phase[1])
    return np.round(t * FS).astype(np.int64) % FRAME, amp


def _frame_template(template: np.ndarray) -> np.ndarray:
    """Place (B, 3, L) templates on the circular frame with the R peak at sample 0."""
    out = np.zeros((*template.shape[:2], FRAME), dtype=np.float32)
    out[..., : TEMPLATE_LEN - _PRE] = template[..., _PRE:]
    out[..., FRAME - _PRE :] = template[..., :_PRE]
    return out


def _passband(highpass: np.ndarray, lowpass: np.ndarray) -> np.ndarray:
    """(B, F) zero-phase magnitude: 2nd-order Butterworth high-pass × 4th-order low-pass."""
    f = _FREQS[None, :]
    with np.errstate(divide="ignore"):
        hp = 1.0 / np.sqrt(1.0 + (highpass[:, None] / f) ** 4)
    return hp * (1.0 / np.sqrt(1.0 + (f / lowpass[:, None]) ** 8))


def _add_noise(config: SyntheticConfig, lat: Latents, spectrum: np.ndarray) -> None:
    """Add each record's muscle noise, baseline wander and mains to its (8, F) lead spectrum."""
    site = site_table(lat.site_index)
    half = FRAME / 2
    n_wander = len(_WANDER_BINS)
    for b in range(len(lat.patient)):
        rng = _rng(config, lat.patient[b], lat.ecg[b], 2)
        level = np.exp(0.3 * rng.standard_normal(3))  # this recording's noise levels
        emg = site["emg_mv"][b] * level[0] * rng.uniform(0.3, 1.5, size=(8, 1))
        # white noise: i.i.d. uniform spectral coefficients (Gaussian in time by the CLT;
        # ten times cheaper to draw than normal deviates)
        white = np.frombuffer(rng.bytes(16 * spectrum.shape[-1] * 2), np.int16).reshape(8, -1)
        scale = (emg * np.sqrt(half) / _INT16_STD).astype(np.float32)
        spectrum[b] += white.astype(np.float32).view(np.complex64) * scale
        wander = site["wander_mv"][b] * level[1] * half / np.sqrt(2 * n_wander)
        spectrum[b][:, _WANDER_BINS] += wander * (
            rng.standard_normal((8, n_wander)) + 1j * rng.standard_normal((8, n_wander))
        )
        mains_bin = round(site["mains_hz"][b] * FRAME / FS)
        mains = site["mains_mv"][b] * level[2] * half * rng.uniform(0.3, 1.0, size=8)
        spectrum[b][:, mains_bin] += mains * np.exp(1j * rng.uniform(0, 2 * np.pi, size=8))


def _electrodes(config: SyntheticConfig, lat: Latents) -> np.ndarray:
    """(B, 8, 3) lead vectors with this recording's precordial placement and contact."""
    jitter = np.stack(
        [
            _rng(config, p, e, 3).lognormal(0.0, 0.08, size=6)
            for p, e in zip(lat.patient, lat.ecg, strict=True)
        ]
    )
    return lead_vectors(lat.traits["rotation"], jitter)


def generate(config: SyntheticConfig, patient: np.ndarray, ecg: np.ndarray) -> np.ndarray:
    """(B, 12, 5000) float32 mV signals of records ``(patient[b], ecg[b])``, standard lead order."""
    lat = draw_latents(config, patient, ecg)
    n = len(lat.patient)
    template = _frame_template(build_beats(lat).template())
    impulses = np.zeros((n, FRAME), dtype=np.float32)
    for b in range(n):
        pos, amp = beat_train(config, lat.patient[b], lat.ecg[b], lat.heart_rate[b])
        np.add.at(impulses[b], pos, amp.astype(np.float32))
    dipole = fft.rfft(template, axis=-1) * fft.rfft(impulses, axis=-1)[:, None, :]
    # real lead vectors times complex spectra: a real matmul on the interleaved view
    electrodes = _electrodes(config, lat).astype(np.float32)
    spectrum = np.matmul(electrodes, dipole.astype(np.complex64).view(np.float32))
    spectrum = spectrum.view(np.complex64)
    _add_noise(config, lat, spectrum)
    site = site_table(lat.site_index)
    band = _passband(site["highpass_hz"], site["lowpass_hz"]) * site["gain"][:, None]
    spectrum *= band.astype(np.float32)[:, None, :]
    frame = fft.irfft(spectrum, n=FRAME, axis=-1)
    out = np.empty((n, 12, N_SAMPLES), dtype=np.float32)
    out[:, :2] = frame[:, :2, OFFSET : OFFSET + N_SAMPLES]
    out[:, 6:] = frame[:, 2:, OFFSET : OFFSET + N_SAMPLES]
    out[:, 2:6] = np.stack(list(derive_limb_leads(out[:, 0], out[:, 1]).values()), axis=1)
    return out
