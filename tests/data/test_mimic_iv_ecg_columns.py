"""MIMIC-IV-ECG's table columns built without a Python object per row (issue 30): the
duplicate-id check names the same row as a set walk in file order, the machine report is
the same string as the per-column concatenation it replaced, and a record id finds its
WFDB path by binary search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.data.readers.mimic_iv_ecg import (
    REPORT_COLUMNS,
    _unique,
    joined_statements,
    machine_measurements,
    record_paths,
)
from bench.data.signal import ECGFormatError
from tests.data.fixtures_physionet import make_mimic_iv_ecg_dir

CSV = Path("machine_measurements.csv")


def _first_repeat(ids: list[int]) -> str | None:
    """The reference: walk the ids in file order, remembering each in a set."""
    seen: set[int] = set()
    for row, value in enumerate(ids):
        if value in seen:
            return f"{CSV}: row {row + 1}, column 'study_id': {value} appears twice"
        seen.add(value)
    return None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1) | st.integers(0, 30), max_size=60))
def test_a_repeated_id_names_the_row_of_its_first_repeat_in_file_order(ids: list[int]) -> None:
    expected = _first_repeat(ids)
    if expected is None:
        _unique(np.array(ids, dtype=np.int64), "study_id", CSV)
        return
    with pytest.raises(ECGFormatError) as error:
        _unique(np.array(ids, dtype=np.int64), "study_id", CSV)
    assert str(error.value) == expected


def _old_report(columns: list[pd.Series]) -> list[str]:
    """The definition the pyarrow join replaced: per column, an object-dtype concatenation
    of the stripped statement, with "; " between two non-empty parts."""
    report = pd.Series("", index=columns[0].index, dtype=object)
    for column in columns:
        statement = column.str.strip().astype(object)
        both = ((report != "") & (statement != "")).to_numpy()
        report = report + np.where(both, "; ", "") + statement
    return report.tolist()


cells = st.text(
    alphabet=st.sampled_from(["a", "B", "é", " ", "\t", ";", "-", "\u00a0"]), max_size=6
)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6).flatmap(lambda n: st.lists(st.lists(cells, min_size=n, max_size=n), min_size=1, max_size=5)))  # fmt: skip
def test_the_report_join_gives_the_strings_of_the_old_definition(table: list[list[str]]) -> None:
    columns = [pd.Series(column, dtype="str") for column in zip(*table, strict=True)]
    joined = joined_statements(columns, len(table)).to_pylist()
    assert joined == _old_report(columns)


def test_machine_report_joins_stripped_non_empty_statements(tmp_path: Path) -> None:
    written = make_mimic_iv_ecg_dir(tmp_path / "mimic")
    csv = written.root / "machine_measurements.csv"
    measured = pd.read_csv(csv, dtype=str, keep_default_na=False)
    rows = [
        ["  Sinus rhythm ", "", "\tNormal ECG"],
        ["", "", ""],
        ["   ", "Atrial fibrillation", " "],
        ["", "", "Borderline ECG  "],
    ]
    measured[list(REPORT_COLUMNS)] = ""
    for row, statements in enumerate(rows):
        for column, statement in zip(REPORT_COLUMNS, statements, strict=False):
            measured.loc[row, column] = statement
    measured.to_csv(csv, index=False)
    report = machine_measurements(written.root)["machine_report"]
    read = pd.read_csv(csv, dtype=str, keep_default_na=False)
    assert report.tolist() == _old_report([read[c] for c in REPORT_COLUMNS])
    assert report.tolist()[: len(rows)] == [
        "Sinus rhythm; Normal ECG",
        "",
        "Atrial fibrillation",
        "Borderline ECG",
    ]
    assert str(report.dtype) == "str"


def test_a_record_id_finds_its_path_and_an_unknown_id_is_a_key_error() -> None:
    manifest = pd.DataFrame(
        {"study_id": [40000012, 40000003, 7], "path": ["/d/b", "/d/a", "/d/c"]}
    ).assign(record_id=lambda m: m["study_id"].astype(str))
    path_of = record_paths(manifest)
    assert [path_of(r) for r in manifest["record_id"]] == ["/d/b", "/d/a", "/d/c"]
    for unknown in ("40000004", "+7", "07", " 7", "7.0", "x", "", "1" * 30, "-7"):
        with pytest.raises(KeyError):
            path_of(unknown)


def test_measurements_read_in_pieces_equal_the_whole_and_name_file_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.data.readers import mimic_iv_ecg

    root = make_mimic_iv_ecg_dir(tmp_path / "mimic").root
    monkeypatch.setattr(mimic_iv_ecg, "MEASUREMENT_ROWS", 0)  # the whole file at once
    whole = machine_measurements(root)
    monkeypatch.setattr(mimic_iv_ecg, "MEASUREMENT_ROWS", 5)
    pd.testing.assert_frame_equal(machine_measurements(root), whole, check_exact=True)
    csv = root / "machine_measurements.csv"
    cells = pd.read_csv(csv, dtype=str, keep_default_na=False)
    assert len(cells) > 15
    cells.loc[13, "qrs_end"] = "late"  # third piece
    cells.to_csv(csv, index=False)
    with pytest.raises(ECGFormatError, match=r"row 14, column 'qrs_end': .*'late'"):
        machine_measurements(root)
    cells.loc[13, "qrs_end"] = "100"
    cells.loc[12, "study_id"] = cells.loc[1, "study_id"]  # a repeat across pieces
    cells.to_csv(csv, index=False)
    with pytest.raises(ECGFormatError, match=r"row 13, column 'study_id': \d+ appears twice"):
        machine_measurements(root)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(10**18) + 1, 10**18 - 1), min_size=1, max_size=30))
def test_ids_are_parsed_exactly_beyond_float64s_integers(ids: list[int]) -> None:
    """Every id of up to 18 digits comes back exactly, including those above 2**53 that a
    float64 would round (9007199254740993 read through float64 is ...992)."""
    from bench.data.readers.mimic_iv_ecg import _integers

    table = pd.DataFrame({"study_id": [f" {i} " for i in ids]}, dtype="str")
    assert _integers(table, "study_id", CSV).tolist() == ids


@pytest.mark.parametrize("cell", ["7.0", "1e3", "x", "", "1" * 19, "7 7"])
def test_a_cell_that_is_not_a_plain_integer_names_its_row(cell: str) -> None:
    from bench.data.readers.mimic_iv_ecg import _integers

    table = pd.DataFrame({"study_id": ["40000003", cell]}, dtype="str")
    got = repr(cell) if cell else "an empty cell"
    message = rf"{CSV}: row 2, column 'study_id': expected an integer, got {got}$"
    with pytest.raises(ECGFormatError, match=message.replace(".", r"\.")):
        _integers(table, "study_id", CSV)
