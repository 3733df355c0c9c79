"""PTB-XL reader on a PTB-XL-shaped folder built by the test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.data.readers import ptbxl_table, read_ptbxl_signal, resolve_ptbxl_dir, scp_statements
from bench.signal import STANDARD_LEADS, ECGFormatError

from .fixtures import make_ptbxl_dir, synthetic_ecg

CODES = [{"NORM": 100.0, "SR": 0.0}, {"IMI": 50.0, "STE_": 0.0}, {"LVH": 100.0}]


@pytest.fixture(scope="module")
def ptbxl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ptbxl")
    return make_ptbxl_dir(root, 3, CODES, patient_ids=[7, 7, 9], sites=[2, None, 0])


def test_table_columns_and_types(ptbxl_dir: Path) -> None:
    table = ptbxl_table(ptbxl_dir)
    assert list(table["record_id"]) == ["1", "2", "3"]
    assert list(table["patient_id"]) == ["7", "7", "9"]
    assert list(table["site"]) == ["2", "unknown", "0"]
    assert list(table["scp_codes"]) == CODES
    assert list(table["infarction_stadium1"]) == ["", "Stadium II", ""]
    assert table["strat_fold"].dtype.kind == "i"
    assert Path(table["path"][0]) == ptbxl_dir / "records500/00000/00001_hr"
    assert {"report", "validated_by_human", "filename_lr"} <= set(table.columns)


def test_signals_at_both_rates(ptbxl_dir: Path) -> None:
    signal = read_ptbxl_signal(ptbxl_dir, "2")
    assert signal.leads == STANDARD_LEADS  # the header spells AVR, AVL, AVF
    assert (signal.fs, signal.data.shape) == (500.0, (12, 5000))
    np.testing.assert_allclose(signal.data, synthetic_ecg(2).data, atol=6e-4)
    low = read_ptbxl_signal(ptbxl_dir, 2, rate=100)
    assert (low.fs, low.data.shape) == (100.0, (12, 1000))
    with pytest.raises(ValueError, match="100 or 500 Hz"):
        read_ptbxl_signal(ptbxl_dir, 2, rate=250)
    with pytest.raises(ECGFormatError, match=r"00099_hr\.hea: WFDB header file not found"):
        read_ptbxl_signal(ptbxl_dir, 99)


def test_statements_are_indexed_by_code(ptbxl_dir: Path) -> None:
    statements = scp_statements(ptbxl_dir)
    assert statements.index.name == "code"
    assert statements.loc["IMI", "diagnostic_class"] == "MI"
    assert statements.loc["NORM", "description"] == "normal ECG"


def _corrupt(ptbxl_dir: Path, tmp_path: Path, edit: dict[str, object]) -> Path:
    table = pd.read_csv(ptbxl_dir / "ptbxl_database.csv", dtype=str)
    for column, value in edit.items():
        if value is None:
            table = table.drop(columns=[column])
        else:
            table.loc[1, column] = value
    table.to_csv(tmp_path / "ptbxl_database.csv", index=False)
    return tmp_path


def test_missing_column_is_named(ptbxl_dir: Path, tmp_path: Path) -> None:
    root = _corrupt(ptbxl_dir, tmp_path, {"strat_fold": None})
    with pytest.raises(ECGFormatError, match=r"ptbxl_database\.csv: missing column 'strat_fold'"):
        ptbxl_table(root)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [("scp_codes", "__import__('os')", "ecg_id 2, column 'scp_codes'"),
     ("scp_codes", "['NORM']", "ecg_id 2, column 'scp_codes'"),
     ("patient_id", "abc", "row 2, column 'patient_id': expected an integer, got 'abc'"),
     ("site", "1.5", "row 2, column 'site'")],
)  # fmt: skip
def test_bad_values_are_named(
    ptbxl_dir: Path, tmp_path: Path, column: str, value: str, message: str
) -> None:
    root = _corrupt(ptbxl_dir, tmp_path, {column: value})
    with pytest.raises(ECGFormatError, match=message):
        ptbxl_table(root)


def test_resolve(ptbxl_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_PTBXL_DIR", raising=False)
    assert resolve_ptbxl_dir(ptbxl_dir) == ptbxl_dir
    with pytest.raises(FileNotFoundError) as info:
        resolve_ptbxl_dir(None)
    for needle in (
        "PTB-XL 1.0.3",
        "--source-option ptbxl.path=DIR",
        "BENCH_PTBXL_DIR",
        "ptbxl_database.csv",
    ):
        assert needle in str(info.value)
    monkeypatch.setenv("BENCH_PTBXL_DIR", str(ptbxl_dir))
    assert resolve_ptbxl_dir(None) == ptbxl_dir
