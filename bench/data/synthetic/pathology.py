"""Labels, severities, pathology patterns and confounders of every synthetic record.

A positive record shows its task's patterns (ECG criteria) scaled by a latent severity,
each pattern present only with some probability; every record, positive or negative, may
carry confounders — benign or unrelated conditions that mimic part of a pattern — so that
no single feature separates the classes. All draws are counter-based (:mod:`.draws`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.data.synthetic.config import CHRONIC_TASKS, SyntheticConfig
from bench.data.synthetic.demographics import (
    Demographics,
    draw_demographics,
    ecg_shifts,
    label_probability,
)
from bench.data.synthetic.draws import Draws
from bench.data.synthetic.sites import site_table

#: Effect channels the morphology understands (see :mod:`.morphology`); units in comments.
EFFECTS: tuple[str, ...] = (
    "st_anterior", "st_inferior", "st_lateral",  # injury current, mV
    "hyperacute_t",  # extra T along the injury vector, mV
    "q_anterior", "q_inferior",  # pathological Q waves, mV
    "early_repol", "pericarditis",  # diffuse concordant ST elevation, mV
    "lvh",  # relative QRS voltage increase
    "strain",  # lateral ST depression / T inversion, mV
    "t_inv_lateral",  # deep lateral T inversion, mV
    "septal_q",  # relative deepening of the septal q wave
    "low_voltage",  # relative QRS voltage reduction
    "qrs_widen",  # relative QRS widening
    "lbbb", "rbbb",  # bundle-branch-block morphology, 0..1
    "tachy",  # heart-rate increase, bpm (negative: bradycardia)
)  # fmt: skip


@dataclass(frozen=True)
class Pattern:
    """A named pattern: present with ``prob``; each effect = ``base + slope * severity``
    (for confounders severity is replaced by a uniform draw). ``per`` says whether presence
    is a patient trait or drawn per ECG."""

    name: str
    prob: float
    effects: dict[str, tuple[float, float]]
    per: str = "patient"


_REC = "record"
POSITIVE: dict[str, tuple[Pattern, ...]] = {
    # STEMI: one territory per ECG (exclusive), ST elevation in its contiguous leads with
    # reciprocal depression (the injury vector projects negatively on the opposite leads).
    "stemi": (
        Pattern("anterior", 0.45, {"st_anterior": (0.03, 0.40), "hyperacute_t": (0.0, 0.2)}, _REC),
        Pattern("inferior", 0.40, {"st_inferior": (0.03, 0.36), "hyperacute_t": (0.0, 0.15)}, _REC),
        Pattern("lateral", 0.15, {"st_lateral": (0.03, 0.34), "hyperacute_t": (0.0, 0.15)}, _REC),
    ),
    "lvef": (
        Pattern("low_voltage", 0.50, {"low_voltage": (0.15, 0.35)}),
        Pattern("wide_qrs", 0.45, {"qrs_widen": (0.10, 0.45)}),
        Pattern("lbbb", 0.22, {"lbbb": (0.6, 0.4)}),
        Pattern("tachycardia", 0.50, {"tachy": (8.0, 25.0)}, _REC),
        Pattern("anterior_q", 0.25, {"q_anterior": (0.10, 0.30)}),
        Pattern("inferior_q", 0.15, {"q_inferior": (0.10, 0.25)}),
    ),
    "hcm": (
        Pattern("lvh_voltage", 0.65, {"lvh": (0.1, 0.6)}),
        Pattern("lateral_t_inversion", 0.40, {"t_inv_lateral": (0.05, 0.35)}),
        Pattern("septal_q", 0.35, {"septal_q": (0.5, 2.0)}),
        Pattern("strain", 0.30, {"strain": (0.02, 0.10)}),
    ),
}
EXCLUSIVE: frozenset[str] = frozenset({"stemi"})

#: Confounders (independent of the label) with base rates; a site scales every rate.
CONFOUNDERS: dict[str, tuple[Pattern, ...]] = {
    "stemi": (
        Pattern("early_repolarisation", 0.15, {"early_repol": (0.05, 0.20)}),
        Pattern("pericarditis", 0.02, {"pericarditis": (0.08, 0.20)}, _REC),
        Pattern("lvh_strain", 0.07, {"lvh": (0.4, 0.6), "strain": (0.05, 0.15)}),
        Pattern("lbbb", 0.03, {"lbbb": (0.7, 0.3)}),
        Pattern("old_mi", 0.05, {"q_anterior": (0.05, 0.20)}),
    ),
    "lvef": (
        Pattern("obesity_low_voltage", 0.12, {"low_voltage": (0.10, 0.25)}),
        Pattern("sinus_tachycardia", 0.12, {"tachy": (8.0, 20.0)}, _REC),
        Pattern("rbbb", 0.06, {"rbbb": (0.6, 0.4), "qrs_widen": (0.1, 0.2)}),
        Pattern("lbbb", 0.03, {"lbbb": (0.6, 0.4)}),
        Pattern("old_mi_preserved_ef", 0.06, {"q_inferior": (0.05, 0.20)}),
        Pattern("lvh", 0.08, {"lvh": (0.3, 0.5)}),
    ),
    "hcm": (
        Pattern(
            "athlete", 0.15, {"lvh": (0.2, 0.5), "tachy": (-15.0, 8.0), "early_repol": (0.03, 0.1)}
        ),
        Pattern("hypertensive_lvh", 0.12, {"lvh": (0.2, 0.5), "strain": (0.02, 0.08)}),
        Pattern("t_inversion_other", 0.08, {"t_inv_lateral": (0.05, 0.20)}),
        Pattern("rbbb", 0.03, {"rbbb": (0.6, 0.4), "qrs_widen": (0.1, 0.2)}),
    ),
}

#: Severity ~ Beta(a, b) among positives.
SEVERITY_BETA: dict[str, tuple[float, float]] = {
    "stemi": (1.3, 1.7),
    "lvef": (1.6, 1.6),
    "hcm": (1.2, 1.8),
}


@dataclass(frozen=True)
class Latents:
    """Per-record latent variables (arrays of equal length) that fully define a record
    apart from its per-record noise realisation."""

    patient: np.ndarray
    ecg: np.ndarray
    n_ecgs: np.ndarray
    site_index: np.ndarray
    demographics: Demographics  # the patient's sex and age
    label: np.ndarray
    severity: np.ndarray
    heart_rate: np.ndarray
    qrs_axis: np.ndarray  # frontal-plane axis, degrees
    amplitude_scale: np.ndarray
    traits: dict[str, np.ndarray]  # other normal-variant traits used by the morphology
    effects: dict[str, np.ndarray]  # EFFECTS -> magnitude
    patterns: list[list[str]]  # per record: positive patterns present
    confounders: list[list[str]]  # per record: confounders present


def n_ecgs_of(config: SyntheticConfig, patient: np.ndarray) -> np.ndarray:
    """Number of ECGs of each patient (a patient trait)."""
    lo, hi = config.ecgs_per_patient
    d = Draws(config.seed, config.task_code, patient, np.zeros_like(patient))
    return lo + np.floor(d.uniform("n_ecgs", "patient") * (hi - lo + 1)).astype(np.int64)


def draw_latents(config: SyntheticConfig, patient: np.ndarray, ecg: np.ndarray) -> Latents:
    """Latent variables of the records ``(patient[i], ecg[i])`` of ``config``'s cohort."""
    patient = np.asarray(patient, dtype=np.int64)
    ecg = np.asarray(ecg, dtype=np.int64)
    d = Draws(config.seed, config.task_code, patient, ecg)
    task = config.task
    site_index = np.floor(d.uniform("site", "patient") * len(config.sites)).astype(np.int64)
    demo = draw_demographics(d)
    label_per = "patient" if task in CHRONIC_TASKS else "record"
    risk = label_probability(task, config.effective_prevalence, demo)
    label = d.bernoulli("label", risk, label_per).astype(np.int64)
    a, b = SEVERITY_BETA[task]
    sev = d.beta("severity", a, b, label_per)
    if task in CHRONIC_TASKS:  # slow drift of a chronic condition between ECGs
        sev = np.clip(sev + 0.05 * d.normal("severity_drift"), 0.0, 1.0)
    severity = np.where(label == 1, sev, 0.0)

    effects = {name: np.zeros(len(patient)) for name in EFFECTS}
    patterns = _apply(d, POSITIVE[task], "pos", severity, label == 1, task in EXCLUSIVE, effects)
    rate = site_table(site_index)["confounder_rate"]
    confounders = _apply(d, CONFOUNDERS[task], "conf", None, rate, False, effects)

    shift = ecg_shifts(demo, d)
    axis = 45.0 + 22.0 * d.normal("axis", "patient") + 4.0 * d.normal("axis_ecg")
    hr = 70.0 + 10.0 * d.normal("hr_base", "patient") + 5.0 * d.normal("hr") + effects["tachy"]
    hr += shift["heart_rate"]
    traits = {
        "p_amp": 0.14 * np.exp(0.2 * d.normal("p_amp", "patient")),
        "t_amp": 0.32 * np.exp(0.25 * d.normal("t_amp", "patient")),
        "r_amp": 1.15 * np.exp(0.15 * d.normal("r_amp", "patient")),
        "qt_scale": 1.0 + 0.05 * d.normal("qt", "patient"),
        "pr": 0.155 + 0.015 * d.normal("pr", "patient") + shift["pr_shift_s"],
        "qrs_shift_s": shift["qrs_shift_s"],
        "jt_shift_s": shift["jt_shift_s"],
        "j_anterior": shift["j_anterior"],
        "rotation": 8.0 * d.normal("rotation", "patient") + 3.0 * d.normal("placement"),
        "posterior": 0.35 + 0.1 * d.normal("posterior", "patient"),
    }
    return Latents(
        patient=patient,
        ecg=ecg,
        n_ecgs=n_ecgs_of(config, patient),
        site_index=site_index,
        demographics=demo,
        label=label,
        severity=severity,
        heart_rate=np.clip(hr, 40.0, 160.0),
        qrs_axis=np.clip(axis + shift["axis_deg"], -60.0, 110.0),
        # sex and age explain part of the spread between patients (0.2 on the log scale)
        amplitude_scale=np.exp(0.15 * d.normal("amplitude", "patient") + shift["log_voltage"]),
        traits=traits,
        effects=effects,
        patterns=patterns,
        confounders=confounders,
    )


def _apply(
    d: Draws,
    table: tuple[Pattern, ...],
    prefix: str,
    severity: np.ndarray | None,
    gate: np.ndarray,
    exclusive: bool,
    effects: dict[str, np.ndarray],
) -> list[list[str]]:
    """Add the effects of ``table``'s patterns to ``effects``; return present names per record.

    For positives ``gate`` is the label mask and ``severity`` scales the effects; for
    confounders ``gate`` is the site's rate multiplier and a uniform draw replaces severity.
    """
    n = len(d.patient)
    present_names: list[list[str]] = [[] for _ in range(n)]
    choice = d.uniform(f"{prefix}:choice", table[0].per) if exclusive else None
    cumulative = 0.0
    for pat in table:
        key = f"{prefix}:{pat.name}"
        if choice is not None:
            present = (choice >= cumulative) & (choice < cumulative + pat.prob) & gate.astype(bool)
            cumulative += pat.prob
        elif severity is not None:
            present = d.bernoulli(key, pat.prob, pat.per) & gate.astype(bool)
        else:
            present = d.bernoulli(key, pat.prob * gate, pat.per)
        scale = severity if severity is not None else d.uniform(f"{key}:amount", pat.per)
        jitter = 0.8 + 0.4 * d.uniform(f"{key}:jitter")
        for effect, (base, slope) in pat.effects.items():
            effects[effect] += np.where(present, (base + slope * scale) * jitter, 0.0)
        for i in np.flatnonzero(present):
            present_names[i].append(pat.name)
    return present_names
