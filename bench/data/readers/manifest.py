"""Generic manifest CSV: one row per ECG file with ids, site and label columns.

Required columns: ``record_id``, ``patient_id``, ``path`` (relative paths are resolved
against the CSV's folder). Optional: ``site`` (default ``"unknown"``), ``fs`` (needed for
``.npy`` files), ``leads`` (lead names of a ``.npy`` array, comma-separated) and any label
columns (``lvef``, ``hcm``, ...), which must be numeric (empty cells are NaN) unless listed
in ``text_columns`` — or, when the caller names its ``numeric_columns``, only those are
numeric and every other column is kept as text. Signals load by extension:
``.hea``/``.dat``/``.mat``/none → WFDB (``.mat``: PhysioNet/CinC challenge files),
``.xml`` → GE MUSE, ``.npy`` → a ``(leads, samples)`` array.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.data.readers.lead_names import normalize_lead_names
from bench.data.readers.muse import read_muse_xml
from bench.data.readers.wfdb_reader import RECORD_SUFFIXES, read_wfdb, record_name
from bench.data.signal import STANDARD_LEADS, ECGFormatError, ECGSignal

REQUIRED_COLUMNS: tuple[str, ...] = ("record_id", "patient_id", "path")
#: Columns that are text by definition; every other column must be numeric.
TEXT_COLUMNS: tuple[str, ...] = ("record_id", "patient_id", "path", "site", "leads")


def _where(csv: Path, row: int, column: str) -> str:
    """Row numbers count data rows from 1; the CSV line is one more (the header)."""
    return f"{csv}: row {row + 1} (line {row + 2}), column {column!r}"


def read_manifest(
    path: Path, text_columns: Iterable[str] = (), numeric_columns: Iterable[str] | None = None
) -> pd.DataFrame:
    """Read and validate a manifest CSV; see the module docstring for the columns.

    ``numeric_columns`` (e.g. the one label column a task uses), when given, are the only
    columns besides ``fs`` that must be numeric; the others stay text.

    Returns ids and ``site`` as str, ``path`` as an absolute path string, ``fs`` and label
    columns as float. Raises :class:`ECGFormatError` naming the file, row and column for a
    missing column, an empty id or path, a duplicate ``record_id`` or a non-numeric value.
    """
    csv = Path(path)
    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise ECGFormatError(f"{csv}: manifest file not found") from None
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ECGFormatError(f"{csv}: not a readable CSV ({exc})") from exc
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ECGFormatError(
            f"{csv}: missing column {missing[0]!r} (needs {list(REQUIRED_COLUMNS)})"
        )
    table = table.apply(lambda column: column.str.strip())
    for column in REQUIRED_COLUMNS:
        empty = (table[column] == "").to_numpy().nonzero()[0]
        if len(empty):
            raise ECGFormatError(f"{_where(csv, int(empty[0]), column)}: empty value")
    duplicated = table["record_id"].duplicated().to_numpy().nonzero()[0]
    if len(duplicated):
        row = int(duplicated[0])
        raise ECGFormatError(
            f"{_where(csv, row, 'record_id')}: duplicate record_id {table['record_id'][row]!r}"
        )
    if "site" not in table.columns:
        table["site"] = "unknown"
    table["site"] = table["site"].replace("", "unknown")
    folder = csv.resolve().parent
    table["path"] = [str(folder / p) for p in table["path"]]
    text = set(TEXT_COLUMNS) | set(text_columns)
    numeric = [c for c in table.columns if c not in text]
    if numeric_columns is not None:
        numeric = [c for c in numeric if c in {"fs", *numeric_columns}]
    for column in numeric:
        values = pd.to_numeric(table[column].replace("", np.nan), errors="coerce")
        bad = (values.isna() & (table[column] != "")).to_numpy().nonzero()[0]
        if len(bad):
            row = int(bad[0])
            raise ECGFormatError(
                f"{_where(csv, row, column)}: expected a number, got {table[column][row]!r}"
            )
        table[column] = values.astype(float)
    return table


def _read_npy(path: Path, row: Mapping[str, Any]) -> ECGSignal:
    fs = row.get("fs")
    if fs is None or pd.isna(fs):
        raise ECGFormatError(f"{path}: .npy signals need an 'fs' column in the manifest")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ECGFormatError(f"{path}: not a readable .npy array ({exc})") from exc
    leads_text = row.get("leads")
    leads = (
        normalize_lead_names(leads_text.replace(";", ",").split(","), str(path))
        if isinstance(leads_text, str) and leads_text
        else STANDARD_LEADS
    )
    if data.ndim != 2 or data.shape[0] != len(leads) or not np.issubdtype(data.dtype, np.number):
        raise ECGFormatError(
            f"{path}: expected a numeric ({len(leads)} leads x samples) array, "
            f"got {data.dtype} {data.shape}"
        )
    return ECGSignal(data=data.astype(np.float32), fs=float(fs), leads=leads)


def signal_files(path: str | Path) -> list[Path]:
    """The files a manifest ``path`` reads: a WFDB record's header and data files (those
    that exist; a record name may hold dots, ``JS00001.v2.hea``), else the file itself."""
    path = Path(path)
    if path.suffix.lower() in (*RECORD_SUFFIXES, ""):
        record = record_name(path)
        files = (record.with_name(record.name + suffix) for suffix in RECORD_SUFFIXES)
        return [f for f in files if f.exists()]
    return [path]


def load_manifest_signal(row: Mapping[str, Any]) -> ECGSignal:
    """Load the signal of one manifest row (a ``pd.Series`` or dict with ``path``)."""
    path = Path(str(row["path"]))
    suffix = path.suffix.lower()
    if suffix in (*RECORD_SUFFIXES, ""):
        return read_wfdb(path)
    if suffix == ".xml":
        return read_muse_xml(path)
    if suffix == ".npy":
        return _read_npy(path, row)
    raise ECGFormatError(
        f"{path}: unsupported signal file type {suffix!r}; use WFDB (.hea/.dat/.mat), .xml or .npy"
    )
