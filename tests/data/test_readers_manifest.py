"""Generic manifest CSVs: validation messages and signal loading by extension."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.data.readers import load_manifest_signal, read_manifest
from bench.signal import STANDARD_LEADS, ECGFormatError

from .fixtures import (
    PTBXL_SIG_NAMES,
    make_manifest,
    make_muse_xml,
    synthetic_ecg,
    write_cinc_record,
    write_wfdb,
)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A folder with one WFDB record, one MUSE XML and two .npy arrays."""
    write_wfdb(tmp_path / "ecgs" / "a", synthetic_ecg(1, seconds=2), PTBXL_SIG_NAMES)
    make_muse_xml(tmp_path / "ecgs" / "b.xml", synthetic_ecg(2, seconds=2), with_median=False)
    np.save(tmp_path / "ecgs" / "c.npy", synthetic_ecg(3, fs=250, seconds=2).data)
    np.save(tmp_path / "ecgs" / "d.npy", synthetic_ecg(4, seconds=2).data[[1, 0]])
    return tmp_path


ROWS = [
    {"record_id": "a", "patient_id": "p1", "path": "ecgs/a", "site": "s1", "lvef": 35, "fs": ""},
    {"record_id": "b", "patient_id": "p1", "path": "ecgs/b.xml", "site": "", "lvef": 55, "fs": ""},
    {"record_id": "c", "patient_id": "p2", "path": "ecgs/c.npy", "site": "s2", "lvef": "",
     "fs": 250},
    {"record_id": "d", "patient_id": "p3", "path": "ecgs/d.npy", "site": "s2", "lvef": 20,
     "fs": 500, "leads": "ii, I"},
]  # fmt: skip


def test_every_extension_loads(files: Path) -> None:
    table = read_manifest(make_manifest(files / "manifest.csv", ROWS))
    assert list(table["site"]) == ["s1", "unknown", "s2", "s2"]
    assert np.isnan(table["lvef"][2]) and table["lvef"][0] == 35.0
    signals = [load_manifest_signal(row) for _, row in table.iterrows()]
    for signal, fs in zip(signals[:3], [500, 500, 250], strict=True):
        assert signal.leads == STANDARD_LEADS
        assert signal.fs == fs
    np.testing.assert_allclose(signals[0].data, synthetic_ecg(1, seconds=2).data, atol=6e-4)
    np.testing.assert_allclose(signals[1].lead("V6"), synthetic_ecg(2, seconds=2).lead("V6"),
                               atol=5e-3)  # fmt: skip
    assert signals[3].leads == ("II", "I")
    np.testing.assert_array_equal(signals[3].lead("I"), synthetic_ecg(4, seconds=2).lead("I"))


def test_relative_paths_resolve_against_the_csv_folder(files: Path, tmp_path: Path) -> None:
    rows = [dict(ROWS[0], path=str(files / "ecgs" / "a"))]
    elsewhere = make_manifest(tmp_path / "sub" / "m.csv", rows)
    assert read_manifest(elsewhere)["path"][0] == str(files / "ecgs" / "a")
    nested = make_manifest(files / "ecgs" / "m.csv", [dict(ROWS[0], path="a")])
    assert load_manifest_signal(read_manifest(nested).iloc[0]).n_samples == 1000


@pytest.mark.parametrize(
    ("rows", "message"),
    [([*ROWS[:2], dict(ROWS[2], lvef="abc")],
      r"row 3 \(line 4\), column 'lvef': expected a number, got 'abc'"),
     ([{k: v for k, v in r.items() if k != "patient_id"} for r in ROWS],
      r"missing column 'patient_id'"),
     ([ROWS[0], dict(ROWS[1], path="")], r"row 2 \(line 3\), column 'path': empty value"),
     ([ROWS[0], dict(ROWS[1], record_id="a")], r"row 2 \(line 3\), column 'record_id': duplicate")],
)  # fmt: skip
def test_bad_manifest_names_file_row_and_column(
    tmp_path: Path, rows: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(ECGFormatError, match=rf"manifest\.csv: {message}"):
        read_manifest(make_manifest(tmp_path / "manifest.csv", rows))


def test_text_columns_are_opt_in(tmp_path: Path) -> None:
    rows = [dict(ROWS[0], note="looks fine")]
    with pytest.raises(ECGFormatError, match="column 'note'"):
        read_manifest(make_manifest(tmp_path / "m.csv", rows))
    table = read_manifest(tmp_path / "m.csv", text_columns=["note"])
    assert table["note"][0] == "looks fine"


def test_only_the_named_numeric_columns_must_be_numbers(tmp_path: Path) -> None:
    rows = [dict(ROWS[0], diagnosis="sinus rhythm", mi=1), dict(ROWS[1], diagnosis="", mi="")]
    path = make_manifest(tmp_path / "m.csv", rows)
    table = read_manifest(path, numeric_columns=["mi"])
    assert list(table["diagnosis"]) == ["sinus rhythm", ""]
    assert table["mi"][0] == 1.0 and np.isnan(table["mi"][1])
    assert table["lvef"][0] == "35"  # not named: kept as text
    bad = make_manifest(tmp_path / "bad.csv", [dict(ROWS[0], mi="yes")])
    with pytest.raises(ECGFormatError, match=r"row 1 \(line 2\), column 'mi': expected a number"):
        read_manifest(bad, numeric_columns=["mi"])


@pytest.mark.parametrize("suffix", [".mat", ".hea", ""])
def test_cinc_mat_records_load_by_any_name(tmp_path: Path, suffix: str) -> None:
    signal = synthetic_ecg(11, seconds=2)
    write_cinc_record(tmp_path / "cinc" / "E00001", signal, dx=["164865005"])
    rows = [{"record_id": "E00001", "patient_id": "1", "path": f"cinc/E00001{suffix}"}]
    table = read_manifest(make_manifest(tmp_path / "m.csv", rows))
    got = load_manifest_signal(table.iloc[0])
    assert got.leads == STANDARD_LEADS
    np.testing.assert_allclose(got.data, signal.data, atol=6e-4)


def test_bad_signal_entries(files: Path) -> None:
    with pytest.raises(ECGFormatError, match=r"c\.npy: \.npy signals need an 'fs' column"):
        load_manifest_signal({"path": str(files / "ecgs" / "c.npy")})
    with pytest.raises(ECGFormatError, match=r"d\.npy: expected a numeric \(12 leads x samples\)"):
        load_manifest_signal({"path": str(files / "ecgs" / "d.npy"), "fs": 500.0})
    (files / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(ECGFormatError, match=r"junk\.npy: not a readable \.npy array"):
        load_manifest_signal({"path": str(files / "junk.npy"), "fs": 500.0})
    with pytest.raises(ECGFormatError, match=r"x\.edf: unsupported signal file type '\.edf'"):
        load_manifest_signal({"path": str(files / "x.edf")})
    with pytest.raises(ECGFormatError, match="manifest file not found"):
        read_manifest(files / "none.csv")
