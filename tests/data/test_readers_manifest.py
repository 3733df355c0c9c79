"""Generic manifest CSVs: validation messages and signal loading by extension."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.data.readers import load_manifest_signal, read_manifest
from bench.data.signal import STANDARD_LEADS, ECGFormatError

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


@pytest.mark.parametrize(("column", "row"), [("record_id", 1), ("patient_id", 2), ("path", 0)])
def test_an_empty_required_value_names_its_row_line_and_column(
    tmp_path: Path, column: str, row: int
) -> None:
    """Data row ``row + 1`` is CSV line ``row + 2`` (the header is line 1)."""
    rows = [dict(ROWS[0], record_id=f"r{k}") for k in range(3)]
    rows[row][column] = "   "  # blank after stripping
    path = make_manifest(tmp_path / "manifest.csv", rows)
    with pytest.raises(
        ECGFormatError,
        match=rf"manifest\.csv: row {row + 1} \(line {row + 2}\), column '{column}': empty value$",
    ):
        read_manifest(path)


def test_duplicate_record_id_names_the_second_row_and_the_id(tmp_path: Path) -> None:
    rows = [dict(ROWS[0], record_id=r) for r in ("x", "y", "z", "y")]
    path = make_manifest(tmp_path / "manifest.csv", rows)
    message = r"manifest\.csv: row 4 \(line 5\), column 'record_id': duplicate record_id 'y'$"
    with pytest.raises(ECGFormatError, match=message):
        read_manifest(path)


def test_header_and_cells_are_stripped_and_site_defaults_to_unknown(tmp_path: Path) -> None:
    """Spaces around header names and cells are ignored; without a site column every row's
    site is "unknown"; a relative CSV path still gives absolute signal paths."""
    (tmp_path / "m.csv").write_text(" record_id , patient_id ,path, lvef\n  a ,  p1 , ecgs/a ,35\n")
    table = read_manifest(tmp_path / "m.csv")
    assert (table["record_id"][0], table["patient_id"][0]) == ("a", "p1")
    assert table["path"][0] == str((tmp_path / "ecgs" / "a").resolve())
    assert list(table["site"]) == ["unknown"]
    assert table["lvef"].dtype == np.float64 and table["lvef"][0] == 35.0


def test_a_relative_manifest_path_gives_absolute_signal_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_manifest(tmp_path / "sub" / "m.csv", [ROWS[0]])
    monkeypatch.chdir(tmp_path)
    table = read_manifest(Path("sub") / "m.csv")
    assert table["path"][0] == str(tmp_path.resolve() / "sub" / "ecgs" / "a")


def test_fs_is_numeric_even_when_other_numeric_columns_are_named(tmp_path: Path) -> None:
    path = make_manifest(tmp_path / "m.csv", [dict(ROWS[3], lvef="x")])
    table = read_manifest(path, numeric_columns=[])
    assert table["fs"][0] == 500.0 and table["fs"].dtype == np.float64
    assert table["lvef"][0] == "x"
    bad = make_manifest(tmp_path / "bad.csv", [dict(ROWS[3], fs="fast")])
    with pytest.raises(ECGFormatError, match=r"bad\.csv: row 1 \(line 2\), column 'fs': expected a number, got 'fast'$"):  # fmt: skip
        read_manifest(bad, numeric_columns=[])


def test_an_undecodable_manifest_is_named(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"record_id,patient_id,path\n\xff\xfe\xfa,1,x\n")
    with pytest.raises(ECGFormatError, match=r"m\.csv: not a readable CSV \("):
        read_manifest(path)


def test_npy_leads_may_be_separated_by_semicolons_and_data_becomes_float32(
    tmp_path: Path,
) -> None:
    data = np.arange(6, dtype=np.int16).reshape(2, 3)
    np.save(tmp_path / "x.npy", data)
    got = load_manifest_signal({"path": str(tmp_path / "x.npy"), "fs": "250", "leads": "V1; aVL"})
    assert got.leads == ("V1", "aVL")
    assert got.fs == 250.0 and isinstance(got.fs, float)
    assert got.data.dtype == np.float32
    np.testing.assert_array_equal(got.data, [[0, 1, 2], [3, 4, 5]])


@pytest.mark.parametrize(
    ("array", "row", "got"),
    [(np.zeros(3), {"leads": "I"}, r"float64 \(3,\)"),
     (np.zeros((2, 3)), {"leads": "I"}, r"float64 \(2, 3\)"),
     (np.array([["a", "b"]]), {"leads": "I"}, r"<U1 \(1, 2\)"),
     (np.zeros((2, 3)), {"leads": ""}, r"float64 \(2, 3\)")],
)  # fmt: skip
def test_npy_arrays_of_the_wrong_shape_or_type_are_named(
    tmp_path: Path, array: np.ndarray, row: dict[str, str], got: str
) -> None:
    """One named lead wants a (1, samples) numeric array; no ``leads`` wants 12 rows."""
    np.save(tmp_path / "x.npy", array)
    n = 1 if row["leads"] else 12
    message = rf"x\.npy: expected a numeric \({n} leads x samples\) array, got {got}$"
    with pytest.raises(ECGFormatError, match=message):
        load_manifest_signal({"path": str(tmp_path / "x.npy"), "fs": 500.0, **row})


def test_npy_with_an_empty_fs_cell_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((12, 4)))
    message = r"x\.npy: \.npy signals need an 'fs' column in the manifest$"
    with pytest.raises(ECGFormatError, match=message):
        load_manifest_signal({"path": str(tmp_path / "x.npy"), "fs": float("nan")})


def test_signal_files_lists_a_records_existing_files_or_the_file_itself(tmp_path: Path) -> None:
    from bench.data.readers.manifest import signal_files

    for name in ("r.hea", "r.dat", "m.hea", "m.mat"):
        (tmp_path / name).write_text("")
    both = [tmp_path / "r.hea", tmp_path / "r.dat"]
    for given in ("r", "r.hea", "r.dat", "r.DAT", "r.mat"):
        assert signal_files(tmp_path / given) == both
    assert signal_files(str(tmp_path / "m")) == [tmp_path / "m.hea", tmp_path / "m.mat"]
    assert signal_files(tmp_path / "e.XML") == [tmp_path / "e.XML"]
    assert signal_files(tmp_path / "absent.npy") == [tmp_path / "absent.npy"]


def test_signal_files_of_a_record_whose_name_holds_a_dot(tmp_path: Path) -> None:
    """``JS00001.v2.hea`` is record ``JS00001.v2``, not ``JS00001``, whose files sit beside
    it and must not be listed instead."""
    from bench.data.readers.manifest import signal_files

    for name in ("JS00001.v2.hea", "JS00001.v2.mat", "JS00001.hea", "JS00001.dat"):
        (tmp_path / name).write_text("")
    record = [tmp_path / "JS00001.v2.hea", tmp_path / "JS00001.v2.mat"]
    assert signal_files(tmp_path / "JS00001.v2.hea") == record
    assert signal_files(tmp_path / "JS00001.v2.MAT") == record


def test_signal_type_is_chosen_by_extension_in_any_case(files: Path) -> None:
    (files / "ecgs" / "b.xml").rename(files / "ecgs" / "B.XML")
    (files / "ecgs" / "c.npy").rename(files / "ecgs" / "C.NPY")
    muse = load_manifest_signal({"path": str(files / "ecgs" / "B.XML")})
    assert muse.leads == STANDARD_LEADS and muse.n_samples == 1000
    array = load_manifest_signal({"path": str(files / "ecgs" / "C.NPY"), "fs": 250})
    np.testing.assert_array_equal(array.data, synthetic_ecg(3, fs=250, seconds=2).data)
    record = load_manifest_signal({"path": str(files / "ecgs" / "a.HEA")})
    assert record.n_samples == 1000
    message = r"x\.EDF: unsupported signal file type '\.edf'; use WFDB \(\.hea/\.dat/\.mat\), \.xml or \.npy$"
    with pytest.raises(ECGFormatError, match=message):
        load_manifest_signal({"path": str(files / "x.EDF")})


def test_npy_lead_name_errors_name_the_file(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((2, 3)))
    with pytest.raises(ECGFormatError, match=r"x\.npy: lead 'I' appears twice \(as 'i'\)$"):
        load_manifest_signal({"path": str(tmp_path / "x.npy"), "fs": 500.0, "leads": "I;i"})
