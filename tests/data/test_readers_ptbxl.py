"""PTB-XL reader on a PTB-XL-shaped folder built by the test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.data.readers import ptbxl_table, read_ptbxl_signal, resolve_ptbxl_dir, scp_statements
from bench.data.signal import STANDARD_LEADS, ECGFormatError

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


#: One ``ptbxl_database.csv`` row as PhysioNet publishes it (floats written with ``.0``).
PUBLISHED_ROW: dict[str, str] = {
    "ecg_id": "1", "patient_id": "15709.0", "age": "56.0", "site": "2.0",
    "scp_codes": "{'NORM': 100.0, 'LVOLT': 0.0, 'SR': 0.0}", "infarction_stadium1": "",
    "infarction_stadium2": "", "strat_fold": "3", "filename_lr": "records100/00000/00001_lr",
    "filename_hr": "records500/00000/00001_hr",
}  # fmt: skip


def _database(root: Path, *edits: dict[str, str]) -> Path:
    """``root/ptbxl_database.csv`` with one :data:`PUBLISHED_ROW` per edit (applied to it)."""
    root.mkdir(parents=True, exist_ok=True)
    rows = [{**PUBLISHED_ROW, "ecg_id": str(k + 1), **edit} for k, edit in enumerate(edits)]
    pd.DataFrame(rows, columns=list(PUBLISHED_ROW)).to_csv(root / "ptbxl_database.csv", index=False)
    return root


def test_published_row_gives_record_id_first_and_typed_columns(tmp_path: Path) -> None:
    """Floats as PhysioNet writes them ("3.0" folds, "15709.0" patients) become integers;
    record_id is the first column; both infarction stadium columns are text."""
    root = _database(tmp_path, {"strat_fold": "3.0"}, {"infarction_stadium2": "Stadium III"})
    table = ptbxl_table(root)
    assert table.columns[0] == "record_id"
    assert list(table["strat_fold"]) == [3, 3] and table["strat_fold"].dtype.kind == "i"
    assert list(table["patient_id"]) == ["15709", "15709"]
    assert list(table["site"]) == ["2", "2"]
    assert list(table["infarction_stadium2"]) == ["", "Stadium III"]
    assert table["scp_codes"][0] == {"NORM": 100.0, "LVOLT": 0.0, "SR": 0.0}


@pytest.mark.parametrize("column", ["ecg_id", "patient_id", "strat_fold"])
def test_an_empty_id_or_fold_names_file_row_and_column(tmp_path: Path, column: str) -> None:
    """Only ``site`` may be empty; an empty ecg_id, patient_id or strat_fold is an error."""
    root = _database(tmp_path, {}, {column: ""})
    message = (
        rf"ptbxl_database\.csv: row 2, column '{column}': expected an integer, got an empty cell$"
    )
    with pytest.raises(ECGFormatError, match=message):
        ptbxl_table(root)


@pytest.mark.parametrize(
    ("column", "value"), [("ecg_id", "1.5"), ("strat_fold", "x"), ("site", "north")]
)
def test_a_non_integer_value_names_the_file(tmp_path: Path, column: str, value: str) -> None:
    root = _database(tmp_path, {column: value})
    message = rf"ptbxl_database\.csv: row 1, column '{column}': expected an integer, got '{value}'$"
    with pytest.raises(ECGFormatError, match=message):
        ptbxl_table(root)


def test_a_long_bad_scp_codes_cell_is_named_and_cut_at_80_characters(tmp_path: Path) -> None:
    text = "x" * 100
    root = _database(tmp_path, {"scp_codes": text})
    message = (
        r"ptbxl_database\.csv: ecg_id 1, column 'scp_codes': expected a dict like "
        rf"\{{'NORM': 100\.0\}}, got '{'x' * 80}'$"
    )
    with pytest.raises(ECGFormatError, match=message):
        ptbxl_table(root)


def test_absent_or_unreadable_csv_is_named(tmp_path: Path) -> None:
    with pytest.raises(ECGFormatError, match=r"ptbxl_database\.csv: file not found$"):
        ptbxl_table(tmp_path)
    (tmp_path / "scp_statements.csv").write_bytes(b"\xff\xfe\x00code,description\n\xfa,\xfb\n")
    with pytest.raises(ECGFormatError, match=r"scp_statements\.csv: not a readable CSV \("):
        scp_statements(tmp_path)


@pytest.mark.parametrize(
    ("record_id", "rate", "expected"),
    [(1, 500, "records500/00000/00001_hr"), ("999", 100, "records100/00000/00999_lr"),
     (1000, 500, "records500/01000/01000_hr"), (21837, 100, "records100/21000/21837_lr")],
)  # fmt: skip
def test_record_path_follows_the_published_layout(
    tmp_path: Path, record_id: str | int, rate: int, expected: str
) -> None:
    """Records sit in folders of a thousand, named by the first id they hold."""
    from bench.data.readers.ptbxl import ptbxl_record_path

    assert ptbxl_record_path(tmp_path, record_id, rate) == tmp_path / expected
    if rate == 500:
        assert ptbxl_record_path(tmp_path, record_id) == tmp_path / expected


def test_a_non_integer_record_id_is_named(tmp_path: Path) -> None:
    with pytest.raises(ECGFormatError, match=r"^PTB-XL record id must be an integer, got 'abc'$"):
        read_ptbxl_signal(tmp_path, "abc")


def test_signal_is_read_from_the_published_wfdb_layout(tmp_path: Path) -> None:
    """A record written by wfdb.wrsamp where PTB-XL keeps it reads back in mV."""
    import wfdb

    folder = tmp_path / "records500" / "01000"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    values = np.round(rng.normal(0, 0.5, size=(50, 12)), 3)
    names = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    wfdb.wrsamp("01234_hr", fs=500, units=["mV"] * 12, sig_name=names, p_signal=values,
                fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12,
                write_dir=str(folder))  # fmt: skip
    signal = read_ptbxl_signal(tmp_path, 1234)
    assert signal.leads == STANDARD_LEADS and signal.fs == 500.0
    np.testing.assert_allclose(signal.data, values.T, atol=1e-6)
