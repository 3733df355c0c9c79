"""Built-in tasks on every data source: label definitions, counts and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.data.cohort import CohortError
from bench.data.signal import ECGSignal
from bench.host.manager import PluginHost
from tests.data.fixtures import make_manifest, make_muse_xml, make_ptbxl_dir


@pytest.fixture(scope="module")
def tasks():
    h = PluginHost()
    h.load_default_plugins()
    return h.registries.tasks


def test_ludb_labels_match_the_database(tasks, ludb_dir, ludb_facts):
    options = {"path": str(ludb_dir)}
    stemi = tasks.get("stemi").loaders["ludb"](options)
    lvh = tasks.get("ludb-lvh").loaders["ludb"](options)
    expected = (ludb_facts.subjects, ludb_facts.stemi)
    assert (stemi.n_records, int(stemi.manifest["label"].sum())) == expected
    assert int(lvh.manifest["label"].sum()) == ludb_facts.lvh
    signal = lvh.load_signal(lvh.manifest["record_id"].iloc[0])
    assert signal.data.shape == (12, 5000) and signal.fs == 500
    assert lvh.fiducials is not None
    assert lvh.fiducials(lvh.manifest["record_id"].iloc[0]).n_beats > 3


def test_ptbxl_stemi_definitions(tasks, tmp_path):
    codes = [
        {"NORM": 100.0, "SR": 0.0},  # negative
        {"IMI": 100.0, "SR": 0.0},  # MI, acute stadium → positive
        {"AMI": 50.0},  # MI, old (stadium II) → excluded
        {"INJAS": 100.0},  # current of injury → positive
        {"LVH": 100.0},  # no MI statement → negative
        {"ASMI": 100.0},  # MI without stadium → excluded
    ]
    root = make_ptbxl_dir(tmp_path / "ptbxl", n_records=6, scp_codes_list=codes)
    table = pd.read_csv(root / "ptbxl_database.csv")
    table["infarction_stadium1"] = ["", "Stadium I-II", "Stadium II", "", "", ""]
    table.to_csv(root / "ptbxl_database.csv", index=False)
    load = tasks.get("ptbxl-stemi").loaders["ptbxl"]
    assert "ptbxl" not in tasks.get("stemi").loaders  # PTB-XL is the task ptbxl-stemi
    labels = load({"path": str(root)}).manifest.set_index("record_id")["label"].to_dict()
    assert labels == {"1": 0, "2": 1, "4": 1, "5": 0}
    any_mi_cohort = load({"path": str(root), "definition": "any-mi"})
    assert any_mi_cohort.notes["task_version"] == "ptbxl-stemi-v1:any-mi"
    any_mi = any_mi_cohort.manifest["label"].tolist()
    assert any_mi == [0, 1, 1, 1, 0, 1]
    injury = load({"path": str(root), "definition": "injury-only"}).manifest
    assert injury.set_index("record_id")["label"].to_dict() == {"1": 0, "4": 1, "5": 0}
    with pytest.raises(CohortError, match="unknown STEMI definition 'stemmi'"):
        load({"path": str(root), "definition": "stemmi"})
    # a likelihood threshold leaves out the statements below it: the 50 % AMI no longer
    # counts, so record 3 has no MI statement at all and becomes negative
    stated = load({"path": str(root), "min_likelihood": "60"})
    assert stated.notes["task_version"] == "ptbxl-stemi-v1:stemi-v1:min_likelihood=60"
    assert stated.manifest.set_index("record_id")["label"].to_dict() == {
        "1": 0, "2": 1, "3": 0, "4": 1, "5": 0
    }  # fmt: skip
    with pytest.raises(CohortError, match="min_likelihood must be a number, got 'x'"):
        load({"path": str(root), "min_likelihood": "x"})


def test_missing_ptbxl_says_what_to_download(tasks, tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_PTBXL_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="PTB-XL"):
        tasks.get("ptbxl-stemi").loaders["ptbxl"]({})


def _npy_manifest(tmp_path, lvef_values):
    rows = []
    for i, lvef in enumerate(lvef_values):
        path = tmp_path / f"r{i}.npy"
        np.save(path, np.random.default_rng(i).normal(0, 0.1, (12, 5000)).astype(np.float32))
        rows.append(
            {
                "record_id": f"r{i}",
                "patient_id": f"p{i // 2}",
                "path": path.name,
                "fs": 500,
                "site": "H1",
                "lvef": lvef,
                "hcm": i % 2,
            }
        )
    return make_manifest(tmp_path / "manifest.csv", rows)


def test_lvef_threshold_is_right_inclusive_and_configurable(tasks, tmp_path):
    path = _npy_manifest(tmp_path, [25.0, 40.0, 40.1, 60.0])
    load = tasks.get("lvef").loaders["manifest"]
    assert load({"path": str(path)}).manifest["label"].tolist() == [1, 1, 0, 0]
    assert load({"path": str(path), "threshold": 35}).manifest["label"].tolist() == [1, 0, 0, 0]
    cohort = tasks.get("hcm").loaders["manifest"]({"path": str(path)})
    assert cohort.manifest["label"].tolist() == [0, 1, 0, 1]
    assert isinstance(cohort.load_signal("r1"), ECGSignal)


def test_lvef_out_of_range_names_the_record(tasks, tmp_path):
    path = _npy_manifest(tmp_path, [25.0, 140.0])
    with pytest.raises(CohortError, match=r"record 'r1' has 140"):
        tasks.get("lvef").loaders["manifest"]({"path": str(path)})


def test_muse_source_reads_xml_with_a_label_table(tasks, tmp_path):
    folder = tmp_path / "muse"
    for i in range(3):
        folder.mkdir(exist_ok=True)
        make_muse_xml(folder / f"ecg{i}.xml", seed=i)
    pd.DataFrame(
        {"record_id": ["ecg0", "ecg1", "ecg2"], "patient_id": ["a", "b", "c"], "lvef": [30, 55, 62]}
    ).to_csv(folder / "labels.csv", index=False)
    cohort = tasks.get("lvef").loaders["muse"]({"path": str(folder)})
    assert cohort.manifest["label"].tolist() == [1, 0, 0]
    assert cohort.load_signal("ecg0").leads[:3] == ("I", "II", "III")
    (folder / "labels.csv").unlink()
    with pytest.raises(FileNotFoundError, match="label table"):
        tasks.get("lvef").loaders["muse"]({"path": str(folder)})


def test_manifest_source_without_a_path_says_how(tasks, monkeypatch):
    monkeypatch.delenv("BENCH_MANIFEST", raising=False)
    with pytest.raises(FileNotFoundError, match=r"--source-option manifest.path=PATH"):
        tasks.get("hcm").loaders["manifest"]({})


def test_stemi_on_manifest_and_muse_sources(tasks, tmp_path):
    path = _npy_manifest(tmp_path, [25.0, 40.0, 50.0, 60.0])
    table = pd.read_csv(path).assign(stemi=[1, 0, 0, 1], note=["acute", "", "old MI?", "x"])
    table.to_csv(path, index=False)
    stemi = tasks.get("stemi").loaders
    cohort = stemi["manifest"]({"path": str(path)})
    assert cohort.manifest["label"].tolist() == [1, 0, 0, 1]
    assert "task_version" not in cohort.notes  # the task's own column: its own definition
    by_hcm = stemi["manifest"]({"path": str(path), "label_column": "hcm"})
    assert by_hcm.manifest["label"].tolist() == [0, 1, 0, 1]
    assert by_hcm.notes["task_version"] == "stemi:manifest.label_column=hcm"
    folder = tmp_path / "muse"
    folder.mkdir()
    for i in range(3):
        make_muse_xml(folder / f"ecg{i}.xml", seed=i)
    labels = {"record_id": ["ecg0", "ecg1", "ecg2"], "patient_id": ["a", "b", "c"]}
    pd.DataFrame({**labels, "stemi": [0, 1, 0], "mi": [1, 1, 0]}).to_csv(
        folder / "labels.csv", index=False
    )
    assert stemi["muse"]({"path": str(folder)}).manifest["label"].tolist() == [0, 1, 0]
    mi = stemi["muse"]({"path": str(folder), "label_column": "mi"})
    assert mi.manifest["label"].tolist() == [1, 1, 0]
    with pytest.raises(CohortError, match="label column 'nope' not found"):
        stemi["muse"]({"path": str(folder), "label_column": "nope"})


def test_lvef_label_column_takes_the_threshold(tasks, tmp_path):
    path = _npy_manifest(tmp_path, [25.0, 40.0, 50.0, 60.0])
    pd.read_csv(path).assign(ef_echo=[50, 30, 36, 70]).to_csv(path, index=False)
    load = tasks.get("lvef").loaders["manifest"]
    cohort = load({"path": str(path), "label_column": "ef_echo", "threshold": 35})
    assert cohort.manifest["label"].tolist() == [0, 1, 0, 0]
    assert cohort.notes["task_version"] == "lvef:manifest.label_column=ef_echo"
