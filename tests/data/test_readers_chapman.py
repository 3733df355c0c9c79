"""Chapman-Shaoxing-Ningbo source on a folder written in its published layout
(tests/data/fixtures_physionet.py): exact values, labels by the condition table's acronyms,
one-line errors, and ``chapman-rhythm`` through ``bench data describe`` and ``bench run``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bench.tasks.chapman import LABELS, NAME, rhythm_rule
from click.testing import CliRunner

from bench.api import STANDARD_LEADS, CohortError, ECGFormatError, chapman_loader, column_rule
from tests.data.fixtures_physionet import Written, make_chapman_dir

load = chapman_loader(NAME, rhythm_rule, LABELS)


@pytest.fixture(scope="module")
def chapman(tmp_path_factory: pytest.TempPathFactory) -> Written:
    return make_chapman_dir(tmp_path_factory.mktemp("chapman"), n_records=110)


def _one_line(error: pytest.ExceptionInfo[BaseException], *parts: str) -> None:
    text = str(error.value)
    assert "\n" not in text
    for part in parts:
        assert part in text, text


def test_signals_decode_exactly(chapman: Written) -> None:
    cohort = load({"path": str(chapman.root)})
    for record_id in ("JS00001", "JS00050", "JS00101", "JS00110"):
        signal = cohort.load_signal(record_id)
        assert signal.fs == 500.0 and signal.data.shape == (12, 5000)
        for lead in STANDARD_LEADS:  # by name: the header's order is the reader's business
            written = chapman.signals[record_id][STANDARD_LEADS.index(lead)]
            np.testing.assert_allclose(signal.lead(lead), written, rtol=0, atol=1e-6)


def test_labels_by_acronym_from_the_condition_table(chapman: Written) -> None:
    cohort = load({"path": str(chapman.root)})
    m = cohort.manifest.set_index("record_id")
    assert cohort.n_records == cohort.n_patients == 110
    assert cohort.notes["unlabelled"] == 1 and "JS09999" not in m.index  # no Dx code
    got = {r: {a: int(m.loc[r, f"label:{a}"]) for a in LABELS} for r in m.index}
    assert got == chapman.labels
    assert set(m["site"]) == {"chapman"} and m.loc["JS00002", "sex"] == "Male"
    assert m.loc["JS00001", "dx:RBBB"] == 1 and m.loc["JS00002", "dx:RBBB"] == 0


def test_a_binary_task_reads_one_acronym(chapman: Written) -> None:
    cohort = chapman_loader("afib", column_rule("dx:AFIB"))({"path": str(chapman.root)})
    positives = {r for r, v in chapman.labels.items() if v["AFIB"]}
    assert set(cohort.manifest.loc[cohort.manifest["label"] == 1, "record_id"]) == positives


def test_codes_follow_the_users_condition_table(chapman: Written, tmp_path: Path) -> None:
    from bench.data.readers.chapman import chapman_table

    root = tmp_path / "c"
    make_chapman_dir(root, n_records=6)
    table = pd.read_csv(root / "ConditionNames_SNOMED-CT.csv", dtype=str)
    table.loc[table["Acronym Name"] == "SB", "Snomed_CT"] = "426783006"  # SR's code
    table.to_csv(root / "ConditionNames_SNOMED-CT.csv", index=False)
    manifest = chapman_table(root).set_index("record_id")
    assert manifest["dx:SB"].equals(manifest["dx:SR"]) and manifest["dx:SR"].sum() == 1


def test_condition_table_errors_are_one_line(chapman: Written, tmp_path: Path) -> None:
    root = tmp_path / "c"
    make_chapman_dir(root, n_records=6)
    csv = root / "ConditionNames_SNOMED-CT.csv"
    table = pd.read_csv(csv, dtype=str)
    table.drop(columns=["Snomed_CT"]).to_csv(csv, index=False)
    with pytest.raises(ECGFormatError) as error:
        load({"path": str(root)})
    _one_line(error, str(csv), "missing column 'Snomed_CT'")

    bad = table.copy()
    bad.loc[3, "Snomed_CT"] = "SB-code"
    bad.to_csv(csv, index=False)
    with pytest.raises(ECGFormatError) as error:
        load({"path": str(root)})
    _one_line(error, str(csv), "row 4, column 'Snomed_CT'", "'SB-code'")

    table[table["Acronym Name"] != "SVT"].to_csv(csv, index=False)
    with pytest.raises(CohortError) as error:
        load({"path": str(root)})
    _one_line(error, "ConditionNames_SNOMED-CT.csv", "['SVT']")


def test_one_record_name_in_two_folders_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "c"
    make_chapman_dir(root, n_records=3)
    copy = root / "WFDBRecords/02/020"
    copy.mkdir(parents=True)
    for suffix in (".hea", ".mat"):
        source = root / f"WFDBRecords/01/010/JS00002{suffix}"
        (copy / source.name).write_bytes(source.read_bytes())
    with pytest.raises(ECGFormatError) as error:
        load({"path": str(root)})
    _one_line(error, "WFDBRecords", "'JS00002' appears in two folders")


def test_directory_from_the_environment(chapman: Written, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_CHAPMAN_DIR", str(chapman.root))
    assert load({}).n_records == 110
    monkeypatch.delenv("BENCH_CHAPMAN_DIR")
    with pytest.raises(FileNotFoundError, match="BENCH_CHAPMAN_DIR"):
        load({})


def test_bench_data_describe_check(cli, chapman: Written) -> None:
    args = ["data", "describe", "--task", NAME, "--source", "chapman", "--source-option"]
    result = CliRunner().invoke(cli, [*args, f"chapman.path={chapman.root}", "--check"])
    assert result.exit_code == 0, result.output
    assert "110 usable" in " ".join(result.output.split())


def test_bench_run_resnet1d_end_to_end(cli, chapman: Written, tmp_path: Path) -> None:
    args = ["run", "-m", "resnet1d", "-t", NAME, "--source", "chapman", "--source-option"]
    args += [f"chapman.path={chapman.root}", "-p", "tiny", "-f", "1.0", "--no-external"]
    args += ["--output", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(cli, [*args, "--run-name", "chapman"])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "runs" / "chapman" / "results.jsonl").read_text().splitlines()
    auroc = next(r for r in map(json.loads, lines) if r["metric"] == "auroc")
    assert auroc["task_version"] == "chapman-rhythm-v1" and auroc["source"] == "chapman"
    assert set(auroc["details"]["per_label"]) == set(LABELS)
