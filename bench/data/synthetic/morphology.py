"""From latent variables to one beat: a 3-D cardiac dipole (vectorcardiogram) template.

Each wave is a Gaussian in time times a dipole vector (x: patient's left, y: inferior,
z: anterior); ST-segment shifts are smooth plateaus from the J point to the end of T.
A lead sees the dot product of the dipole with its lead vector (:func:`lead_vectors`), so
territory patterns (ST elevation with reciprocal depression, Q waves) follow from geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from bench.data.synthetic.config import FS
from bench.data.synthetic.pathology import Latents

PRE_S, POST_S = 0.35, 0.65  # template span around the R peak, seconds
TEMPLATE_LEN = round((PRE_S + POST_S) * FS)

#: Components in order, with their class (P, QRS, T) used for fiducials.
COMPONENTS = ("p", "q_septal", "r", "s", "r2", "q_anterior", "q_inferior", "t_rise", "t_fall")
_QRS = np.array([c in {"q_septal", "r", "s", "r2", "q_anterior", "q_inferior"} for c in COMPONENTS])
_QRS_EDGE, _T_EDGE = 2.5, 2.0  # fiducial edges in standard deviations

#: Precordial lead angles (degrees, from the left toward anterior) and relative gains.
PRECORDIAL_ANGLES = np.array([120.0, 95.0, 75.0, 55.0, 30.0, 5.0])
PRECORDIAL_GAINS = np.array([1.2, 1.9, 2.0, 1.8, 1.4, 1.1])


def _unit(*v: float) -> np.ndarray:
    a = np.array(v, dtype=float)
    return a / np.linalg.norm(a)


TERRITORY = {
    "anterior": _unit(0.15, -0.35, 0.92),
    "inferior": _unit(-0.2, 0.95, 0.15),
    "lateral": _unit(0.85, -0.45, 0.25),
}
_LATERAL_T = _unit(0.85, 0.1, 0.5)
_EARLY_REPOL = _unit(0.45, 0.55, 0.7)
_PERICARDITIS = _unit(0.55, 0.65, 0.5)
_P_DIR = _unit(0.55, 0.8, 0.15)
_SEPTAL = _unit(-0.55, 0.25, 0.8)
_SEPTAL_LBBB = _unit(0.5, 0.1, -0.5)
_S_DIR = _unit(-0.25, -0.4, -0.85)
_RBBB_R2 = _unit(-0.5, 0.0, 0.85)
_ANTERIOR = _unit(0.0, 0.0, 1.0)
#: Centre and width (s, at QRS width 1) of the septal q and of the S wave, the QRS's ends.
_Q_SEPTAL, _S_WAVE = (-0.024, 0.007), (0.026, 0.010)
#: QRS duration (s) of a beat of width 1: septal q onset to S offset at the fiducial edges.
NORMAL_QRS_S = (_S_WAVE[0] + _QRS_EDGE * _S_WAVE[1]) - (_Q_SEPTAL[0] - _QRS_EDGE * _Q_SEPTAL[1])


def _qrs_bounds(
    vec: np.ndarray, center: np.ndarray, sigma: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """QRS onset and offset (J point), seconds from R: the span of the QRS components."""
    qrs = (np.linalg.norm(vec, axis=2) > 0.01) & _QRS
    lo = np.where(qrs, center - _QRS_EDGE * sigma, np.inf).min(axis=1)
    hi = np.where(qrs, center + _QRS_EDGE * sigma, -np.inf).max(axis=1)
    return lo, hi


@dataclass(frozen=True)
class Beat:
    """Dipole components of the beats of ``B`` records.

    ``vec`` (B, K, 3) mV, ``center``/``sigma`` (B, K) seconds relative to the R peak;
    ``plateau_vec`` (B, M, 3) with ``plateau_on``/``plateau_off`` (B, M) seconds.
    """

    vec: np.ndarray
    center: np.ndarray
    sigma: np.ndarray
    plateau_vec: np.ndarray
    plateau_on: np.ndarray
    plateau_off: np.ndarray

    def fiducial_offsets(self) -> dict[str, np.ndarray]:
        """QRS onset/offset and T onset/offset relative to the R peak, seconds, per record."""
        lo, hi = _qrs_bounds(self.vec, self.center, self.sigma)
        rise, fall = COMPONENTS.index("t_rise"), COMPONENTS.index("t_fall")
        return {
            "qrs_onset": lo,
            "qrs_offset": hi,
            "t_onset": self.center[:, rise] - _T_EDGE * self.sigma[:, rise],
            "t_offset": self.center[:, fall] + _T_EDGE * self.sigma[:, fall],
        }

    def template(self) -> np.ndarray:
        """(B, 3, TEMPLATE_LEN) dipole of one beat, sample ``round(PRE_S * FS)`` at the R peak."""
        t = np.arange(TEMPLATE_LEN) / FS - PRE_S
        g = np.exp(-0.5 * ((t - self.center[..., None]) / self.sigma[..., None]) ** 2)
        out = np.einsum("bkl,bkd->bdl", g, self.vec)
        shape = special.expit((t - self.plateau_on[..., None]) / 0.004) * special.expit(
            (self.plateau_off[..., None] - t) / 0.02
        )
        out += np.einsum("bml,bmd->bdl", shape, self.plateau_vec)
        return out


def build_beats(lat: Latents) -> Beat:
    """The dipole components of each record's beat from its latent variables."""
    fx, tr = lat.effects, lat.traits
    n = len(lat.patient)
    k = {name: i for i, name in enumerate(COMPONENTS)}
    vec = np.zeros((n, len(COMPONENTS), 3))
    center = np.zeros((n, len(COMPONENTS)))
    sigma = np.full((n, len(COMPONENTS)), 0.01)

    width = 1.0 + fx["qrs_widen"] + 0.5 * fx["lbbb"] + 0.3 * fx["rbbb"]
    width *= 1.0 + tr["qrs_shift_s"] / NORMAL_QRS_S
    voltage = lat.amplitude_scale * (1.0 - fx["low_voltage"])
    axis = np.deg2rad(lat.qrs_axis)
    r_dir = np.stack([np.cos(axis), np.sin(axis), -tr["posterior"]], axis=1)
    r_dir /= np.linalg.norm(r_dir, axis=1, keepdims=True)
    lbbb = np.clip(fx["lbbb"], 0.0, 1.0)[:, None]

    def put(
        name: str, amp: np.ndarray, direction: np.ndarray, c: np.ndarray, s: np.ndarray
    ) -> None:
        vec[:, k[name]] = np.asarray(amp)[:, None] * direction
        center[:, k[name]] = c
        sigma[:, k[name]] = s

    put("p", tr["p_amp"], _P_DIR, -tr["pr"], np.full(n, 0.022))
    septal = (1 - lbbb) * _SEPTAL + lbbb * _SEPTAL_LBBB
    deep_q = fx["septal_q"]
    put("q_septal", 0.12 * voltage * (1 + deep_q), septal, _Q_SEPTAL[0] * width,
        _Q_SEPTAL[1] * width / (1 + 0.15 * deep_q))  # fmt: skip
    lvh = 1.0 + fx["lvh"]
    put("r", tr["r_amp"] * voltage * lvh, r_dir, np.zeros(n), 0.011 * width)
    put("s", 0.35 * voltage * lvh, _S_DIR, _S_WAVE[0] * width, _S_WAVE[1] * width)
    r2_vec = (0.5 * tr["r_amp"] * voltage * lbbb[:, 0])[:, None] * r_dir
    r2_vec += (0.5 * voltage * fx["rbbb"])[:, None] * _RBBB_R2
    vec[:, k["r2"]] = r2_vec
    center[:, k["r2"]] = np.where(fx["rbbb"] > 0, 0.05, 0.025) * width
    sigma[:, k["r2"]] = 0.012 * width
    for terr in ("anterior", "inferior"):
        put(f"q_{terr}", fx[f"q_{terr}"], -TERRITORY[terr], -0.02 * width, np.full(n, 0.012))

    qrs_on, j_point = _qrs_bounds(vec, center, sigma)
    rr = 60.0 / lat.heart_rate
    t_peak = j_point + (0.21 * tr["qt_scale"] + tr["jt_shift_s"]) * np.sqrt(rr)
    t_axis = np.deg2rad(0.6 * lat.qrs_axis + 20.0)
    t_dir = np.stack([np.cos(t_axis), np.sin(t_axis), np.full(n, 0.5)], axis=1)
    t_dir /= np.linalg.norm(t_dir, axis=1, keepdims=True)
    t_vec = tr["t_amp"][:, None] * t_dir * (1 - lbbb) - 0.35 * lbbb * r_dir
    injury = sum(fx[f"st_{terr}"][:, None] * TERRITORY[terr] for terr in TERRITORY)
    injury_dir = injury / np.maximum(np.linalg.norm(injury, axis=1, keepdims=True), 1e-9)
    t_vec += fx["hyperacute_t"][:, None] * injury_dir
    t_vec -= fx["t_inv_lateral"][:, None] * _LATERAL_T + 1.5 * fx["strain"][:, None] * r_dir
    put("t_rise", 0.6 * np.ones(n), t_vec, t_peak - 0.02, np.full(n, 0.045))
    put("t_fall", 0.7 * np.ones(n), t_vec, t_peak + 0.01, np.full(n, 0.028))

    st_vec = injury + fx["early_repol"][:, None] * _EARLY_REPOL
    st_vec += fx["pericarditis"][:, None] * _PERICARDITIS
    st_vec += tr["j_anterior"][:, None] * _ANTERIOR  # normal J point / ST elevation in V1–V4
    st_vec -= (fx["strain"][:, None] + 0.12 * lbbb) * r_dir
    pr_vec = -0.4 * fx["pericarditis"][:, None] * _P_DIR
    return Beat(
        vec=vec,
        center=center,
        sigma=sigma,
        plateau_vec=np.stack([st_vec, pr_vec], axis=1),
        plateau_on=np.stack([j_point - 0.005, -tr["pr"] + 0.03], axis=1),
        plateau_off=np.stack([t_peak + 0.06, qrs_on - 0.04], axis=1),
    )


def lead_vectors(rotation_deg: np.ndarray, gain_jitter: np.ndarray) -> np.ndarray:
    """(B, 8, 3) lead vectors of I, II, V1–V6 (the independent leads).

    ``rotation_deg`` (B,) rotates the precordial electrodes (placement, heart position);
    ``gain_jitter`` (B, 6) multiplies the precordial gains (electrode contact, distance).
    """
    n = len(rotation_deg)
    out = np.zeros((n, 8, 3))
    out[:, 0] = (1.0, 0.0, 0.0)
    out[:, 1] = (0.5, np.sqrt(3) / 2, 0.0)
    ang = np.deg2rad(PRECORDIAL_ANGLES[None, :] + rotation_deg[:, None])
    gains = PRECORDIAL_GAINS[None, :] * gain_jitter
    out[:, 2:, 0] = np.cos(ang) * gains
    out[:, 2:, 1] = 0.1 * gains
    out[:, 2:, 2] = np.sin(ang) * gains
    return out
