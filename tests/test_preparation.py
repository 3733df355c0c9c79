"""Task → cohort → usable records → split (bench.run.preparation) and `bench data describe`,
on collections the tests write: CinC .mat records, a 15-channel PTB Diagnostic record,
missing and broken files, manifests with real site names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import make_cli
from bench.data.cohort import CohortError
from bench.data.image_cache import ImageCache
from bench.data.preprocess import PreprocessConfig
from bench.data.render import RenderConfig
from bench.data.signal import ECGSignal
from bench.data.splits import SplitError
from bench.errors import RunError
from bench.host.manager import PluginHost
from bench.run import preparation
from bench.run.preparation import (
    RecordCheck,
    load_cohort,
    reason_group,
    signal_check,
    split_for,
    usable_records,
)
from tests.data.fixtures import (
    MI_CODE,
    SINUS_CODE,
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
        "records_with_notices": 0,
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
    from_cache = usable_records(
        cohort, lambda _: RecordCheck(cached.failed, cached.dropped, cached.notices)
    )
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
    assert one_left.exit_code == 0, one_left.output  # a note about the files, after their report
    words = " ".join(one_left.output.split())
    assert "checked: opened all 16 ECGs" in words
    report, note = words.index("15 unusable ECG(s), by reason"), words.index("note: no split")
    assert report < note and "need at least 3 patients to split, cohort has 1" in words[note:]
    strict = _describe(host, *args, "--strict")
    assert strict.exit_code == 1 and "error: --strict: bad record" in strict.output
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


#: SNOMED CT code of atrial fibrillation: no record of the collections below carries it.
AF_CODE = "164889003"
#: A CinC header's lead names with V3 spelled 'Vx3', and with a 13th channel of unknown name.
RENAMED_V3 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "Vx3", "V4", "V5", "V6")
EXTRA_UNKNOWN = (*RENAMED_V3[:8], "V3", *RENAMED_V3[9:], "EKG")


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``good/``: six CinC records (sinus rhythm, every other one MI); ``odd/E06``: V3 spelled
    'Vx3' (no V3 to plot: unusable for image models); ``odd/E07``: the 12 leads and a 13th
    channel 'EKG' (usable, with a notice)."""
    root = tmp_path_factory.mktemp("renamed")
    for n in range(6):
        dx = [MI_CODE, SINUS_CODE] if n % 2 else [SINUS_CODE]
        write_cinc_record(root / f"good/E{n:02d}", synthetic_ecg(300 + n, seconds=6), dx=dx)
    write_cinc_record(root / "odd/E06", synthetic_ecg(306, seconds=6), [SINUS_CODE], RENAMED_V3)
    thirteen = synthetic_ecg(307, seconds=6)
    thirteen = ECGSignal(np.concatenate([thirteen.data, thirteen.data[:1]]), 500.0, EXTRA_UNKNOWN)
    write_cinc_record(root / "odd/E07", thirteen, [SINUS_CODE], EXTRA_UNKNOWN)
    return root


def _wfdb_args(root: Path, code: str = MI_CODE) -> list[str]:
    return ["--task", "stemi", "--source", "wfdb", "--source-option", f"wfdb.path={root}",
            "--source-option", f"wfdb.codes={code}"]  # fmt: skip


def test_describe_names_unknown_lead_names_with_their_files(host, renamed):
    args = [*_wfdb_args(renamed), "--check"]
    result = _describe(host, *args, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["usable"] == 7 and data["unusable"] == 1 and data["records_with_notices"] == 1
    ((unusable,),) = [g["examples"] for g in data["unusable_by_reason"]]
    assert unusable["record_id"] == "odd/E06"
    assert unusable["error"] == (
        "ECGFormatError: missing plotted lead(s) ['V3']; record has ['I', 'II', 'III', 'aVR', "
        f"'aVL', 'aVF', 'V1', 'V2', 'V4', 'V5', 'V6']; {renamed / 'odd/E06.hea'}: unknown lead "
        "name(s) ['Vx3'] dropped (not a standard lead, an alias or a known extra channel)"
    )
    ((notice,),) = [g["examples"] for g in data["notices_by_reason"]]
    assert notice["record_id"] == "odd/E07"
    assert notice["error"].startswith(f"{renamed / 'odd/E07.hea'}: unknown lead name(s) ['EKG']")
    text = " ".join(_describe(host, *args).stdout.split())
    assert "1 usable ECG(s) with notices" in text and "1 unusable ECG(s), by reason" in text
    strict = _describe(host, *args, "--strict")
    assert strict.exit_code == 1
    assert (
        "error: --strict: bad record odd/E06: ECGFormatError: missing plotted lead" in strict.output
    )
    assert "(and 1 more problem(s) above)" in strict.output


def test_describe_prints_positives_per_split_and_names_a_code_nobody_has(host, renamed):
    args = _wfdb_args(renamed / "good", AF_CODE)
    result = _describe(host, *args, "--check", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    sets = [row for row in data["rows"] if row["set"] in ("train", "validation", "test")]
    assert sum(row["ecgs"] for row in sets) == 6 and not any(row["positives"] for row in sets)
    (note,) = [n for n in data["notes"] if "no positive ECG" in n]
    stemi = host.registries.tasks.get("stemi").positive_class
    assert re.fullmatch(
        rf"no positive ECG for {stemi} \(stemi:wfdb\.codes={AF_CODE}\) in "
        r"train \(\d+ ECG\(s\)\), test \(\d+ ECG\(s\)\)",  # 6 patients: no validation set
        note,
    )
    strict = _describe(host, *args, "--strict")
    assert strict.exit_code == 1 and "error: --strict: no positive ECG for" in strict.output
    assert _describe(host, *_wfdb_args(renamed / "good"), "--strict").exit_code == 0  # MI: 3


def test_a_run_warns_of_a_label_without_positives_and_refuses_notices_under_strict(
    host, renamed, tmp_path
):
    """resnet1d's signal recipe zero-fills a lead a record lacks: the record whose V3 is
    spelled 'Vx3' is usable for it, and its notice says which name was dropped."""
    cli = make_cli(host)
    base = ["run", "--model", "resnet1d", "--profile", "tiny", "--output", str(tmp_path),
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    lenient = CliRunner().invoke(cli, [*base, *_wfdb_args(renamed, AF_CODE), "--run-name", "a"])
    assert lenient.exit_code == 0, lenient.output
    words = " ".join(lenient.output.split())
    assert "stemi/wfdb: no positive ECG for" in words and f"wfdb.codes={AF_CODE}" in words
    assert "1 record(s) lack lead(s) the resnet1d recipe needs; zero-filled" in words
    assert "2 record(s) in stemi/wfdb with notices" in words
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    notices = report["notices"]["stemi"]
    assert sorted(notices) == ["odd/E06", "odd/E07"]
    assert notices["odd/E06"] == [
        f"{renamed / 'odd/E06.hea'}: unknown lead name(s) ['Vx3'] dropped (not a standard "
        "lead, an alias or a known extra channel)"
    ]
    assert report["finished"] == 0 and report["skipped"]  # every cell: nothing to learn
    assert all(s["reason"].startswith("only 0 positive ECG(s)") for s in report["skipped"])
    strict = CliRunner().invoke(cli, [*base, *_wfdb_args(renamed), "--strict", "--run-name", "b"])
    assert strict.exit_code == 1
    assert "--strict: record odd/E06 refused: " in " ".join(strict.output.split())
    empty = [*base, *_wfdb_args(renamed / "good", AF_CODE), "--strict", "--run-name", "c"]
    strict = CliRunner().invoke(cli, empty)
    assert strict.exit_code == 1
    assert "--strict: stemi/wfdb: no positive ECG for" in " ".join(strict.output.split())
