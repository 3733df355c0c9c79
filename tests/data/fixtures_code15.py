"""Tiny CODE-15% and CODE-test folders in their published layouts, for tests.

Written from the datasets' own documentation, not from the reader:

- CODE-15% (Zenodo record 4916206's description): ``exams.csv`` with the columns exam_id,
  age, is_male, nn_predicted_age, 1dAVb, RBBB, LBBB, SB, ST, AF, patient_id, death, timey,
  normal_ecg, trace_file (booleans written True/False; death and timey only on a patient's
  first exam, empty otherwise); parts ``exams_part{i}.hdf5`` holding ``tracings``
  (N, 4096, 12) float32 and ``exam_id`` (N,), the last row exam_id 0 with an all-zero
  tracing (as fairseq-signals' code_15_signals.py notes); leads I, II, III, aVR, aVL, aVF,
  V1-V6.
- CODE-test (github.com/antonior92/automatic-ecg-diagnosis, data/README.md):
  ``ecg_tracings.hdf5`` with the single dataset ``tracings`` (n, 4096, 12), leads in the
  README's order {DI, DII, DIII, AVL, AVF, AVR, V1-V6}; ``attributes.csv`` (age, sex M/F);
  ``annotations/`` with gold_standard.csv, cardiologist1.csv, cardiologist2.csv (columns
  1dAVb, RBBB, LBBB, SB, AF, ST), row i describing tracing i.

Both: 400 Hz, 7 s or 10 s exams zero-padded at both ends to 4096 samples, values in mV.
Signals depend on the labels (rate for SB/ST, irregular rhythm without P for AF, long PR for
1dAVb, wide QRS of opposite polarity in V1 for RBBB/LBBB), so a model can learn them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from bench.data.signal import STANDARD_LEADS, derive_limb_leads

FS = 400
SAMPLES = 4096
LABELS = ("1dAVb", "RBBB", "LBBB", "SB", "AF", "ST")
#: exams.csv's columns in the order of the published file.
EXAMS_COLUMNS = (
    "exam_id", "age", "is_male", "nn_predicted_age", "1dAVb", "RBBB", "LBBB", "SB", "ST",
    "AF", "patient_id", "death", "timey", "normal_ecg", "trace_file",
)  # fmt: skip
CODE_TEST_ORDER = ("I", "II", "III", "aVL", "aVF", "aVR", *STANDARD_LEADS[6:])


@dataclass(frozen=True)
class Written:
    """What a fixture wrote: each record's labels and its signal (12 x samples, mV,
    standard lead order, without padding), by record id."""

    root: Path
    labels: dict[str, dict[str, int]]
    signals: dict[str, np.ndarray]


def _gauss(phase: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-(((phase - centre) / width) ** 2))


def labelled_ecg(labels: Mapping[str, int], seed: int, seconds: int) -> np.ndarray:
    """A 12-lead ECG (12 x seconds*400, mV, standard order) whose shape follows ``labels``;
    III, aVR, aVL and aVF are derived from I and II as an electrocardiograph does."""
    rng = np.random.default_rng(seed)
    n = seconds * FS
    rr = 1.3 if labels.get("SB") else 0.55 if labels.get("ST") else 0.85
    jitter = rng.uniform(-0.35, 0.35, 64) if labels.get("AF") else np.zeros(64)
    beats = np.cumsum(rr * (1 + jitter))
    t = np.arange(n) / FS
    previous = np.searchsorted(beats, t, side="right") - 1
    phase = t - np.where(previous >= 0, beats[np.maximum(previous, 0)], beats[0] - rr)
    qrs_width = 0.03 if labels.get("RBBB") or labels.get("LBBB") else 0.01
    pr = 0.28 if labels.get("1dAVb") else 0.16  # seconds from P to QRS
    p_wave = 0.0 if labels.get("AF") else 0.15 * _gauss(phase, 0.32 - pr, 0.02)
    qrs = _gauss(phase, 0.32, qrs_width)
    t_wave = 0.3 * _gauss(phase, 0.52, 0.04)
    bbb = 1.0 if labels.get("RBBB") else -1.0 if labels.get("LBBB") else 0.0
    lead_i = 0.9 * qrs + p_wave + t_wave + rng.normal(0, 0.01, n)
    lead_ii = 1.2 * qrs + 1.2 * p_wave + t_wave + rng.normal(0, 0.01, n)
    limb = derive_limb_leads(lead_i, lead_ii)
    gains = rng.uniform(0.5, 1.5, 6) * np.array([-1, -0.5, 0.5, 1, 1, 1])
    chest = [g * qrs + t_wave + rng.normal(0, 0.01, n) for g in gains]
    chest[0] = chest[0] + 0.8 * bbb * _gauss(phase, 0.35, qrs_width)  # V1
    rows = {"I": lead_i, "II": lead_ii, **limb, **dict(zip(STANDARD_LEADS[6:], chest, strict=True))}
    return np.stack([rows[name] for name in STANDARD_LEADS]).astype(np.float32)


def pad(signal: np.ndarray) -> np.ndarray:
    """(samples=4096, 12) as stored: zeros split over both ends (648 + 648 for 7 s)."""
    before = (SAMPLES - signal.shape[1]) // 2
    out = np.zeros((SAMPLES, 12), dtype=np.float32)
    out[before : before + signal.shape[1]] = signal.T
    return out


def _flag(value: int) -> str:
    return "True" if value else "False"


def _labels(rng: np.random.Generator) -> dict[str, int]:
    labels = {name: int(rng.random() < 0.3) for name in LABELS}
    if labels["SB"] and labels["ST"]:  # one rate per exam
        labels["ST"] = 0
    return labels


def _follow_up(labels: Mapping[str, int], rng: np.random.Generator) -> dict[str, str | float]:
    """``death`` and ``timey`` of a patient's first exam: an exponential time to death whose
    hazard is 4x higher with AF or sinus tachycardia (so a model can learn the risk from the
    ECG), censored at a uniform 0.1-8 years."""
    hazard = 0.1 * (4.0 if labels["AF"] or labels["ST"] else 1.0)
    death, censored = rng.exponential(1 / hazard), rng.uniform(0.1, 8)
    return {"death": _flag(int(death < censored)), "timey": round(float(min(death, censored)), 6)}


def make_code15_dir(root: Path, n_patients: int = 15, parts: int = 2, seed: int = 0) -> Written:
    """A CODE-15% folder: ``n_patients`` patients with 1-3 exams each, spread over
    ``parts`` HDF5 parts written in an order other than exams.csv's."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows, labels, signals = [], {}, {}
    by_part: dict[str, list[tuple[int, np.ndarray]]] = {}
    exam_id = 100_000
    for patient in range(n_patients):
        male, age = int(rng.integers(0, 2)), int(rng.integers(18, 85))
        for k in range(1 + patient % 3):
            exam_id += int(rng.integers(1, 50))
            found = _labels(rng)
            signal = labelled_ecg(found, seed=exam_id, seconds=7 if exam_id % 2 else 10)
            part = f"exams_part{exam_id % parts}.hdf5"
            by_part.setdefault(part, []).append((exam_id, signal))
            labels[str(exam_id)], signals[str(exam_id)] = found, signal
            first = k == 0
            rows.append({
                "exam_id": exam_id, "age": age + k, "is_male": _flag(male),
                "nn_predicted_age": round(float(rng.uniform(18, 90)), 5),
                **{name: _flag(found[name]) for name in LABELS},
                "patient_id": 500_000 + patient,
                **(_follow_up(found, rng) if first else {"death": "", "timey": ""}),
                "normal_ecg": _flag(not any(found.values())), "trace_file": part,
            })  # fmt: skip
    pd.DataFrame(rows, columns=list(EXAMS_COLUMNS)).to_csv(root / "exams.csv", index=False)
    for part, exams in by_part.items():
        order = rng.permutation(len(exams))
        tracings = np.zeros((len(exams) + 1, SAMPLES, 12), dtype=np.float32)
        ids = np.zeros(len(exams) + 1, dtype=np.int64)  # the last row: exam_id 0, all zeros
        for row, index in enumerate(order):
            ids[row], tracings[row] = exams[index][0], pad(exams[index][1])
        with h5py.File(root / part, "w") as f:
            f.create_dataset("tracings", data=tracings)
            f.create_dataset("exam_id", data=ids)
    return Written(root, labels, signals)


def make_code_test_dir(root: Path, n: int = 30, seed: int = 1) -> Written:
    """A CODE-test folder with ``n`` exams (the real one has 827)."""
    rng = np.random.default_rng(seed)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    gold, labels, signals = [], {}, {}
    tracings = np.zeros((n, SAMPLES, 12), dtype=np.float32)
    for i in range(n):
        found = _labels(rng)
        signal = labelled_ecg(found, seed=10_000 + i, seconds=7 if i % 3 == 0 else 10)
        stored = pad(signal)
        tracings[i] = stored[:, [STANDARD_LEADS.index(name) for name in CODE_TEST_ORDER]]
        gold.append(found)
        labels[str(i)], signals[str(i)] = found, signal
    with h5py.File(root / "ecg_tracings.hdf5", "w") as f:
        f.create_dataset("tracings", data=tracings)
    sexes = rng.choice(["M", "F"], n)
    attributes = pd.DataFrame({"age": rng.integers(17, 97, n), "sex": sexes})
    attributes.to_csv(root / "attributes.csv", index=False)
    table = pd.DataFrame(gold, columns=list(LABELS))
    table.to_csv(root / "annotations" / "gold_standard.csv", index=False)
    for reader in ("cardiologist1", "cardiologist2"):  # the readers disagree now and then
        flips = rng.random(table.shape) < 0.05
        (table ^ flips).astype(int).to_csv(root / "annotations" / f"{reader}.csv", index=False)
    return Written(root, labels, signals)
