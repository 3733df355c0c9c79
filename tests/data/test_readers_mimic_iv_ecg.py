"""MIMIC-IV-ECG source on a folder written in its published layout
(tests/data/fixtures_physionet.py): exact values by lead name (the headers list aVF before
aVL), machine measurements joined per study, one-line errors, the table built from
record_list.csv without walking the tree, and ``mimic-iv-ecg-af`` through ``bench data
describe`` and ``bench run``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bench.tasks.mimic_iv_ecg import NAME, af_rule
from click.testing import CliRunner

from bench.api import STANDARD_LEADS, ECGFormatError, mimic_iv_ecg_loader
from tests.data.fixtures_physionet import (
    MIMIC_ORDER,
    Written,
    make_mimic_iv_ecg_dir,
    write_mimic_record,
)

load = mimic_iv_ecg_loader(NAME, af_rule)


@pytest.fixture(scope="module")
def mimic(tmp_path_factory: pytest.TempPathFactory) -> Written:
    return make_mimic_iv_ecg_dir(tmp_path_factory.mktemp("mimic"))


def _one_line(error: pytest.ExceptionInfo[BaseException], *parts: str) -> None:
    text = str(error.value)
    assert "\n" not in text
    for part in parts:
        assert part in text, text


def test_signals_decode_exactly_in_standard_lead_order(mimic: Written) -> None:
    cohort = load({"path": str(mimic.root)})
    for record_id in mimic.labels:  # the records the task keeps
        signal, written = cohort.load_signal(record_id), mimic.signals[record_id]
        assert signal.leads == STANDARD_LEADS and signal.fs == 500.0 and signal.units == "mV"
        assert signal.data.shape == (12, 5000)
        np.testing.assert_allclose(signal.data, written, rtol=0, atol=1e-6)


def test_avf_before_avl_in_the_header_is_read_by_name(tmp_path: Path) -> None:
    from bench.data.readers.mimic_iv_ecg import read_mimic_iv_ecg_signal

    level = {lead: 0.1 * (i + 1) for i, lead in enumerate(MIMIC_ORDER)}  # 0.5 = aVF, 0.6 = aVL
    data = np.stack([np.full(500, level[lead]) for lead in MIMIC_ORDER])
    record = tmp_path / "files/p1000/p10000032/s40000001/40000001"
    write_mimic_record(record, data, MIMIC_ORDER)
    assert "0 aVF" in record.with_suffix(".hea").read_text().splitlines()[5]
    signal = read_mimic_iv_ecg_signal(record)
    assert signal.leads == STANDARD_LEADS
    for lead in STANDARD_LEADS:
        np.testing.assert_allclose(signal.lead(lead), level[lead], rtol=0, atol=1e-6)
    assert signal.lead("aVF")[0] == pytest.approx(0.5) and signal.lead("aVL")[0] == pytest.approx(
        0.6
    )


def test_a_header_without_a_standard_lead_is_an_error(tmp_path: Path) -> None:
    from bench.data.readers.mimic_iv_ecg import read_mimic_iv_ecg_signal

    names = (*MIMIC_ORDER[:11], "vx")
    record = tmp_path / "s1/1"
    write_mimic_record(record, np.zeros((12, 500)), names)
    with pytest.raises(ECGFormatError) as error:
        read_mimic_iv_ecg_signal(record)
    _one_line(error, str(record), "['V6'] missing")


def test_manifest_joins_machine_measurements_per_study(mimic: Written) -> None:
    cohort = load({"path": str(mimic.root)})
    m = cohort.manifest.set_index("record_id")
    assert cohort.n_records == len(mimic.labels) == 23 and cohort.n_patients == 12
    assert cohort.notes["unlabelled"] == 1  # the study without any report statement
    assert {r: int(m.loc[r, "label"]) for r in m.index} == {
        r: v["af"] for r, v in mimic.labels.items()
    }
    assert set(m["site"]) == {"bidmc"}
    raw = pd.read_csv(mimic.root / "machine_measurements.csv").set_index("study_id")
    raw.index = raw.index.astype(str)
    rows = raw.loc[m.index]
    np.testing.assert_array_equal(m["qrs_duration_ms"], rows["qrs_end"] - rows["qrs_onset"])
    np.testing.assert_array_equal(m["qt_ms"], rows["t_end"] - rows["qrs_onset"])
    np.testing.assert_allclose(m["heart_rate_bpm"], 60000 / rows["rr_interval"], rtol=1e-12)
    first = m.iloc[0]
    assert first["machine_report"].startswith("Atrial fibrillation with rapid")
    assert m.loc["40689259", "label"] == 1  # its report is in upper case


def test_the_study_without_report_keeps_nan_measurements(mimic: Written) -> None:
    from bench.data.readers.mimic_iv_ecg import mimic_iv_ecg_table

    table = mimic_iv_ecg_table(mimic.root).set_index("record_id")
    last = table.iloc[-1]
    assert last["machine_report"] == "" and np.isnan(last["heart_rate_bpm"])
    assert last["qrs_duration_ms"] == last["qrs_end"] - last["qrs_onset"]


def test_the_table_never_walks_the_record_tree(
    mimic: Written, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("walked the tree")

    monkeypatch.setattr(Path, "rglob", refuse)
    monkeypatch.setattr(Path, "glob", refuse)
    monkeypatch.setattr(os, "walk", refuse)
    monkeypatch.setattr(os, "scandir", refuse)
    assert load({"path": str(mimic.root)}).n_records == 23


def _copy(mimic: Written, tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    root.mkdir(parents=True)
    for name in ("record_list.csv", "machine_measurements.csv"):
        (root / name).write_text((mimic.root / name).read_text())
    return root


def test_malformed_tables_are_one_line_errors(mimic: Written, tmp_path: Path) -> None:
    root = _copy(mimic, tmp_path)
    records = pd.read_csv(root / "record_list.csv", dtype=str)
    records.drop(columns=["path"]).to_csv(root / "record_list.csv", index=False)
    with pytest.raises(ECGFormatError) as error:
        load({"path": str(root)})
    _one_line(error, str(root / "record_list.csv"), "missing column 'path'")

    records.loc[2, "study_id"] = "4068x"
    records.to_csv(root / "record_list.csv", index=False)
    with pytest.raises(ECGFormatError) as error:
        load({"path": str(root)})
    _one_line(error, "record_list.csv", "row 3, column 'study_id'", "'4068x'")

    records.loc[2, "study_id"] = records.loc[1, "study_id"]
    records.to_csv(root / "record_list.csv", index=False)
    with pytest.raises(ECGFormatError) as error:
        load({"path": str(root)})
    _one_line(error, "record_list.csv", "row 3, column 'study_id'", "appears twice")

    root = _copy(mimic, tmp_path / "again")
    measured = pd.read_csv(root / "machine_measurements.csv", dtype=str, keep_default_na=False)
    measured.loc[4, "rr_interval"] = "fast"
    measured.to_csv(root / "machine_measurements.csv", index=False)
    with pytest.raises(ECGFormatError) as error:
        load({"path": str(root)})
    _one_line(error, "machine_measurements.csv", "row 5, column 'rr_interval'", "'fast'")


def test_a_missing_record_file_fails_the_record_naming_it(mimic: Written, tmp_path: Path) -> None:
    root = _copy(mimic, tmp_path)
    cohort = load({"path": str(root)})  # the table needs no waveform
    with pytest.raises(ECGFormatError) as error:
        cohort.load_signal(cohort.manifest["record_id"].iloc[0])
    _one_line(error, "40689238.hea", "not found")


def test_directory_from_the_environment(mimic: Written, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_MIMIC_IV_ECG_DIR", str(mimic.root))
    assert load({}).n_records == 23
    monkeypatch.delenv("BENCH_MIMIC_IV_ECG_DIR")
    with pytest.raises(FileNotFoundError, match="BENCH_MIMIC_IV_ECG_DIR"):
        load({})


def test_bench_data_describe_check(cli, mimic: Written) -> None:
    args = ["data", "describe", "--task", NAME, "--source", "mimic-iv-ecg", "--source-option"]
    result = CliRunner().invoke(cli, [*args, f"mimic-iv-ecg.path={mimic.root}", "--check"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "23 usable" in output and "1 record(s) left out" in output
    assert "no machine report statement" in output


def test_bench_run_resnet1d_end_to_end(cli, tmp_path: Path) -> None:
    root = make_mimic_iv_ecg_dir(tmp_path / "mimic", n_patients=40).root
    args = ["run", "-m", "resnet1d", "-t", NAME, "--source", "mimic-iv-ecg", "--source-option"]
    args += [f"mimic-iv-ecg.path={root}", "-p", "tiny", "-f", "1.0", "--no-external"]
    args += ["--output", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(cli, [*args, "--run-name", "mimic"])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "runs" / "mimic" / "results.jsonl").read_text().splitlines()
    auroc = next(r for r in map(json.loads, lines) if r["metric"] == "auroc")
    assert auroc["task_version"] == "mimic-iv-ecg-af-v1" and auroc["source"] == "mimic-iv-ecg"
    assert 0.0 <= auroc["value"] <= 1.0 and auroc["ci_low"] <= auroc["value"] <= auroc["ci_high"]
