"""Task → cohort → usable records → split (bench.preparation) and `bench data describe`,
on collections the tests write: CinC .mat records, a 15-channel PTB Diagnostic record,
missing and broken files, manifests with real site names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench import preparation
from bench.cli import make_cli
from bench.cohort import CohortError
from bench.data.image_cache import ImageCache
from bench.data.preprocess import PreprocessConfig
from bench.data.render import RenderConfig
from bench.errors import RunError
from bench.plugin_manager import PluginHost
from bench.preparation import (
    RecordCheck,
    load_cohort,
    reason_group,
    signal_check,
    split_for,
    usable_records,
)
from bench.splits import SplitError
from tests.data.fixtures import (
    MI_CODE,
    make_cinc_collection,
    make_manifest,
    synthetic_ecg,
    write_cinc_record,
)


@pytest.fixture(scope="module")
def host() -> PluginHost:
    h = PluginHost()
    h.load_default_plugins()
    return h


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("cinc")
    return root, make_cinc_collection(root)


def _wfdb_options(root: Path, **extra: str) -> dict[str, str]:
    return {"path": str(root), "codes": MI_CODE, "site": "folder", **extra}


def test_usable_records_group_failures_and_list_dropped_channels(host, collection):
    root, expected = collection
    task = host.registries.tasks.get("stemi")
    cohort = load_cohort(task, "wfdb", _wfdb_options(root))
    assert cohort.n_records == expected["records"]
    assert cohort.notes["unlabelled"] == expected["unlabelled"]
    assert cohort.notes["task_version"] == f"stemi:wfdb.codes={MI_CODE}"
    usable = usable_records(cohort, signal_check(cohort))
    assert len(usable.manifest) == expected["usable"]
    assert set(usable.failed) == set(expected["unusable"])
    for record_id, fragment in expected["unusable"].items():
        assert fragment in usable.failed[record_id]
    assert usable.dropped == expected["dropped"]
    assert usable.summary() == {
        "checked": True,
        "usable": expected["usable"],
        "unusable": 3,
        "records_with_dropped_channels": 1,
        "dropped_channels": ["vx", "vy", "vz"],
    }
    groups = usable.failure_groups()
    assert sorted(g.count for g in groups) == [1, 1, 1]
    assert {g.examples[0][0] for g in groups} == set(expected["unusable"])
    unchecked = usable_records(cohort, None)
    assert not unchecked.checked and len(unchecked.manifest) == expected["records"]


def test_the_check_rejects_exactly_what_the_image_cache_rejects(host, collection, tmp_path):
    """`describe --check` counts are the run's: the run's usable set comes from its cache."""
    root, _ = collection
    cohort = load_cohort(host.registries.tasks.get("stemi"), "wfdb", _wfdb_options(root))
    ids = cohort.manifest["record_id"].tolist()
    cached = ImageCache(tmp_path).images(
        cohort, ids, PreprocessConfig(), RenderConfig(size=32), progress=False
    )
    checked = usable_records(cohort, signal_check(cohort))
    assert set(cached.failed) == set(checked.failed)
    from_cache = usable_records(cohort, lambda _: RecordCheck(cached.failed, cached.dropped))
    assert from_cache.summary() == checked.summary()  # what a run's report gets
    assert {k: reason_group(v) for k, v in cached.failed.items()} == {
        k: reason_group(v) for k, v in checked.failed.items()
    }


def test_forked_workers_find_what_one_process_finds(host, collection, monkeypatch):
    root, expected = collection
    cohort = load_cohort(host.registries.tasks.get("stemi"), "wfdb", _wfdb_options(root))
    monkeypatch.setattr(preparation, "CHECK_CHUNK", 3)  # 16 records → 6 chunks
    forked = usable_records(cohort, signal_check(cohort, workers=2))
    one = usable_records(cohort, signal_check(cohort, workers=1))
    assert forked.failed == one.failed and forked.dropped == one.dropped == expected["dropped"]
    assert forked.manifest.equals(one.manifest)


def test_reason_groups_ignore_paths_and_numbers():
    a = "ECGFormatError: /a/b/E07.mat: truncated signal file, expected 72024 bytes, found 4000"
    b = "ECGFormatError: /c/E11.mat: truncated signal file, expected 96024 bytes, found 10"
    assert reason_group(a) == reason_group(b) == "truncated signal file, expected N bytes, found N"


def test_wfdb_source_sites_patients_and_codes(host, collection):
    root, _ = collection
    task = host.registries.tasks.get("hcm")
    cohort = load_cohort(task, "wfdb", _wfdb_options(root, patient="folder"))
    m = cohort.manifest.set_index("record_id")
    assert set(m["site"]) == {"georgia", "cpsc", "ptbdb"}
    assert m.loc["ptbdb/patient001/s0010_re", "patient_id"] == "ptbdb/patient001"
    assert m.loc["georgia/E00", "patient_id"] == "georgia"
    assert int(m["label"].sum()) == 6  # the 5 usable positives + E07, which is unusable
    one_site = load_cohort(task, "wfdb", {"path": str(root), "codes": MI_CODE, "site": "MSH"})
    assert set(one_site.manifest["site"]) == {"MSH"}
    with pytest.raises(RunError, match=r"no data source 'edf'; available: .*manifest, muse"):
        load_cohort(task, "edf", {})
    with pytest.raises(CohortError, match=r"wfdb\.codes=CODE"):
        load_cohort(task, "wfdb", {"path": str(root)})


def test_a_patient_header_line_names_the_patient(host, tmp_path):
    for n, patient in enumerate(["P7", "P7", "P9"]):
        write_cinc_record(tmp_path / f"R{n}", synthetic_ecg(n, seconds=6), dx=[MI_CODE],
                          comments=("Age: 60", f"Patient: {patient}"))  # fmt: skip
    cohort = load_cohort(host.registries.tasks.get("stemi"), "wfdb", _wfdb_options(tmp_path))
    assert cohort.manifest["patient_id"].tolist() == ["P7", "P7", "P9"]


def _site_manifest(tmp_path: Path) -> Path:
    rows = []
    for i in range(24):
        path = tmp_path / "ecg" / f"r{i}.npy"
        path.parent.mkdir(exist_ok=True)
        np.save(path, synthetic_ecg(i, seconds=6).data)
        rows.append(
            {
                "record_id": f"r{i}",
                "patient_id": f"p{i}",
                "path": f"ecg/r{i}.npy",
                "fs": 500,
                "site": ["Mount Sinai West", "Morningside", "Queens"][i % 3],
                "mi": int(i % 4 == 0),
                "diagnosis": "sinus rhythm" if i % 4 else "acute MI",
            }
        )
    return make_manifest(tmp_path / "manifest.csv", rows)


def test_label_column_and_external_site_options(host, tmp_path):
    path = str(_site_manifest(tmp_path))
    task = host.registries.tasks.get("stemi")
    cohort = load_cohort(task, "manifest", {"path": path, "label_column": "mi"})
    assert int(cohort.manifest["label"].sum()) == 6
    assert cohort.notes["task_version"] == "stemi:manifest.label_column=mi"
    default = split_for(task, cohort)
    assert default.sets["external"] == []
    assert "default external site 'D' of task 'stemi' is not among" in default.notes[0]
    assert "manifest.external_site=NAME" in default.notes[0]
    queens = load_cohort(task, "manifest", {"path": path, "label_column": "mi",
                                            "external_site": "Queens"})  # fmt: skip
    split = split_for(task, queens)
    assert len(split.sets["external"]) == 8 and not split.notes
    assert set(queens.subset(split.sets["external"])["site"]) == {"Queens"}
    assert split_for(task, queens, external=False).sets["external"] == []
    bronx = load_cohort(task, "manifest", {"path": path, "label_column": "mi",
                                           "external_site": "Bronx"})  # fmt: skip
    with pytest.raises(SplitError, match=r"external site 'Bronx' .* sites are \['Morningside'"):
        split_for(task, bronx)
    # a task without its own manifest source takes labels from the named column
    lvh = load_cohort(host.registries.tasks.get("ludb-lvh"), "manifest",
                      {"path": path, "label_column": "mi"})  # fmt: skip
    assert int(lvh.manifest["label"].sum()) == 6
    with pytest.raises(CohortError, match=r"manifest\.label_column=COLUMN"):
        load_cohort(host.registries.tasks.get("ludb-lvh"), "manifest", {"path": path})
    with pytest.raises(CohortError, match="one column"):
        load_cohort(task, "manifest", {"path": path, "label_column": "mi,diagnosis"})


def _describe(host: PluginHost, *args: str):
    return CliRunner().invoke(make_cli(host), ["data", "describe", *args])


def test_describe_check_prints_usable_counts_and_grouped_failures(host, collection):
    root, expected = collection
    args = ["--task", "stemi", "--source", "wfdb", "--source-option", f"wfdb.path={root}",
            "--source-option", f"wfdb.codes={MI_CODE}", "--source-option", "wfdb.site=folder",
            "--source-option", "wfdb.external_site=none"]  # fmt: skip
    checked = _describe(host, *args, "--check", "--json")
    assert checked.exit_code == 0, checked.output
    data = json.loads(checked.stdout)
    assert data["checked"] and data["usable"] == expected["usable"] and data["unusable"] == 3
    rows = {r["set"]: r for r in data["rows"]}
    assert sum(rows[s]["ecgs"] for s in ("train", "validation", "test")) == expected["usable"]
    assert sum(rows[s]["positives"] for s in ("train", "validation", "test")) == 5
    reasons = {e["record_id"]: g["reason"] for g in data["unusable_by_reason"]
               for e in g["examples"]}  # fmt: skip
    assert set(reasons) == set(expected["unusable"])
    assert "unlabelled" not in data and any("1 record(s) left out" in n for n in data["notes"])
    text = _describe(host, *args, "--check")
    assert text.exit_code == 0
    words = " ".join(text.stdout.split())  # rich wraps lines at the terminal width
    assert "13 usable, 3 unusable" in words and "vx, vy, vz" in words
    assert "3 unusable ECG(s), by reason" in words
    unchecked = _describe(host, *args, "--json")
    data = json.loads(unchecked.stdout)
    assert not data["checked"] and "UNCHECKED" in data["warning"]
    assert "UNCHECKED" in _describe(host, *args).stdout


def test_describe_check_exits_non_zero_when_nothing_is_usable(host, tmp_path):
    root = tmp_path / "broken"
    make_cinc_collection(root)
    for mat in root.rglob("*.mat"):
        mat.unlink()
    args = ["--task", "stemi", "--source", "wfdb", "--check",
            "--source-option", f"wfdb.path={root}", "--source-option", f"wfdb.codes={MI_CODE}"]  # fmt: skip
    one_left = _describe(host, *args)  # only the PTB Diagnostic record: too few to split
    assert one_left.exit_code == 1
    words = " ".join(one_left.output.split())
    assert "15 unusable ECG(s), by reason" in words and "need at least 3 patients" in words
    for dat in root.rglob("*.dat"):
        dat.write_bytes(b"")
    result = _describe(host, *args)
    assert result.exit_code == 1
    assert "no usable ECG: all 16 ECGs of stemi on wfdb are unusable" in " ".join(
        result.output.split()
    )
    data = json.loads(_describe(host, *args, "--json").stdout)
    groups = {g["reason"]: g["records"] for g in data["unusable_by_reason"]}
    assert groups == {
        "signal file named in <file> is missing": 15,
        "truncated signal file, expected N bytes for N samples, found N": 1,
    }


def test_describe_names_an_absent_external_site(host, tmp_path):
    path = _site_manifest(tmp_path)
    base = ["--task", "stemi", "--source", "manifest", "--source-option", f"manifest.path={path}",
            "--source-option", "manifest.label_column=mi"]  # fmt: skip
    result = _describe(host, *base, "--source-option", "manifest.external_site=Bronx")
    assert result.exit_code == 1 and "external site 'Bronx'" in result.output
    note = _describe(host, *base)
    assert note.exit_code == 0 and "no external set" in " ".join(note.stdout.split())
