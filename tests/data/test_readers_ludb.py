"""LUDB: locating the folder, the table, signals and fiducials (the full set where present,
else the committed subset)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb

from bench.data.readers import (
    ludb_diagnosis_contains,
    ludb_table,
    read_ludb_fiducials,
    read_ludb_signal,
    resolve_ludb_dir,
)
from bench.data.readers.ludb import DIAGNOSIS_COLUMNS
from bench.data.signal import STANDARD_LEADS, ECGFormatError
from tests.conftest import LudbFacts


def test_resolve_prefers_flag_then_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flag, env = tmp_path / "flag", tmp_path / "env"
    for folder in (flag, env):
        folder.mkdir()
        (folder / "ludb.csv").write_text("ID\n")
    monkeypatch.setenv("BENCH_LUDB_DIR", str(env))
    assert resolve_ludb_dir(str(flag)) == flag
    assert resolve_ludb_dir(None) == env


def test_resolve_missing_says_what_to_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_LUDB_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError) as info:
        resolve_ludb_dir(None)
    message = str(info.value)
    for needle in ("nowhere", "LUDB 1.0.1", "https://physionet.org/content/ludb/1.0.1/",
                   "BENCH_LUDB_DIR", "--source-option ludb.path=DIR"):  # fmt: skip
        assert needle in message
    assert "nowhere (from $BENCH_LUDB_DIR) does not exist" in message


def test_resolve_says_whether_the_folder_exists(tmp_path: Path) -> None:
    """A missing folder is not reported as a folder without ludb.csv, nor is a file."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("")
    for name, reason in [("empty", "has no ludb.csv"), ("file", "is not a folder"),
                         ("gone", "does not exist")]:  # fmt: skip
        with pytest.raises(
            FileNotFoundError, match=f"{name} \\(from the command-line flag\\) {reason}"
        ):
            resolve_ludb_dir(tmp_path / name)


def test_fiducials_from_a_written_annotation_file(tmp_path: Path) -> None:
    """A beat without a T wave gets NaN; a QRS without an onset is dropped."""
    (tmp_path / "data").mkdir()
    symbols = ["(", "N", ")", "(", "t", ")", "(", "N", ")", "N", ")", "(", "N", ")", "(", "t", ")"]
    samples = [100, 120, 150, 250, 300, 350, 500, 520, 545, 900, 930, 1300, 1320, 1350, 1450,
               1500, 1560]  # fmt: skip
    wfdb.wrann("7", "ii", np.array(samples), symbol=symbols, fs=500,
               write_dir=str(tmp_path / "data"))  # fmt: skip
    fid = read_ludb_fiducials(tmp_path, "7", lead="II")
    assert fid.fs == 500
    np.testing.assert_array_equal(fid.qrs_onset, [100, 500, 1300])
    np.testing.assert_array_equal(fid.qrs_offset, [150, 545, 1350])
    np.testing.assert_array_equal(fid.t_onset, [250, np.nan, 1450])
    np.testing.assert_array_equal(fid.t_offset, [350, np.nan, 1560])
    assert len(fid.windows("st")) == 2
    with pytest.raises(ECGFormatError, match=r"7\.v1: LUDB annotation file not found"):
        read_ludb_fiducials(tmp_path, "7", lead="v1")
    with pytest.raises(ValueError, match="unknown LUDB lead 'x'"):
        read_ludb_fiducials(tmp_path, "7", lead="x")


def test_missing_column_is_named(tmp_path: Path) -> None:
    (tmp_path / "ludb.csv").write_text("ID,Sex,Age\n1,F,50\n")
    with pytest.raises(ECGFormatError, match=r"ludb\.csv: missing column\(s\) \['Rhythms'"):
        ludb_table(tmp_path)


@pytest.mark.ludb
def test_table_has_its_subjects_with_diagnoses(ludb_dir: Path, ludb_facts: LudbFacts) -> None:
    """200 subjects in the full set (its README's counts), 20 in the committed subset."""
    table = ludb_table(ludb_dir)
    assert len(table) == ludb_facts.subjects
    assert table["record_id"].is_unique
    assert (table["patient_id"] == table["record_id"]).all()
    assert set(table["site"]) == {"ludb"}
    assert set(table["sex"]) == {"F", "M"}
    assert (table["sex"] == "M").sum() == ludb_facts.men
    lvh = ludb_diagnosis_contains(table, "Hypertrophies", "Left ventricular hypertrophy")
    assert lvh.sum() == ludb_facts.lvh
    assert ludb_diagnosis_contains(table, "all", "Stemi:").sum() == ludb_facts.stemi
    assert ludb_diagnosis_contains(table, "all", "stemi:", case=False).sum() >= ludb_facts.stemi
    af = ludb_diagnosis_contains(table, "Rhythms", "Atrial fibrillation")
    assert af.sum() == ludb_facts.atrial_fibrillation
    with pytest.raises(KeyError, match="unknown LUDB diagnosis column 'Nope'"):
        ludb_diagnosis_contains(table, "Nope", "x")
    assert all(table[c].map(type).eq(str).all() for c in DIAGNOSIS_COLUMNS)


@pytest.mark.ludb
def test_every_record_is_12_leads_5000_samples_at_500hz(ludb_dir: Path) -> None:
    for record_id in ludb_table(ludb_dir)["record_id"]:
        signal = read_ludb_signal(ludb_dir, record_id)
        assert signal.leads == STANDARD_LEADS
        assert signal.fs == 500.0
        assert signal.data.shape == (12, 5000)
        assert np.isfinite(signal.data).all()
        # millivolts, not microvolts or volts: a QRS of a few tenths to a few mV
        assert 0.2 < np.ptp(signal.lead("II")) < 20


@pytest.mark.ludb
def test_fiducials_are_plausible(ludb_dir: Path) -> None:
    medians, n_without_beats = [], 0
    for record_id in ludb_table(ludb_dir)["record_id"]:
        fid = read_ludb_fiducials(ludb_dir, record_id)
        if fid.n_beats == 0:
            n_without_beats += 1
            continue
        qrs_ms = (fid.qrs_offset - fid.qrs_onset) / fid.fs * 1000
        medians.append(np.median(qrs_ms))
        assert np.all(np.diff(fid.qrs_onset) > 0)
        has_t = ~np.isnan(fid.t_onset)
        assert np.all(fid.t_onset[has_t] > fid.qrs_offset[has_t])
        assert np.all(fid.t_offset[has_t] > fid.t_onset[has_t])
    assert n_without_beats <= 2  # a paced record has QRS peaks without annotated onsets
    assert min(medians) >= 60 and max(medians) <= 200


def test_resolve_falls_back_to_the_default_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a flag or $BENCH_LUDB_DIR the folder beside the repository is used."""
    from bench.data.readers import ludb

    (tmp_path / "ludb.csv").write_text("ID\n")
    monkeypatch.delenv("BENCH_LUDB_DIR", raising=False)
    monkeypatch.setattr(ludb, "DEFAULT_DIR", tmp_path)
    assert resolve_ludb_dir(None) == tmp_path


def _ludb_csv(root: Path, rows: list[dict[str, str]]) -> Path:
    """``root/ludb.csv`` in the published layout: ID, Sex, Age and the diagnosis columns
    (empty unless given)."""
    header = ["ID", "Sex", "Age", *DIAGNOSIS_COLUMNS]
    lines = [",".join(header)]
    for row in rows:
        lines.append(",".join(f'"{row.get(c, "")}"' for c in header))
    (root / "ludb.csv").write_text("\n".join(lines) + "\n")
    return root


def test_table_from_the_published_layout_strips_cells_and_keeps_age_as_text(
    tmp_path: Path,
) -> None:
    rows = [{"ID": " 3 ", "Sex": "M ", "Age": " >89", "Hypertrophies": "Left ventricular hypertrophy"},
            {"ID": "12", "Sex": "F", "Age": "NA", "Rhythms": "Sinus rhythm.\nSinus arrhythmia."}]  # fmt: skip
    table = ludb_table(_ludb_csv(tmp_path, rows))
    assert list(table["record_id"]) == ["3", "12"]
    assert list(table["sex"]) == ["M", "F"]
    assert list(table["age"]) == [">89", "NA"]
    assert list(table["path"]) == [str(tmp_path / "data" / "3"), str(tmp_path / "data" / "12")]
    assert list(table["Hypertrophies"]) == ["Left ventricular hypertrophy", ""]


def test_diagnosis_search_is_a_plain_substring_not_a_regex(tmp_path: Path) -> None:
    rows = [{"ID": "1", "Rhythms": "Sinus rhythm."}, {"ID": "2", "Rhythms": "Sinus rhythm"},
            {"ID": "3", "Other states": "Sinus-rhythm."}]  # fmt: skip
    table = ludb_table(_ludb_csv(tmp_path, rows))
    assert list(ludb_diagnosis_contains(table, "Rhythms", "rhythm.")) == [True, False, False]
    assert list(ludb_diagnosis_contains(table, "all", "Sinus.rhythm")) == [False, False, False]
    assert list(ludb_diagnosis_contains(table, "all", "SINUS", case=False)) == [True, True, True]


def _annotations(root: Path, symbols: list[str], fs: int | None = 500) -> Path:
    """``root/data/7.ii``, a LUDB annotation file with ``symbols`` 10 samples apart."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    samples = np.arange(1, len(symbols) + 1) * 10
    wfdb.wrann("7", "ii", samples, symbol=symbols, fs=fs, write_dir=str(root / "data"))
    return root


def test_each_beat_takes_the_t_wave_before_the_next_qrs(tmp_path: Path) -> None:
    """Beat 2 has no T wave of its own: it must not borrow beat 3's."""
    root = _annotations(tmp_path, ["(", "N", ")", "(", "t", ")", "(", "N", ")",
                                   "(", "N", ")", "(", "t", ")"])  # fmt: skip
    fid = read_ludb_fiducials(root, "7")
    np.testing.assert_array_equal(fid.qrs_onset, [10, 70, 100])
    np.testing.assert_array_equal(fid.t_onset, [40, np.nan, 130])
    np.testing.assert_array_equal(fid.t_offset, [60, np.nan, 150])


def test_every_beat_with_a_t_wave_keeps_it(tmp_path: Path) -> None:
    root = _annotations(tmp_path, ["(", "N", ")", "(", "t", ")"] * 3)
    fid = read_ludb_fiducials(root, "7", lead=" II ")
    np.testing.assert_array_equal(fid.qrs_offset, [30, 90, 150])
    np.testing.assert_array_equal(fid.t_onset, [40, 100, 160])


def test_a_qrs_at_either_end_of_the_file_has_no_bounds_and_is_left_out(tmp_path: Path) -> None:
    """The first annotation cannot have an onset before it (not even the file's last "("),
    nor the last an offset after it."""
    head = _annotations(tmp_path / "head", ["N", ")", "(", "N", ")", "(", "t", ")", "("])
    fid = read_ludb_fiducials(head, "7")
    np.testing.assert_array_equal(fid.qrs_onset, [30])
    np.testing.assert_array_equal(fid.t_offset, [80])
    tail = _annotations(tmp_path / "tail", ["(", "N", ")", "(", "N"])
    np.testing.assert_array_equal(read_ludb_fiducials(tail, "7").qrs_offset, [30])


def test_fs_comes_from_the_header_when_the_annotation_file_has_none(tmp_path: Path) -> None:
    root = _annotations(tmp_path, ["(", "N", ")"], fs=None)
    wfdb.wrsamp("7", fs=250, units=["mV"], sig_name=["ii"], p_signal=np.zeros((50, 1)),
                fmt=["16"], write_dir=str(root / "data"))  # fmt: skip
    assert read_ludb_fiducials(root, "7").fs == 250.0


def test_without_fs_in_the_annotation_file_or_a_header_the_header_is_named(
    tmp_path: Path,
) -> None:
    root = _annotations(tmp_path, ["(", "N", ")"], fs=None)
    message = r"data/7\.ii: unreadable annotation file \(.*data/7\.hea"
    with pytest.raises(ECGFormatError, match=message):
        read_ludb_fiducials(root, "7")


def test_an_unreadable_annotation_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "7.ii").write_bytes(b"\x01")
    with pytest.raises(ECGFormatError, match=r"data/7\.ii: unreadable annotation file \("):
        read_ludb_fiducials(tmp_path, "7")
