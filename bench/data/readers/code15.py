"""CODE-15% and CODE-test (Ribeiro et al.) as the user downloads them from Zenodo.

- **CODE-15%** (Zenodo record 4916206, CC BY 4.0): ``exams.csv`` (one row per exam:
  ``exam_id``, ``age``, ``is_male``, ``nn_predicted_age``, the six labels ``1dAVb``, ``RBBB``,
  ``LBBB``, ``SB``, ``ST``, ``AF``, ``patient_id``, ``death``, ``timey``, ``normal_ecg``,
  ``trace_file``) and HDF5 parts ``exams_part0.hdf5`` … ``exams_part17.hdf5``, each with a
  dataset ``tracings`` of shape ``(N, 4096, 12)`` and ``exam_id`` of shape ``(N,)``; the last
  row of each part has ``exam_id`` 0 and an all-zero tracing.
- **CODE-test** (Ribeiro et al., Nat Commun 11:1760, 2020; Zenodo, CC BY 4.0):
  ``ecg_tracings.hdf5`` with one dataset ``tracings`` ``(827, 4096, 12)``, ``attributes.csv``
  (``age``, ``sex`` M/F) and ``annotations/gold_standard.csv`` (``1dAVb, RBBB, LBBB, SB, AF,
  ST``), the i-th row of each CSV describing the i-th tracing.

Signals are 400 Hz; 7 s and 10 s exams are zero-padded to 4096 samples at both ends. The
values are millivolts (:data:`MV_PER_UNIT`; see docs/data.md for the evidence). CODE-15%'s
leads are I, II, III, aVR, aVL, aVF, V1-V6; CODE-test's README gives aVL, aVF, aVR for the
fourth to sixth (:data:`CODE_TEST_LEADS`). Since aVR, aVL and aVF are computed from I and II,
:func:`check_augmented_order` reads them in the order the data satisfy and says so in a
notice when that is not the documented one.

A record is read by indexing one row of ``tracings`` (an HDF5 hyperslab read of 4096 x 12
floats), never the whole part; files are opened lazily, once per process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import permutations
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.cohort import CohortError
from bench.data.signal import STANDARD_LEADS, ECGFormatError, ECGSignal

FS = 400.0
#: Samples per stored tracing (exams shorter than 4096 samples are zero-padded at both ends).
SAMPLES = 4096
#: Millivolts per stored unit: the values are mV (the authors' "scale 1e-4 V ... multiplied
#: by 1000" means V x 1000; the PhysioNet Challenge 2025 converter writes them as mV).
MV_PER_UNIT = 1.0
CODE15_LEADS: tuple[str, ...] = STANDARD_LEADS
#: CODE-test's lead order as its README states it: {DI, DII, DIII, AVL, AVF, AVR, V1-V6}.
CODE_TEST_LEADS: tuple[str, ...] = (
    "I", "II", "III", "aVL", "aVF", "aVR", "V1", "V2", "V3", "V4", "V5", "V6",
)  # fmt: skip
AUGMENTED: tuple[str, ...] = ("aVR", "aVL", "aVF")
#: Largest RMS residual, relative to the lead's RMS, at which a column counts as satisfying
#: Goldberger's relation (stored values are rounded; derived leads agree to well under 5 %).
GOLDBERGER_TOLERANCE = 0.05


def require_h5py(source: str) -> Any:
    """The h5py module, or a :class:`CohortError` saying how to install it."""
    try:
        import h5py
    except ImportError:
        raise CohortError(f"source {source!r} needs h5py: pip install 'ecg-bench[hdf5]'") from None
    return h5py


def open_hdf5(path: Path, source: str) -> Any:
    """``path`` opened read-only (a new handle: close it, e.g. ``with``); one-line errors
    name the file."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: HDF5 file not found (source {source!r})")
    h5py = require_h5py(source)
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise ECGFormatError(f"{path}: not a readable HDF5 file ({exc})") from None


#: HDF5 files this process reads records from: (pid, path) → (size, mtime, h5py.File). A
#: forked worker opens its own handles (HDF5 handles must not cross a fork); a file
#: rewritten since it was opened is reopened.
_OPEN: dict[tuple[int, str], tuple[int, int, Any]] = {}


def cached_hdf5(path: Path, source: str) -> Any:
    """``path`` opened read-only once per process and kept open for the records it holds."""
    try:
        stat = path.stat()
    except OSError:
        raise FileNotFoundError(f"{path}: HDF5 file not found (source {source!r})") from None
    key, facts = (os.getpid(), str(path)), (stat.st_size, stat.st_mtime_ns)
    cached = _OPEN.get(key)
    if cached is not None and cached[:2] == facts:
        return cached[2]
    if cached is not None:
        cached[2].close()
    handle = open_hdf5(path, source)
    _OPEN[key] = (*facts, handle)
    return handle


def tracings_dataset(handle: Any, path: Path, rows: int | None = None) -> Any:
    """The ``tracings`` dataset of an open file, checked to be ``(rows, 4096, 12)``."""
    if "tracings" not in handle:
        raise ECGFormatError(
            f"{path}: no dataset 'tracings' (found {sorted(handle.keys())}); expected "
            f"'tracings' of shape (N, {SAMPLES}, 12)"
        )
    tracings = handle["tracings"]
    shape = tuple(tracings.shape)
    if len(shape) != 3 or shape[1:] != (SAMPLES, 12) or (rows is not None and shape[0] != rows):
        n = "N" if rows is None else str(rows)
        raise ECGFormatError(
            f"{path}: dataset 'tracings' has shape {shape}, expected ({n}, {SAMPLES}, 12) "
            "(exams x samples x leads)"
        )
    return tracings


def part_exam_ids(path: Path) -> np.ndarray:
    """The ``exam_id`` dataset of a CODE-15% part, checked against its ``tracings``."""
    with open_hdf5(path, "code15") as handle:
        if "exam_id" not in handle:
            raise ECGFormatError(
                f"{path}: no dataset 'exam_id' (found {sorted(handle.keys())}); expected "
                "'exam_id' of shape (N,) beside 'tracings'"
            )
        ids = np.asarray(handle["exam_id"][()])  # N integers; the tracings stay on disk
        if ids.ndim != 1:
            raise ECGFormatError(f"{path}: dataset 'exam_id' has shape {ids.shape}, expected (N,)")
        tracings_dataset(handle, path, rows=len(ids))
    return ids


def strip_padding(data: np.ndarray) -> np.ndarray:
    """``(leads, samples)`` without the all-zero samples at either end (inner zeros stay)."""
    nonzero = np.flatnonzero(np.any(data != 0, axis=0))
    if nonzero.size == 0:
        return data[:, :0]
    return data[:, nonzero[0] : nonzero[-1] + 1]


def check_augmented_order(
    data: np.ndarray, leads: Sequence[str], where: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Lead names for ``data`` and notices: when the aVR/aVL/aVF rows fit Goldberger's
    relations to I and II under another assignment and not under ``leads``, the names of
    those rows follow the data, with a notice naming both orders."""
    names = tuple(leads)
    rows = [names.index(n) for n in AUGMENTED]
    lead_i, lead_ii = data[names.index("I")], data[names.index("II")]
    derived = {
        "aVR": -(lead_i + lead_ii) / 2,
        "aVL": lead_i - lead_ii / 2,
        "aVF": lead_ii - lead_i / 2,
    }

    def fits(row: int, lead: str) -> bool:
        scale = float(np.sqrt(np.mean(data[row] ** 2)))
        residual = float(np.sqrt(np.mean((data[row] - derived[lead]) ** 2)))
        return scale > 0 and residual <= GOLDBERGER_TOLERANCE * scale

    if all(fits(r, n) for r, n in zip(rows, AUGMENTED, strict=True)):
        return names, ()
    for order in permutations(AUGMENTED):
        if all(fits(r, n) for r, n in zip(rows, order, strict=True)):
            found = list(names)
            for row, lead in zip(rows, order, strict=True):
                found[row] = lead
            documented = ", ".join(names[r] for r in sorted(rows))
            actual = ", ".join(found[r] for r in sorted(rows))
            return tuple(found), (
                f"{where}: leads {min(rows) + 1}-{max(rows) + 1} satisfy Goldberger's "
                f"relations to I and II as {actual}, not as the documented {documented}; "
                "read as the data say",
            )
    return names, ()


def decode_tracing(raw: np.ndarray, leads: Sequence[str], where: str) -> ECGSignal:
    """One stored ``(4096, 12)`` tracing → :class:`ECGSignal` in mV, padding stripped,
    rows in standard lead order."""
    data = strip_padding(np.asarray(raw, dtype=np.float32).T * np.float32(MV_PER_UNIT))
    if data.shape[1] == 0:
        raise ECGFormatError(f"{where}: tracing is all zeros (no signal)")
    names, notices = check_augmented_order(data, leads, where)
    order = [names.index(lead) for lead in STANDARD_LEADS]
    return ECGSignal(
        data=np.ascontiguousarray(data[order]), fs=FS, leads=STANDARD_LEADS, notices=notices
    )


@dataclass(frozen=True)
class HDF5Records:
    """Reads records by id from rows of HDF5 ``tracings`` datasets: ``rows`` maps a record
    id to (file, row). Picklable; files are opened in the process that reads."""

    source: str
    rows: dict[str, tuple[str, int]]
    leads: tuple[str, ...]

    def __call__(self, record_id: str) -> ECGSignal:
        try:
            file, row = self.rows[str(record_id)]
        except KeyError:
            raise ECGFormatError(f"{self.source}: no record {record_id!r}") from None
        path = Path(file)
        tracings = tracings_dataset(cached_hdf5(path, self.source), path)
        raw = tracings[row]  # one (4096, 12) row: a hyperslab read, not the part
        return decode_tracing(raw, self.leads, f"{path}: row {row} ({record_id})")
