"""PTB-XL (PhysioNet, version 1.0.3) as the user downloads it.

21,799 ten-second 12-lead ECGs from 18,869 patients, at 500 Hz (``records500/``) and 100 Hz
(``records100/``), with SCP-ECG statements per record (``ptbxl_database.csv``) and their
definitions (``scp_statements.csv``). Licence: CC BY 4.0. Cite: P. Wagner et al., "PTB-XL, a
large publicly available electrocardiography dataset", Scientific Data 7, 154 (2020).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

import pandas as pd

from bench.data.readers.wfdb_reader import read_wfdb, resolve_dataset_dir
from bench.data.signal import ECGFormatError, ECGSignal

ENV_VAR = "BENCH_PTBXL_DIR"
DATABASE_CSV = "ptbxl_database.csv"
STATEMENTS_CSV = "scp_statements.csv"

#: Columns of ``ptbxl_database.csv`` this reader relies on.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "ecg_id", "patient_id", "site", "scp_codes", "infarction_stadium1", "strat_fold",
    "filename_lr", "filename_hr",
)  # fmt: skip
#: Columns of ``scp_statements.csv`` (besides the code index) this reader relies on.
STATEMENT_COLUMNS: tuple[str, ...] = (
    "description", "diagnostic", "form", "rhythm", "diagnostic_class", "diagnostic_subclass",
)  # fmt: skip

HOW_TO_GET = (
    "Download PTB-XL 1.0.3 from PhysioNet (https://physionet.org/content/ptb-xl/1.0.3/) and "
    f"point --source-option ptbxl.path=DIR or {ENV_VAR} at the folder containing {DATABASE_CSV}."
)


def resolve_ptbxl_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """PTB-XL folder from ``path`` (flag) → ``$BENCH_PTBXL_DIR``; there is no default.

    Raises :class:`FileNotFoundError` saying what to download and where to point.
    """
    return resolve_dataset_dir(
        path, env_var=ENV_VAR, marker=DATABASE_CSV, default=None, how_to_get=HOW_TO_GET
    )


def _read_csv(path: Path, required: tuple[str, ...], **kwargs: Any) -> pd.DataFrame:
    if not path.is_file():
        raise ECGFormatError(f"{path}: file not found")
    try:
        table = pd.read_csv(path, **kwargs)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ECGFormatError(f"{path}: not a readable CSV ({exc})") from exc
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ECGFormatError(f"{path}: missing column {missing[0]!r} (needs {list(required)})")
    return table


def _parse_scp_codes(text: Any, csv: Path, ecg_id: Any) -> dict[str, float]:
    """``"{'NORM': 100.0, 'SR': 0.0}"`` → dict, safely (no code is executed)."""
    try:
        value = ast.literal_eval(str(text))
        codes = {str(k): float(v) for k, v in value.items()}
    except (ValueError, TypeError, SyntaxError, AttributeError, MemoryError, RecursionError):
        raise ECGFormatError(
            f"{csv}: ecg_id {ecg_id}, column 'scp_codes': expected a dict like "
            f"{{'NORM': 100.0}}, got {str(text)[:80]!r}"
        ) from None
    return codes


def _integer_column(table: pd.DataFrame, column: str, csv: Path, allow_missing: bool) -> pd.Series:
    values = pd.to_numeric(table[column], errors="coerce")
    bad = values.isna() if not allow_missing else values.isna() & table[column].notna()
    bad |= values.notna() & (values % 1 != 0)
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        cell = table[column].iloc[row]
        got = "an empty cell" if pd.isna(cell) else repr(str(cell))
        raise ECGFormatError(
            f"{csv}: row {row + 1}, column {column!r}: expected an integer, got {got}"
        )
    return values


def ptbxl_table(root: Path) -> pd.DataFrame:
    """``ptbxl_database.csv`` with harness columns added in front.

    ``record_id`` = ``str(ecg_id)``, ``patient_id`` = ``str(int(patient_id))``, ``site``
    (``"unknown"`` when empty), ``strat_fold`` (int), ``scp_codes`` parsed to
    ``dict[str, float]``, ``infarction_stadium1``/``2`` as text (``""`` when empty) and
    ``path`` (the 500 Hz record, without extension). All other columns are kept.
    A missing column or an unparseable value raises :class:`ECGFormatError` naming the
    file, row and column.
    """
    csv = Path(root) / DATABASE_CSV
    table = _read_csv(csv, REQUIRED_COLUMNS)
    ecg_id = _integer_column(table, "ecg_id", csv, allow_missing=False).astype(int)
    patient = _integer_column(table, "patient_id", csv, allow_missing=False).astype(int)
    site = _integer_column(table, "site", csv, allow_missing=True)
    fold = _integer_column(table, "strat_fold", csv, allow_missing=False).astype(int)
    out = table.copy()
    out.insert(0, "record_id", ecg_id.astype(str))
    out["patient_id"] = patient.astype(str)
    out["site"] = [("unknown" if pd.isna(s) else str(int(s))) for s in site]
    out["strat_fold"] = fold
    codes = [_parse_scp_codes(t, csv, i) for t, i in zip(table["scp_codes"], ecg_id, strict=True)]
    out["scp_codes"] = pd.Series(codes, index=out.index, dtype=object)
    for column in ("infarction_stadium1", "infarction_stadium2"):
        if column in out.columns:
            out[column] = out[column].astype(object).fillna("").astype(str)
    out["path"] = [str(Path(root) / str(f)) for f in table["filename_hr"]]
    return out


def scp_statements(root: Path) -> pd.DataFrame:
    """``scp_statements.csv`` indexed by SCP code (index name ``"code"``)."""
    table = _read_csv(Path(root) / STATEMENTS_CSV, STATEMENT_COLUMNS, index_col=0)
    table.index = table.index.astype(str)
    table.index.name = "code"
    return table


def ptbxl_record_path(root: Path, record_id: str | int, rate: int = 500) -> Path:
    """Path (no extension) of a record in PTB-XL's layout, e.g. ``records500/00000/00001_hr``."""
    if rate not in (100, 500):
        raise ValueError(f"PTB-XL records exist at 100 or 500 Hz, not {rate}")
    try:
        ecg_id = int(record_id)
    except ValueError:
        raise ECGFormatError(f"PTB-XL record id must be an integer, got {record_id!r}") from None
    suffix = "hr" if rate == 500 else "lr"
    return Path(root) / f"records{rate}" / f"{ecg_id // 1000 * 1000:05d}" / f"{ecg_id:05d}_{suffix}"


def read_ptbxl_signal(root: Path, record_id: str | int, rate: int = 500) -> ECGSignal:
    """The 12-lead signal of PTB-XL record ``record_id`` (its ``ecg_id``) at ``rate`` Hz."""
    return read_wfdb(ptbxl_record_path(root, record_id, rate))
