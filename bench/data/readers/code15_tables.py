"""The tables of CODE-15% (``exams.csv``) and CODE-test (``attributes.csv`` and
``annotations/gold_standard.csv``) as cohort manifests, and where each record's tracing lies
(see :mod:`bench.data.readers.code15` for the files and their units)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.cohort import CohortError
from bench.data.readers.code15 import open_hdf5, part_exam_ids, tracings_dataset
from bench.data.signal import ECGFormatError

CODE15_ENV = "BENCH_CODE15_DIR"
CODE_TEST_ENV = "BENCH_CODE_TEST_DIR"
EXAMS_CSV = "exams.csv"
CODE_TEST_HDF5 = "ecg_tracings.hdf5"
ATTRIBUTES_CSV = "attributes.csv"
GOLD_STANDARD_CSV = "annotations/gold_standard.csv"
#: The six labels of both datasets, in CODE-test's column order.
LABELS: tuple[str, ...] = ("1dAVb", "RBBB", "LBBB", "SB", "AF", "ST")
#: Columns of ``exams.csv`` this reader relies on.
EXAMS_COLUMNS: tuple[str, ...] = (
    "exam_id", "age", "is_male", *LABELS, "patient_id", "death", "timey", "trace_file",
)  # fmt: skip
CODE15_HOW = (
    "Download CODE-15% from Zenodo (https://zenodo.org/records/4916206): exams.csv and the "
    "exams_part*.zip files, unzipped to exams_part*.hdf5 beside exams.csv; point "
    f"--source-option code15.path=DIR or {CODE15_ENV} at that folder."
)
CODE_TEST_HOW = (
    "Download CODE-test (ecg_tracings.hdf5 from Zenodo, https://doi.org/10.5281/zenodo.3625006, "
    "with attributes.csv and annotations/ from github.com/antonior92/automatic-ecg-diagnosis, "
    f"folder data/); point --source-option code-test.path=DIR or {CODE_TEST_ENV} at the folder."
)
_TRUE, _FALSE = frozenset({"true", "1", "1.0"}), frozenset({"false", "0", "0.0"})


def resolve_code15_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """CODE-15% folder from ``path`` → ``$BENCH_CODE15_DIR`` (it must hold ``exams.csv``)."""
    from bench.data.readers.wfdb_reader import resolve_dataset_dir

    return resolve_dataset_dir(
        path, env_var=CODE15_ENV, marker=EXAMS_CSV, default=None, how_to_get=CODE15_HOW
    )


def resolve_code_test_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """CODE-test folder from ``path`` → ``$BENCH_CODE_TEST_DIR`` (with ``ecg_tracings.hdf5``)."""
    from bench.data.readers.wfdb_reader import resolve_dataset_dir

    return resolve_dataset_dir(
        path, env_var=CODE_TEST_ENV, marker=CODE_TEST_HDF5, default=None, how_to_get=CODE_TEST_HOW
    )


def _text_csv(path: Path, required: Sequence[str]) -> Any:
    """A CSV as text cells (empty cells ``""``), checked for ``required`` columns."""
    import pandas as pd

    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ECGFormatError(f"{path}: not a readable CSV ({exc})") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ECGFormatError(f"{path}: missing column {missing[0]!r} (needs {list(required)})")
    return table


def _bad_cell(csv: Path, row: int, column: str, cell: str, expected: str) -> ECGFormatError:
    got = "an empty cell" if cell == "" else repr(cell)
    return ECGFormatError(
        f"{csv}: row {row + 1}, column {column!r}: expected {expected}, got {got}"
    )


def _flags(table: Any, column: str, csv: Path, allow_missing: bool = True) -> np.ndarray:
    """True/False (or 1/0) cells as 1.0/0.0, empty cells NaN where allowed."""
    out = np.full(len(table), np.nan)
    for row, cell in enumerate(table[column].str.strip()):
        low = cell.lower()
        if low in _TRUE or low in _FALSE:
            out[row] = float(low in _TRUE)
        elif cell or not allow_missing:
            raise _bad_cell(csv, row, column, cell, "True/False or 1/0")
    return out


def _numbers(
    table: Any, column: str, csv: Path, integer: bool = False, allow_missing: bool = True
) -> np.ndarray:
    import pandas as pd

    cells = table[column].str.strip()
    values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(values) & ((cells != "").to_numpy() | (not allow_missing))
    if integer:
        bad |= ~np.isnan(values) & (values % 1 != 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        kind = "an integer" if integer else "a number"
        raise _bad_cell(csv, row, column, str(cells.iloc[row]), kind)
    return values


def code15_table(root: Path) -> Any:
    """``exams.csv`` as a manifest: ``record_id`` (= ``exam_id``), ``patient_id``, ``site``
    (``unknown``), ``age``, ``sex`` (``M``/``F`` from ``is_male``), the six labels as 1/0/NaN,
    ``death`` (1/0/NaN) and ``timey`` (years, NaN where empty: both are given on a patient's
    first exam only), ``trace_file`` and its ``path``; other columns kept as text."""
    csv = Path(root) / EXAMS_CSV
    table = _text_csv(csv, EXAMS_COLUMNS)
    out = table.copy()
    exam_id = _numbers(table, "exam_id", csv, integer=True, allow_missing=False).astype(np.int64)
    patient = _numbers(table, "patient_id", csv, integer=True, allow_missing=False).astype(np.int64)
    seen: set[int] = set()
    for row, exam in enumerate(exam_id.tolist()):
        if exam in seen:
            raise ECGFormatError(f"{csv}: row {row + 1}, column 'exam_id': {exam} appears twice")
        seen.add(exam)
    out.insert(0, "record_id", exam_id.astype(str))
    out["exam_id"] = exam_id
    out["patient_id"] = patient.astype(str)
    out["site"] = "unknown"
    out["age"] = _numbers(table, "age", csv)
    male = _flags(table, "is_male", csv)
    out["sex"] = np.where(np.isnan(male), "", np.where(male == 1, "M", "F"))
    for column in (*LABELS, "death", *(c for c in ("normal_ecg",) if c in table.columns)):
        out[column] = _flags(table, column, csv)
    out["timey"] = _numbers(table, "timey", csv)
    if "nn_predicted_age" in table.columns:
        out["nn_predicted_age"] = _numbers(table, "nn_predicted_age", csv)
    files = table["trace_file"].str.strip()
    if (files == "").any():
        raise _bad_cell(csv, int(np.flatnonzero(files == "")[0]), "trace_file", "", "a file name")
    out["trace_file"] = files
    out["path"] = [str(Path(root) / f) for f in files]
    return out


def code15_rows(table: Any, root: Path, present_only: bool = False) -> tuple[Any, dict[str, Any]]:
    """(the rows of ``table`` whose part is read, record id → (part path, row)).

    Every ``trace_file`` must exist unless ``present_only`` (rows of absent parts are then
    left out), and every ``exam_id`` must be in its part's ``exam_id`` dataset.
    """
    csv = Path(root) / EXAMS_CSV
    rows: dict[str, tuple[str, int]] = {}
    keep = np.ones(len(table), dtype=bool)
    for name, group in table.groupby("trace_file", sort=True):
        path = Path(root) / str(name)
        if not path.is_file():
            if present_only:
                keep[table.index.get_indexer(group.index)] = False
                continue
            raise FileNotFoundError(
                f"{path}: HDF5 part named in {csv} column 'trace_file' (exam_id "
                f"{group['exam_id'].iloc[0]}) not found; download it, or pass "
                "--source-option code15.parts=present to use the parts present"
            )
        position = {int(e): i for i, e in enumerate(part_exam_ids(path).tolist()) if e != 0}
        for record, exam in zip(group["record_id"], group["exam_id"], strict=True):
            if int(exam) not in position:
                raise ECGFormatError(
                    f"{path}: dataset 'exam_id' lacks exam_id {exam}, which {csv} "
                    f"(column 'trace_file') places in this part"
                )
            rows[str(record)] = (str(path), position[int(exam)])
    kept = table[keep]
    if kept.empty:
        raise CohortError(f"{root}: none of the HDF5 parts named in {csv} is present")
    return kept, rows


def code_test_table(root: Path) -> Any:
    """CODE-test as a manifest, row i of each file describing tracing i: ``record_id`` and
    ``patient_id`` (= i; every exam is from a different patient), ``site`` (``unknown``),
    ``age``, ``sex`` and the six gold-standard labels (1/0), ``path`` and ``row``."""
    import pandas as pd

    root = Path(root)
    h5 = root / CODE_TEST_HDF5
    with open_hdf5(h5, "code-test") as handle:
        n = int(tracings_dataset(handle, h5).shape[0])
    attributes = _text_csv(root / ATTRIBUTES_CSV, ("age", "sex"))
    gold = _text_csv(root / GOLD_STANDARD_CSV, LABELS)
    for path, table in ((root / ATTRIBUTES_CSV, attributes), (root / GOLD_STANDARD_CSV, gold)):
        if len(table) != n:
            raise ECGFormatError(
                f"{path}: {len(table)} rows, expected {n} (one per tracing of {h5})"
            )
    sex = attributes["sex"].str.strip().str.upper()
    bad = ~sex.isin(["M", "F", ""])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise _bad_cell(root / ATTRIBUTES_CSV, row, "sex", attributes["sex"].iloc[row], "M or F")
    ids = [str(i) for i in range(n)]
    out = pd.DataFrame({"record_id": ids, "patient_id": ids, "site": "unknown"})
    out["age"] = _numbers(attributes, "age", root / ATTRIBUTES_CSV)
    out["sex"] = sex.to_numpy()
    for column in LABELS:
        out[column] = _flags(gold, column, root / GOLD_STANDARD_CSV, allow_missing=False)
    out["path"] = str(h5)
    out["row"] = np.arange(n)
    return out
