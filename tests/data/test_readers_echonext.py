"""The EchoNext reader on a folder written in the published layout
(:mod:`tests.data.fixtures_echonext`): exact samples, the row mapping of interleaved splits,
and one-line errors naming file, field and expectation."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.data.readers.echonext import (
    echonext_table,
    read_echonext_signal,
    resolve_echonext_dir,
)
from bench.data.signal import STANDARD_LEADS, ECGFormatError
from tests.data.fixtures_echonext import EchoNextFixture, make_echonext_dir


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> EchoNextFixture:
    return make_echonext_dir(tmp_path_factory.mktemp("echonext"))


@pytest.fixture
def copy(release: EchoNextFixture, tmp_path: Path) -> Path:
    """A writable copy of the release, for breaking."""
    return Path(shutil.copytree(release.root, tmp_path / "echonext"))


def test_every_record_decodes_to_its_written_samples(release: EchoNextFixture) -> None:
    table = echonext_table(release.root)
    assert list(table["record_id"]) == list(release.metadata["ecg_key"].astype(str))
    for _, row in table.iterrows():
        written = release.waveforms[row["split"]]
        position = list(
            release.metadata.loc[release.metadata["split"] == row["split"], "ecg_key"].astype(str)
        ).index(row["record_id"])
        signal = read_echonext_signal(release.root, row["split"], int(row["row"]))
        assert signal.leads == STANDARD_LEADS and signal.fs == 250.0
        assert signal.units == "zscore" and signal.data.dtype == np.float32
        np.testing.assert_allclose(signal.data, written[position, 0].T, rtol=0, atol=1e-6)


def test_one_hand_written_sample_lands_on_its_lead_and_time(copy: Path) -> None:
    table = echonext_table(copy)
    path = copy / "EchoNext_test_waveforms.npy"
    array = np.load(path)
    array[2, 0, 1234, 7] = 3.25  # record 2 of test, sample 1234 of lead V2
    np.save(path, array)
    signal = read_echonext_signal(copy, "test", 2)
    assert signal.lead("V2")[1234] == pytest.approx(3.25, abs=1e-6)
    assert signal.data[:, 1234].tolist().count(np.float32(3.25)) == 1
    assert (table.loc[table["split"] == "test", "row"].tolist()) == list(range(6))


def test_harness_columns_keep_sex_age_and_measurements(release: EchoNextFixture) -> None:
    table = echonext_table(release.root)
    assert set(table["sex"]) == {"male", "female"}
    assert table["age"].tolist() == release.metadata["age_at_ecg"].tolist()
    assert set(table["site"]) == {"unknown"}
    assert {"qrs_duration", "race_ethnicity", "most_recent_ecg"} <= set(table.columns)


def _rewrite(root: Path, change) -> None:
    csv = root / "echonext_metadata_100k.csv"
    table = pd.read_csv(csv, dtype=str)
    change(table)
    table.to_csv(csv, index=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.pop("patient_key"), "missing column 'patient_key'"),
        (
            lambda t: t.__setitem__("split", t["split"].replace("val", "valid")),
            "column 'split': expected one of ['train', 'val', 'test', 'no_split'], got 'valid'",
        ),
        (
            lambda t: t.loc.__setitem__((3, "lvef_lte_45_flag"), "2"),
            "row 4, column 'lvef_lte_45_flag': expected 0 or 1, got '2'",
        ),
        (
            lambda t: t.loc.__setitem__((5, "ecg_key"), t.loc[4, "ecg_key"]),
            "row 6, column 'ecg_key'",
        ),
    ],
)
def test_bad_metadata_is_one_line_naming_file_and_field(copy: Path, change, message) -> None:
    _rewrite(copy, change)
    with pytest.raises(ECGFormatError) as info:
        echonext_table(copy)
    text = str(info.value)
    assert "\n" not in text and "echonext_metadata_100k.csv" in text and message in text


def test_a_waveform_array_of_the_wrong_shape_is_named(copy: Path) -> None:
    path = copy / "EchoNext_val_waveforms.npy"
    np.save(path, np.load(path)[:, 0])  # (N, 2500, 12): the singleton axis missing
    with pytest.raises(
        ECGFormatError, match=r"EchoNext_val_waveforms\.npy: expected shape"
    ) as info:
        read_echonext_signal(copy, "val", 0)
    assert "(N, 1, 2500, 12)" in str(info.value) and "\n" not in str(info.value)


def test_a_missing_or_truncated_array_is_named(copy: Path) -> None:
    (copy / "EchoNext_test_waveforms.npy").unlink()
    with pytest.raises(ECGFormatError, match=r"EchoNext_test_waveforms\.npy: waveform array not"):
        read_echonext_signal(copy, "test", 0)
    path = copy / "EchoNext_val_waveforms.npy"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ECGFormatError, match=r"EchoNext_val_waveforms\.npy: not a readable"):
        read_echonext_signal(copy, "val", 0)


def test_the_readme_spelling_of_the_metadata_is_accepted(
    release: EchoNextFixture, copy: Path
) -> None:
    (copy / "echonext_metadata_100k.csv").rename(copy / "EchoNext_metadata_100k.csv")
    assert len(echonext_table(resolve_echonext_dir(copy))) == len(release.metadata)


def test_a_folder_without_metadata_says_what_to_download(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("BENCH_ECHONEXT_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match=r"BENCH_ECHONEXT_DIR is not set\..*physionet"):
        resolve_echonext_dir(None)
    with pytest.raises(FileNotFoundError, match=r"no echonext_metadata_100k\.csv or"):
        resolve_echonext_dir(tmp_path)
