"""EchoNext (PhysioNet, credentialed access) as the user downloads it.

100,000 ten-second 12-lead ECGs of 36,286 patients from Columbia University Irving Medical
Center, at 250 Hz, each with 11 echocardiography-derived structural heart disease flags and
their composite (Elias & Finer, "EchoNext: A Dataset for Detecting Echocardiogram-Confirmed
Structural Heart Disease from ECGs", PhysioNet, doi:10.13026/r9pp-3y42; Poterucha et al.,
Nature 2025). Licence: PhysioNet Restricted Health Data License 1.5.0.

The published layout (see docs/data.md, "EchoNext", for the sources of each fact):

- ``echonext_metadata_100k.csv``: one row per ECG, ``ecg_key``, ``patient_key``, ``split``
  (``train``, ``val``, ``test``, ``no_split``), ``sex`` (``male``/``female``),
  ``age_at_ecg``, the ECG measurements and the 0/1 flags of :data:`~bench.data.echonext_layout.ECHONEXT_FLAGS` plus
  :data:`COMPOSITE_COLUMN`. The release's README spells the file ``EchoNext_metadata_100k
  .csv``; both names are accepted.
- ``EchoNext_<split>_waveforms.npy``, one per split: ``(N, 1, 2500, 12)`` float64, row ``i``
  being the ``i``-th metadata row of that split in file order. The samples are **not
  millivolts**: the publisher median-filtered each lead, clipped it at its 0.1st/99.9th
  percentiles and standardised it with a dataset-wide mean and standard deviation it did not
  release, so this reader returns them as they are, with ``units="zscore"``.
- The lead order is stated nowhere in the release; the standard order (I, II, III, aVR,
  aVL, aVF, V1-V6) is what every public loader assumes and what Einthoven's and
  Goldberger's relations confirm on the data (docs/data.md).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from bench.data.echonext_layout import (
    COMPOSITE_COLUMN,
    ECHONEXT_FLAGS,
    METADATA_CSVS,
    SPLITS,
    WAVEFORMS,
)
from bench.data.signal import STANDARD_LEADS, STANDARDISED_UNITS, ECGFormatError, ECGSignal

ENV_VAR = "BENCH_ECHONEXT_DIR"
FS = 250.0
N_SAMPLES = 2500
#: Row layout of one record in a waveform array: (1, samples, leads).
RECORD_SHAPE: tuple[int, int, int] = (1, N_SAMPLES, len(STANDARD_LEADS))
#: The waveforms are standardised by the publisher, not in a physical unit.
UNITS = STANDARDISED_UNITS
#: Columns of the metadata table this reader relies on.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "ecg_key", "patient_key", "split", "sex", "age_at_ecg", *ECHONEXT_FLAGS, COMPOSITE_COLUMN,
)  # fmt: skip

HOW_TO_GET = (
    "Request credentialed access to EchoNext on PhysioNet "
    "(https://physionet.org/content/echonext/), download it and point "
    f"--source-option echonext.path=DIR or {ENV_VAR} at the folder containing "
    f"{METADATA_CSVS[0]} and the EchoNext_<split>_waveforms.npy arrays."
)


def resolve_echonext_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The EchoNext folder from ``path`` (flag) → ``$BENCH_ECHONEXT_DIR``; no default.

    Raises :class:`FileNotFoundError` saying what was tried and what to download.
    """
    given = path if path is not None else os.environ.get(ENV_VAR)
    if not given:
        raise FileNotFoundError(f"no folder given and ${ENV_VAR} is not set. {HOW_TO_GET}")
    root = Path(given)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder. {HOW_TO_GET}")
    metadata_csv(root)
    return root


def metadata_csv(root: Path) -> Path:
    """The metadata table of the EchoNext folder ``root`` (either published spelling)."""
    for name in METADATA_CSVS:
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(f"{root}: no {' or '.join(METADATA_CSVS)}. {HOW_TO_GET}")


def waveform_path(root: Path, split: str) -> Path:
    """The waveform array of ``split`` (one of :data:`SPLITS`)."""
    return Path(root) / WAVEFORMS.format(split=split)


def _flag_column(table: pd.DataFrame, column: str, csv: Path) -> pd.Series:
    values = pd.to_numeric(table[column], errors="coerce")
    bad = ~values.isin([0, 1])
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise ECGFormatError(
            f"{csv}: row {row + 1}, column {column!r}: expected 0 or 1, "
            f"got {str(table[column].iloc[row])!r}"
        )
    return values.astype(int)


def echonext_table(root: Path) -> pd.DataFrame:
    """The metadata table with harness columns added in front.

    ``record_id`` (``ecg_key``), ``patient_id`` (``patient_key``), ``site`` (the table's
    ``site`` column if it has one, else ``"unknown"``: the release names none), ``age``
    (``age_at_ecg`` as a number) and ``row`` (the record's row in its split's waveform
    array). The flags become ints; every other column (``sex``, measurements, ...) is kept.
    A missing column, a flag other than 0/1, an unknown split or a repeated ``ecg_key``
    raises :class:`ECGFormatError` naming the file, row and column.
    """
    csv = metadata_csv(Path(root))
    try:
        table = pd.read_csv(
            csv, dtype={"ecg_key": str, "patient_key": str, "split": str}, low_memory=False
        )
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ECGFormatError(f"{csv}: not a readable CSV ({exc})") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ECGFormatError(
            f"{csv}: missing column {missing[0]!r} (needs {list(REQUIRED_COLUMNS)})"
        )
    for column in ("ecg_key", "patient_key", "split"):
        empty = table[column].isna()
        if empty.any():
            row = int(empty.to_numpy().nonzero()[0][0])
            raise ECGFormatError(f"{csv}: row {row + 1}, column {column!r}: empty")
    unknown = ~table["split"].isin(SPLITS)
    if unknown.any():
        row = int(unknown.to_numpy().nonzero()[0][0])
        raise ECGFormatError(
            f"{csv}: row {row + 1}, column 'split': expected one of {list(SPLITS)}, "
            f"got {table['split'].iloc[row]!r}"
        )
    repeated = table["ecg_key"].duplicated()
    if repeated.any():
        row = int(repeated.to_numpy().nonzero()[0][0])
        raise ECGFormatError(
            f"{csv}: row {row + 1}, column 'ecg_key': {table['ecg_key'].iloc[row]!r} repeats"
        )
    out = table.copy()
    out.insert(0, "record_id", table["ecg_key"])
    out.insert(1, "patient_id", table["patient_key"])
    out["site"] = (
        table["site"].astype(object).fillna("unknown").astype(str)
        if "site" in table.columns
        else "unknown"
    )
    out["age"] = pd.to_numeric(table["age_at_ecg"], errors="coerce")
    for column in (*ECHONEXT_FLAGS, COMPOSITE_COLUMN):
        out[column] = _flag_column(table, column, csv)
    out["row"] = table.groupby("split", sort=False).cumcount()
    return out


@lru_cache(maxsize=8)
def _open(path: str, size: int, mtime_ns: int) -> np.ndarray:
    """A read-only memory map of one waveform array (keyed by its size and mtime, so a
    rewritten file is opened afresh); never read whole."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ECGFormatError(f"{path}: not a readable .npy array ({exc})") from exc
    if array.ndim != 4 or array.shape[1:] != RECORD_SHAPE:
        raise ECGFormatError(
            f"{path}: expected shape (N, {', '.join(map(str, RECORD_SHAPE))}) "
            "(records, 1, samples at 250 Hz, 12 leads), got "
            f"{tuple(array.shape)}"
        )
    if array.dtype.kind != "f":
        raise ECGFormatError(f"{path}: expected floating-point samples, got dtype {array.dtype}")
    return array


def waveforms(path: Path) -> np.ndarray:
    """The memory-mapped ``(N, 1, 2500, 12)`` array at ``path``, shape and dtype checked."""
    try:
        stat = Path(path).stat()
    except OSError as exc:
        raise ECGFormatError(f"{path}: waveform array not found ({exc.strerror})") from None
    return _open(str(path), stat.st_size, stat.st_mtime_ns)


def check_waveform_rows(root: Path, table: pd.DataFrame) -> None:
    """Raise :class:`ECGFormatError` unless the array of each split in ``table`` (the
    metadata, or the rows of the splits to be read) has exactly as many rows as the table
    has records of that split; ``row`` (the table's order) indexes them."""
    counts = table["split"].value_counts()
    for split, count in sorted((str(s), int(n)) for s, n in counts.items()):
        path = waveform_path(root, split)
        rows = waveforms(path).shape[0]
        if rows != count:
            raise ECGFormatError(
                f"{path}: expected {count} rows (the records of split {split!r} in "
                f"{metadata_csv(root).name}), found {rows}"
            )


def read_echonext_signal(root: Path, split: str, row: int) -> ECGSignal:
    """Record ``row`` of ``split``'s waveform array as a ``(12, 2500)`` float32 signal at
    250 Hz in the release's standardised units (:data:`UNITS`), standard lead order."""
    path = waveform_path(root, split)
    array = waveforms(path)
    if not 0 <= row < array.shape[0]:
        raise ECGFormatError(f"{path}: row {row} out of range (the array has {array.shape[0]})")
    data = np.asarray(array[row, 0], dtype=np.float32).T
    return ECGSignal(data=np.ascontiguousarray(data), fs=FS, leads=STANDARD_LEADS, units=UNITS)
