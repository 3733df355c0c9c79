"""Tiny MIMIC-IV-ECG and Chapman-Shaoxing-Ningbo folders in their published layouts.

Written from the datasets' documentation, not from the reader:

- MIMIC-IV-ECG v1.0 (PhysioNet project page; record_list.csv rows as quoted by public
  loaders, e.g. ``10000032,40689238,40689238,2180-07-23 08:44:00,
  files/p1000/p10000032/s40689238/40689238``): ``record_list.csv`` (subject_id, study_id,
  file_name, ecg_time, path), ``machine_measurements.csv`` (subject_id, study_id, cart_id,
  ecg_time, report_0 … report_17, bandwidth, filtering, rr_interval, p_onset, p_end,
  qrs_onset, qrs_end, t_end, p_axis, qrs_axis, t_axis), ``waveform_note_links.csv`` (its
  columns are not confirmed from the documentation; the reader does not read it), and
  WFDB records ``files/pNNNN/pSSSSSSSS/sYYYYYYYY/YYYYYYYY.{hea,dat}`` (NNNN the first four
  digits of the subject id), one format-16 ``.dat`` for 12 leads at 500 Hz, 10 s, the header
  listing I, II, III, aVR, aVF, aVL, V1-V6 (aVF before aVL, as the project page lists them).
  The gain (200 per mV) is this fixture's choice; the reader takes it from the header.
- Chapman-Shaoxing-Ningbo v1.0.0 (PhysioNet ``ecg-arrhythmia``):
  ``ConditionNames_SNOMED-CT.csv`` (Acronym Name, Full Name, Snomed_CT) and
  ``WFDBRecords/NN/NNN/JSnnnnn.{hea,mat}`` in the PhysioNet/CinC ``.mat`` layout with
  ``#Age:``, ``#Sex:`` and ``#Dx:`` header lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.data.signal import STANDARD_LEADS, ECGSignal
from tests.data.fixtures import synthetic_ecg, write_cinc_record

FS = 500
#: MIMIC-IV-ECG's header lead order.
MIMIC_ORDER: tuple[str, ...] = ("I", "II", "III", "aVR", "aVF", "aVL", *STANDARD_LEADS[6:])
MIMIC_GAIN = 200.0
MEASUREMENT_COLUMNS: tuple[str, ...] = (
    "subject_id", "study_id", "cart_id", "ecg_time",
    *(f"report_{i}" for i in range(18)),
    "bandwidth", "filtering", "rr_interval", "p_onset", "p_end", "qrs_onset", "qrs_end",
    "t_end", "p_axis", "qrs_axis", "t_axis",
)  # fmt: skip
#: Rows of Chapman's ConditionNames_SNOMED-CT.csv: the six rhythms plus two others.
CONDITIONS: tuple[tuple[str, str, str], ...] = (
    ("1AVB", "1 degree atrioventricular block", "270492004"),
    ("AF", "Atrial Flutter", "164890007"),
    ("AFIB", "Atrial Fibrillation", "164889003"),
    ("RBBB", "Right Bundle Branch Block", "59118001"),
    ("SB", "Sinus Bradycardia", "426177001"),
    ("SR", "Sinus Rhythm", "426783006"),
    ("ST", "Sinus Tachycardia", "427084000"),
    ("SVT", "Supraventricular Tachycardia", "426761007"),
)
RHYTHMS: tuple[str, ...] = ("SB", "SR", "AFIB", "ST", "AF", "SVT")


@dataclass(frozen=True)
class Written:
    """What a fixture wrote: each record's label(s) and its signal (12 x samples, mV,
    standard lead order), by record id."""

    root: Path
    labels: dict[str, dict[str, int]]
    signals: dict[str, np.ndarray]


def write_mimic_record(record: Path, data: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Write ``data`` (rows in ``names`` order, mV) as MIMIC-IV-ECG does: ``record.hea`` and
    one interleaved format-16 ``record.dat``. Returns the stored values in mV."""
    record.parent.mkdir(parents=True, exist_ok=True)
    counts = np.round(data.astype(np.float64) * MIMIC_GAIN).astype(np.int16)
    counts.T.astype("<i2").tofile(record.with_suffix(".dat"))
    name = record.name
    lines = [f"{name} {len(names)} {FS} {counts.shape[1]} 08:44:00 23/07/2180"]
    for row, lead in zip(counts, names, strict=True):
        checksum = int(row.astype(np.int64).sum()) % 65536
        checksum = checksum - 65536 if checksum >= 32768 else checksum
        lines.append(f"{name}.dat 16 {MIMIC_GAIN:g}(0)/mV 16 0 {row[0]} {checksum} 0 {lead}")
    record.with_suffix(".hea").write_text("\n".join(lines) + "\n")
    return counts.astype(np.float64) / MIMIC_GAIN


def mimic_record_path(subject: int, study: int) -> str:
    """The WFDB record of a study relative to the download folder, without extension:
    ``files/pNNNN/pSSSSSSSS/sYYYYYYYY/YYYYYYYY`` (NNNN the subject id's first four digits)."""
    return f"files/p{str(subject)[:4]}/p{subject}/s{study}/{study}"


def write_mimic_tables(
    root: Path, records: list[list[Any]], measurements: list[list[Any]], links: list[list[Any]]
) -> None:
    """Write ``record_list.csv`` (rows: subject_id, study_id, file_name, ecg_time, path),
    ``machine_measurements.csv`` (rows in :data:`MEASUREMENT_COLUMNS` order) and
    ``waveform_note_links.csv`` under ``root``."""
    pd.DataFrame(
        records, columns=["subject_id", "study_id", "file_name", "ecg_time", "path"]
    ).to_csv(root / "record_list.csv", index=False)
    pd.DataFrame(measurements, columns=list(MEASUREMENT_COLUMNS)).to_csv(
        root / "machine_measurements.csv", index=False
    )
    pd.DataFrame(
        links,
        columns=["subject_id", "study_id", "waveform_path", "note_id", "note_seq", "charttime"],
    ).to_csv(root / "waveform_note_links.csv", index=False)


def mimic_reports(af: bool | None, upper: bool = False) -> list[str]:
    """``report_0`` … ``report_17`` of a study: atrial fibrillation or sinus rhythm (upper
    case if ``upper``), or all empty when ``af`` is None."""
    if af is None:
        return [""] * 18
    first = "Atrial fibrillation with rapid ventricular response" if af else "Sinus rhythm"
    first = first.upper() if upper else first
    return [first, "Abnormal ECG" if af else "Normal ECG", *([""] * 16)]


def make_mimic_iv_ecg_dir(root: Path, n_patients: int = 12) -> Written:
    """A MIMIC-IV-ECG folder: ``n_patients`` subjects with two studies each; every third
    study's machine report says atrial fibrillation (one in upper case), the last study has
    no report statement (left out by ``mimic-iv-ecg-af``) and an empty ``rr_interval``.
    Each signal beats at its study's ``rr_interval`` (``600 + 10 k`` ms), so the heart rate
    of ``mimic-iv-ecg-measurements`` can be learnt from it."""
    root.mkdir(parents=True, exist_ok=True)
    records, measurements, links = [], [], []
    labels: dict[str, dict[str, int]] = {}
    signals: dict[str, np.ndarray] = {}
    n_studies = 2 * n_patients
    for k in range(n_studies):
        subject, study = 10000032 + 1000 * (k // 2), 40689238 + 7 * k
        af = None if k == n_studies - 1 else k % 3 == 0
        relative = mimic_record_path(subject, study)
        beat = None if af is None else (600 + 10 * k) / 1000
        standard = synthetic_ecg(300 + k, fs=FS, seconds=10, rr=beat).data
        in_file = np.stack([standard[STANDARD_LEADS.index(n)] for n in MIMIC_ORDER])
        stored = write_mimic_record(root / relative, in_file, MIMIC_ORDER)
        signals[str(study)] = np.stack([stored[MIMIC_ORDER.index(n)] for n in STANDARD_LEADS])
        if af is not None:
            labels[str(study)] = {"af": int(af)}
        time = f"2180-07-{10 + k % 18:02d} 08:{k % 60:02d}:00"
        records.append([subject, study, study, time, relative])
        rr = "" if af is None else str(600 + 10 * k)
        measurements.append(
            [subject, study, 6 + k % 3, time, *mimic_reports(af, upper=k == 3), "<not specified>",
             "60 Hz notch Baseline filter", rr, 40, 140, 180 + k, 270 + k + 2 * (k % 9), 560 + 2 * k, 60, 45, 50]
        )  # fmt: skip
        if k % 4 == 0:
            links.append([subject, study, relative, f"{subject}-EC-{k}", 1, time])
    write_mimic_tables(root, records, measurements, links)
    return Written(root=root, labels=labels, signals=signals)


def make_chapman_dir(root: Path, n_records: int = 14) -> Written:
    """A Chapman folder: ``n_records`` records JS00001… in ``WFDBRecords/01/010/`` (the
    first 100) and ``01/011/``, cycling through the six rhythms (every fourth also RBBB),
    plus ``JS09999`` without a Dx code (left out)."""
    (root / "WFDBRecords").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(CONDITIONS, columns=["Acronym Name", "Full Name", "Snomed_CT"]).to_csv(
        root / "ConditionNames_SNOMED-CT.csv", index=False
    )
    codes = {acronym: code for acronym, _, code in CONDITIONS}
    labels: dict[str, dict[str, int]] = {}
    signals: dict[str, np.ndarray] = {}
    for k in range(n_records):
        name = f"JS{k + 1:05d}"
        folder = root / "WFDBRecords" / "01" / f"{10 + k // 100:03d}"
        rhythm = RHYTHMS[k % len(RHYTHMS)]
        dx = [codes[rhythm], *([codes["RBBB"]] if k % 4 == 0 else [])]
        signal = synthetic_ecg(500 + k, fs=FS, seconds=10)
        stored = np.round(signal.data.astype(np.float64) * 1000) / 1000
        write_cinc_record(
            folder / name,
            ECGSignal(data=stored.astype(np.float32), fs=FS, leads=STANDARD_LEADS),
            dx=dx,
            comments=(f"Age: {40 + k}", f"Sex: {'Male' if k % 2 else 'Female'}"),
        )
        labels[name] = {a: int(a == rhythm) for a in RHYTHMS}
        signals[name] = stored
    write_cinc_record(root / "WFDBRecords/01/010/JS09999", synthetic_ecg(9, fs=FS), dx=[])
    return Written(root=root, labels=labels, signals=signals)
