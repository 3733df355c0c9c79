"""LUDB, the Lobachevsky University Electrocardiography Database (PhysioNet, version 1.0.1).

200 ten-second 12-lead ECGs at 500 Hz from 200 subjects, with cardiologists' P/QRS/T onset,
peak and offset annotations on every lead and a diagnosis table (``ludb.csv``).

Licence: Open Data Commons Attribution License v1.0 (ODC-By 1.0). Cite:
A. I. Kalyakulina et al., "LUDB: A New Open-Access Validation Tool for Electrocardiogram
Delineation Algorithms", IEEE Access 8, 186181-186190, 2020, doi:10.1109/ACCESS.2020.3029211
(and PhysioNet: Goldberger et al., Circulation 101(23), e215-e220, 2000).

Layout: ``<root>/ludb.csv`` and ``<root>/data/<ID>.hea|.dat|.i|.ii|...|.v6``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import wfdb

from bench.data.fiducials import Fiducials
from bench.data.readers.wfdb_reader import read_wfdb, resolve_dataset_dir
from bench.data.signal import ECGFormatError, ECGSignal

ENV_VAR = "BENCH_LUDB_DIR"
REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_DIR = REPO_ROOT.parent / "shared" / "data" / "ludb"

#: Text columns of ``ludb.csv`` holding diagnoses (one statement per line in a cell).
DIAGNOSIS_COLUMNS: tuple[str, ...] = (
    "Rhythms", "Electric axis of the heart", "Conduction abnormalities", "Extrasystolies",
    "Hypertrophies", "Cardiac pacing", "Ischemia", "Non-specific repolarization abnormalities",
    "Other states",
)  # fmt: skip
REQUIRED_COLUMNS: tuple[str, ...] = ("ID", "Sex", "Age", *DIAGNOSIS_COLUMNS)

#: Annotation-file extensions, one per lead (``data/<ID>.<ext>``).
ANNOTATION_LEADS: tuple[str, ...] = (
    "i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6",
)  # fmt: skip

HOW_TO_GET = (
    "Download LUDB 1.0.1 from PhysioNet (https://physionet.org/content/ludb/1.0.1/), unpack it "
    "so that the folder holds ludb.csv and data/, and pass it with --source-option ludb.path=DIR or set "
    f"{ENV_VAR} (default location: ../shared/data/ludb beside the repository)."
)


def resolve_ludb_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """LUDB folder from ``path`` (flag) → ``$BENCH_LUDB_DIR`` → ``../shared/data/ludb``.

    Raises :class:`FileNotFoundError` saying what to download and where to put it.
    """
    return resolve_dataset_dir(
        path, env_var=ENV_VAR, marker="ludb.csv", default=DEFAULT_DIR, how_to_get=HOW_TO_GET
    )


def ludb_table(root: Path) -> pd.DataFrame:
    """One row per record: ``record_id``, ``patient_id`` (= record id: one ECG per subject),
    ``site`` (``"ludb"``), ``sex``, ``age`` (text, e.g. ``">89"``), ``path`` (record path
    without extension) and the :data:`DIAGNOSIS_COLUMNS` as text (``""`` when empty; one
    statement per line). A missing column raises :class:`ECGFormatError`.
    """
    csv = Path(root) / "ludb.csv"
    raw = pd.read_csv(csv, dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise ECGFormatError(f"{csv}: missing column(s) {missing}")
    ids = raw["ID"].str.strip()
    table = pd.DataFrame(
        {
            "record_id": ids,
            "patient_id": ids,
            "site": "ludb",
            "sex": raw["Sex"].str.strip(),
            "age": raw["Age"].str.strip(),
            "path": [str(Path(root) / "data" / i) for i in ids],
        }
    )
    for column in DIAGNOSIS_COLUMNS:
        table[column] = raw[column].str.strip()
    return table


def ludb_diagnosis_contains(
    table: pd.DataFrame, column_or_all: str, pattern: str, *, case: bool = True
) -> pd.Series:
    """Boolean Series: does the diagnosis text contain ``pattern`` (a plain substring)?

    ``column_or_all`` is one of :data:`DIAGNOSIS_COLUMNS` or ``"all"`` (any of them).
    """
    columns = list(DIAGNOSIS_COLUMNS) if column_or_all == "all" else [column_or_all]
    unknown = [c for c in columns if c not in table.columns]
    if unknown:
        raise KeyError(
            f"unknown LUDB diagnosis column {unknown[0]!r}; expected 'all' or one of "
            f"{list(DIAGNOSIS_COLUMNS)}"
        )
    hits = [table[c].str.contains(pattern, case=case, regex=False) for c in columns]
    return pd.concat(hits, axis=1).any(axis=1)


def read_ludb_signal(root: Path, record_id: str) -> ECGSignal:
    """The 12-lead signal of one LUDB record (500 Hz, 5000 samples, mV)."""
    return read_wfdb(Path(root) / "data" / str(record_id))


def _wave_bounds(symbols: np.ndarray, samples: np.ndarray, peak: int) -> tuple[float, float]:
    """Onset/offset of the wave whose peak is at index ``peak``: the neighbouring ``(``/``)``
    annotations, NaN where a neighbour is not a boundary."""
    onset = samples[peak - 1] if peak > 0 and symbols[peak - 1] == "(" else np.nan
    last = len(symbols) - 1
    offset = samples[peak + 1] if peak < last and symbols[peak + 1] == ")" else np.nan
    return float(onset), float(offset)


def read_ludb_fiducials(root: Path, record_id: str, lead: str = "ii") -> Fiducials:
    """QRS onset/offset and T onset/offset per beat from one lead's annotation file.

    A beat is a QRS peak (``N``) whose onset ``(`` and offset ``)`` are both annotated (a few
    paced records lack them; such complexes are left out). Its T wave is the first ``t`` peak
    after the QRS and before the next one; beats without an annotated T wave (typically the
    last beat of the record) get NaN T onset/offset, which :meth:`Fiducials.windows` drops.
    """
    ext = lead.strip().lower()
    if ext not in ANNOTATION_LEADS:
        raise ValueError(f"unknown LUDB lead {lead!r}; expected one of {list(ANNOTATION_LEADS)}")
    record = Path(root) / "data" / str(record_id)
    path = record.with_name(f"{record.name}.{ext}")
    if not path.is_file():
        raise ECGFormatError(f"{path}: LUDB annotation file not found")
    try:
        ann = wfdb.rdann(str(record), extension=ext)
        fs = float(ann.fs or wfdb.rdheader(str(record)).fs)
    except Exception as exc:
        raise ECGFormatError(f"{path}: unreadable annotation file ({exc})") from exc
    symbols = np.asarray(ann.symbol)
    samples = np.asarray(ann.sample)
    qrs_peaks = np.flatnonzero(symbols == "N")
    t_peaks = np.flatnonzero(symbols == "t")
    rows = []
    for n, peak in enumerate(qrs_peaks):
        qrs_on, qrs_off = _wave_bounds(symbols, samples, int(peak))
        if np.isnan(qrs_on) or np.isnan(qrs_off):
            continue
        next_peak = qrs_peaks[n + 1] if n + 1 < len(qrs_peaks) else len(symbols)
        t_here = t_peaks[(t_peaks > peak) & (t_peaks < next_peak)]
        t_on, t_off = (
            _wave_bounds(symbols, samples, int(t_here[0])) if len(t_here) else (np.nan,) * 2
        )
        rows.append((qrs_on, qrs_off, t_on, t_off))
    arr = np.asarray(rows, dtype=float).reshape(-1, 4)
    return Fiducials(
        fs=fs,
        qrs_onset=arr[:, 0],
        qrs_offset=arr[:, 1],
        t_onset=arr[:, 2],
        t_offset=arr[:, 3],
    )
