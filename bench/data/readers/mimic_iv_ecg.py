"""MIMIC-IV-ECG (PhysioNet, "Diagnostic Electrocardiogram Matched Subset", v1.0, ODbL) as
the user downloads it.

- ``record_list.csv``: one row per ECG, columns ``subject_id`` (the MIMIC-IV patient),
  ``study_id`` (the ECG), ``file_name``, ``ecg_time`` and ``path``: the WFDB record relative
  to the download folder, without extension (``files/p1000/p10000032/s40689238/40689238``).
- ``machine_measurements.csv``: one row per ECG, keyed by ``study_id``: the cart's report
  statements ``report_0`` … ``report_17`` and its intervals in milliseconds (``rr_interval``,
  ``p_onset``, ``p_end``, ``qrs_onset``, ``qrs_end``, ``t_end``) and axes.
- The waveforms: WFDB records (``.hea`` + ``.dat``), 12 leads, 500 Hz, 10 s. The headers list
  the leads as I, II, III, aVR, aVF, aVL, V1-V6 (aVF before aVL): records are read by lead
  *name* and returned in :data:`bench.data.signal.STANDARD_LEADS` order.

The cohort table is built from the two CSVs alone (no walk of the ~800,000-record tree); the
machine measurements are joined per ``study_id`` with three derived numbers
(:data:`DERIVED`): QRS duration, QT and heart rate.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.signal import STANDARD_LEADS, ECGFormatError, ECGSignal

MIMIC_IV_ECG_ENV = "BENCH_MIMIC_IV_ECG_DIR"
RECORD_LIST_CSV = "record_list.csv"
MEASUREMENTS_CSV = "machine_measurements.csv"
RECORD_COLUMNS: tuple[str, ...] = ("subject_id", "study_id", "file_name", "ecg_time", "path")
#: The cart's report statements, one per column (empty where the report is shorter).
REPORT_COLUMNS: tuple[str, ...] = tuple(f"report_{i}" for i in range(18))
#: Intervals of ``machine_measurements.csv`` read as numbers (milliseconds).
INTERVAL_COLUMNS: tuple[str, ...] = (
    "rr_interval", "p_onset", "p_end", "qrs_onset", "qrs_end", "t_end",
)  # fmt: skip
AXIS_COLUMNS: tuple[str, ...] = ("p_axis", "qrs_axis", "t_axis")
#: Rows of ``machine_measurements.csv`` parsed at a time: its text cells are held a piece at
#: a time, the numbers and joined reports of every row kept.
MEASUREMENT_ROWS = 25_000
#: Derived columns of the manifest (milliseconds, bpm): name → definition over the intervals
#: of ``machine_measurements.csv``; documented in docs/data.md.
DERIVED: dict[str, str] = {
    "qrs_duration_ms": "qrs_end - qrs_onset",
    "qt_ms": "t_end - qrs_onset",
    "heart_rate_bpm": "60000 / rr_interval",
}
HOW_TO_GET = (
    "Download MIMIC-IV-ECG v1.0 from PhysioNet (https://physionet.org/content/mimic-iv-ecg/1.0/, "
    "open access, ODbL): record_list.csv, machine_measurements.csv and files/; point "
    f"--source-option mimic-iv-ecg.path=DIR or {MIMIC_IV_ECG_ENV} at that folder."
)


def resolve_mimic_iv_ecg_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The MIMIC-IV-ECG folder from ``path`` → ``$BENCH_MIMIC_IV_ECG_DIR`` (it must hold
    ``record_list.csv``)."""
    from bench.data.readers.wfdb_reader import resolve_dataset_dir

    return resolve_dataset_dir(
        path, env_var=MIMIC_IV_ECG_ENV, marker=RECORD_LIST_CSV, default=None, how_to_get=HOW_TO_GET
    )


def _csv(
    path: Path, required: Sequence[str], usecols: Sequence[str] | None = None, rows: int = 0
) -> Iterator[Any]:
    """A CSV as text cells (empty cells ``""``), checked for ``required`` columns; only
    ``usecols`` (those present) are kept. Yields the whole table, or with ``rows`` pieces of
    that many rows, each indexed by its rows' positions in the file (from 0), so that no more
    than a piece of the 18 report columns of 800,000 rows is held as text at once."""
    import pandas as pd

    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found. {HOW_TO_GET}")
    try:
        header = pd.read_csv(path, nrows=0).columns
        missing = [c for c in required if c not in header]
        if missing:
            raise ECGFormatError(f"{path}: missing column {missing[0]!r} (needs {list(required)})")
        keep = [c for c in header if usecols is None or c in usecols]
        if not rows:
            yield pd.read_csv(path, dtype=str, keep_default_na=False, usecols=keep)
            return
        with pd.read_csv(
            path, dtype=str, keep_default_na=False, usecols=keep, chunksize=rows
        ) as pieces:
            yield from pieces
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        if isinstance(exc, ECGFormatError):
            raise
        raise ECGFormatError(f"{path}: not a readable CSV ({exc})") from None


def _integers(table: Any, column: str, csv: Path) -> np.ndarray:
    """A column of integer ids, parsed exactly (never through float64, which rounds ids
    above 2**53); an empty or non-integer cell, or one of over 18 digits, names its row."""
    import pandas as pd

    cells = table[column].str.strip()
    good = cells.str.fullmatch(r"[+-]?\d{1,18}").to_numpy(dtype=bool, na_value=False)
    if not good.all():
        at = int(np.flatnonzero(~good)[0])
        got = repr(cells.iloc[at]) if cells.iloc[at] else "an empty cell"
        raise ECGFormatError(
            f"{csv}: row {table.index[at] + 1}, column {column!r}: expected an integer, got {got}"
        )
    return pd.to_numeric(cells).to_numpy(dtype=np.int64)


def _unique(ids: np.ndarray, column: str, csv: Path) -> None:
    """An id that appears twice names the row of its second appearance (the first such row
    in file order), by a stable sort: no Python object per row."""
    order = np.argsort(ids, kind="stable")  # equal ids keep their file order
    repeated = order[1:][ids[order[1:]] == ids[order[:-1]]]  # every later appearance
    if len(repeated):
        row = int(repeated.min())
        raise ECGFormatError(f"{csv}: row {row + 1}, column {column!r}: {ids[row]} appears twice")


def _numbers(table: Any, column: str, csv: Path) -> np.ndarray:
    """A numeric column, empty cells NaN; other non-numbers name their row."""
    import pandas as pd

    cells = table[column].str.strip()
    values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(values) & (cells != "").to_numpy()
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise ECGFormatError(
            f"{csv}: row {table.index[at] + 1}, column {column!r}: expected a number, "
            f"got {cells.iloc[at]!r}"
        )
    return values


def joined_statements(columns: Sequence[Any], n: int) -> Any:
    """Per row, the non-empty stripped cells of ``columns`` (text columns of ``n`` rows, no
    missing cells) in column order, joined by ``"; "`` (``""`` when none), as a pyarrow
    string array: built in pyarrow one column at a time, without a Python string per cell
    and with no more than a few columns' worth of text alive at once."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.large_string()
    separator = pa.scalar("; ", text)
    report = None if columns else pa.repeat(pa.scalar("", text), n)
    for column in columns:
        statement = pc.utf8_trim_whitespace(pa.array(column, type=text))
        if report is None:
            report = statement
            continue
        joined = pc.binary_join_element_wise(report, statement, separator)
        report = pc.if_else(
            pc.equal(statement, ""),
            report,
            pc.if_else(pc.equal(report, ""), statement, joined),
        )
    return report


def machine_measurements(root: Path) -> Any:
    """``machine_measurements.csv`` keyed by ``study_id``: ``machine_report`` (the non-empty
    ``report_*`` statements joined by ``"; "``), the intervals and axes as numbers (NaN where
    empty) and the :data:`DERIVED` columns (NaN where a part is missing or ``rr_interval``
    is not positive)."""
    import pandas as pd

    csv = Path(root) / MEASUREMENTS_CSV
    wanted = ("study_id", *REPORT_COLUMNS, *INTERVAL_COLUMNS, *AXIS_COLUMNS)
    parts = []
    for table in _csv(csv, ("study_id", *INTERVAL_COLUMNS), wanted, MEASUREMENT_ROWS):
        part = pd.DataFrame({"study_id": _integers(table, "study_id", csv)})
        part["machine_report"] = joined_statements(
            [table[c] for c in REPORT_COLUMNS if c in table.columns], len(table)
        ).to_pandas()
        for column in (*INTERVAL_COLUMNS, *(c for c in AXIS_COLUMNS if c in table.columns)):
            part[column] = _numbers(table, column, csv)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    _unique(out["study_id"].to_numpy(), "study_id", csv)
    out["qrs_duration_ms"] = out["qrs_end"] - out["qrs_onset"]
    out["qt_ms"] = out["t_end"] - out["qrs_onset"]
    rr = out["rr_interval"].where(out["rr_interval"] > 0)
    out["heart_rate_bpm"] = 60000.0 / rr
    return out


def mimic_iv_ecg_table(root: Path) -> Any:
    """The cohort manifest of a MIMIC-IV-ECG folder, from ``record_list.csv``:
    ``record_id`` (= ``study_id``), ``patient_id`` (= ``subject_id``), ``site``
    (``bidmc``: Beth Israel Deaconess Medical Center), ``ecg_time``, ``path`` (the WFDB
    record, absolute, no extension) and the machine measurements joined on ``study_id``
    (see :func:`machine_measurements`; NaN and an empty report for a study without one)."""
    root = Path(root)
    csv = root / RECORD_LIST_CSV
    (table,) = _csv(csv, RECORD_COLUMNS)
    study = _integers(table, "study_id", csv)
    _unique(study, "study_id", csv)
    subject = _integers(table, "subject_id", csv)
    relative = table["path"].str.strip()
    if (relative == "").any():
        row = int(np.flatnonzero((relative == "").to_numpy())[0])
        raise ECGFormatError(
            f"{csv}: row {row + 1}, column 'path': expected a record path, got an empty cell"
        )
    out = table[["ecg_time", "file_name"]].copy()
    out.insert(0, "record_id", study.astype(str))
    out.insert(1, "patient_id", subject.astype(str))
    out.insert(2, "site", "bidmc")
    out["study_id"] = study
    out["path"] = str(root) + os.sep + relative  # 800,000 rows: no Path, no str per row
    measured = machine_measurements(root)
    joined = out.merge(measured, on="study_id", how="left", validate="one_to_one")
    joined["machine_report"] = joined["machine_report"].fillna("")
    return joined


def record_paths(manifest: Any) -> Callable[[str], str]:
    """``record_id`` → WFDB path over the rows of a manifest of :func:`mimic_iv_ecg_table`
    (whose ``record_id`` is ``str(study_id)``), by binary search over its sorted study ids:
    two arrays, not a Python string pair per record. An id not in ``manifest`` is a
    :class:`KeyError`."""
    study = manifest["study_id"].to_numpy(dtype=np.int64)
    order = np.argsort(study, kind="stable")
    ordered = study[order]
    paths = manifest["path"].array  # shares the manifest's buffers

    def path_of(record_id: str) -> str:
        try:
            position = int(np.searchsorted(ordered, int(record_id)))
        except (ValueError, OverflowError):  # not an integer, or none of int64's
            raise KeyError(record_id) from None
        if position == len(ordered) or str(ordered[position]) != record_id:  # e.g. "+7" for 7
            raise KeyError(record_id)
        return str(paths[order[position]])

    return path_of


def read_mimic_iv_ecg_signal(path: str | os.PathLike[str]) -> ECGSignal:
    """One MIMIC-IV-ECG WFDB record as 12 leads in mV, rows in standard lead order (I, II,
    III, aVR, aVL, aVF, V1-V6) whatever order the header lists them in (MIMIC's is aVF
    before aVL); a header lacking one of the 12 leads is an error naming the file."""
    from bench.data.readers.wfdb_reader import read_wfdb

    signal = read_wfdb(path)
    missing = [lead for lead in STANDARD_LEADS if lead not in signal.leads]
    if missing:
        raise ECGFormatError(
            f"{path}.hea: leads {missing} missing (header lists {list(signal.leads)}); "
            "expected the 12 standard leads"
        )
    order = [signal.leads.index(lead) for lead in STANDARD_LEADS]
    return ECGSignal(
        data=np.ascontiguousarray(signal.data[order]),
        fs=signal.fs,
        leads=STANDARD_LEADS,
        flags=signal.flags,
        dropped=signal.dropped,
        notices=signal.notices,
    )
