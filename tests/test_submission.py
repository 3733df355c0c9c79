"""``bench submit`` / ``bench verify``: a clean bundle verifies; tampering, a swapped
split and an undeclared overlap are caught; unsafe archives are refused before reading."""

from __future__ import annotations

import io
import json
import re
import stat
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.submission import safety
from bench.submission.bundle import Bundle
from bench.submission.checks import FAIL, NOT_CHECKED, NOT_DERIVABLE, PASS
from bench.submission.reference import reference_score, replicate_counts
from bench.submission.safety import BundleError, BundleFiles
from bench.submission.verify import score_check, verify_bundle
from tests.bundles import rewrite_bundle
from tests.conftest import default_plugin_host, invoke

CELL = "cells/resnet1d__stemi__synthetic__f1__s0__finetune"


@pytest.fixture(scope="module")
def host():
    """One plugin host for the module (its fixtures and every test)."""
    return default_plugin_host()


@pytest.fixture(scope="module")
def run_dir(host, tmp_path_factory) -> Path:
    """A real tiny run: resnet1d on the synthetic STEMI cohort, one cell, 40 replicates."""
    root = tmp_path_factory.mktemp("submission")
    result = invoke(
        host, "run", "-m", "resnet1d", "-t", "stemi", "-p", "tiny", "--fraction", "1.0",
        "--replicates", "40", "--output", root / "runs", "--run-name", "r",
        "--cache-dir", root / "cache",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return root / "runs" / "r"


@pytest.fixture(scope="module")
def bundle(host, run_dir) -> Path:
    path = run_dir.parent.parent / "bundle.zip"
    result = invoke(host, "submit", run_dir, "-o", path)
    assert result.exit_code == 0, result.output
    return path


def failures(host, path: Path, kind: str) -> list[str]:
    """The failed checks of ``kind`` of a verification through the CLI (exit 1 asserted)."""
    result = invoke(host, "verify", path)
    assert result.exit_code == 1, result.output
    assert "NOT VERIFIED" in result.output.splitlines()[-1]
    return [line for line in result.output.splitlines() if line.startswith(f"[FAIL] {kind}:")]


def test_a_clean_bundle_and_its_run_directory_verify(host, bundle, run_dir):
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("bundle.json"))
    assert {"run.json", "results.jsonl", "splits/stemi__synthetic.json"} <= names
    assert not [n for n in names if not n.endswith((".json", ".jsonl", ".csv"))]
    assert manifest["models"]["resnet1d"]["pretrained_on"] == []
    assert manifest["environment"]["packages"]["torch"]
    for path in (bundle, run_dir):
        result = invoke(host, "verify", path, "--verbose")
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[-1].endswith("pass")
        assert "[pass] split: stemi/synthetic: every set and subset equals the canonical" in (
            result.output
        )
        assert result.output.count("[pass] score:") == 4  # auroc, auprc × internal, external


def test_a_tampered_prediction_is_caught(host, bundle, tmp_path):
    def raise_one_score(data: bytes) -> bytes:
        """The lowest-scored positive of the internal test set now scores highest."""
        frame = pd.read_csv(io.BytesIO(data), dtype={"record_id": str, "patient_id": str})
        internal = frame[frame["split"] == "internal"]
        lowest = internal.loc[internal["label"] == 1, "score"].idxmin()
        frame.loc[lowest, "score"] = internal["score"].max() + 0.01
        return frame.to_csv(index=False).encode()

    tampered = rewrite_bundle(
        bundle, tmp_path / "t.zip", {f"{CELL}/predictions.csv": raise_one_score}
    )
    found = failures(host, tampered, "score")
    assert found and all(" internal " in line for line in found)
    assert not failures(host, tampered, "integrity")


def test_a_changed_member_without_a_new_hash_fails_integrity(host, bundle, tmp_path):
    tampered = tmp_path / "t.zip"
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(tampered, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            target.writestr(name, data + b"\n" if name == "run.json" else data)
    assert failures(host, tampered, "integrity") == [
        "[FAIL] integrity: run.json: sha256 differs in bundle.json"
    ]


def test_a_swapped_split_is_caught(host, bundle, tmp_path):
    moved: list[str] = []

    def move_one_record(data: bytes) -> bytes:
        manifest = json.loads(data)
        record = manifest["sets"]["train"].pop(0)
        manifest["sets"]["test"].append(record)
        for subsets in manifest["labelled"].values():
            for ids in subsets.values():
                ids.remove(record)
        moved.append(record)
        return json.dumps(manifest).encode()

    swapped = rewrite_bundle(
        bundle, tmp_path / "s.zip", {"splits/stemi__synthetic.json": move_one_record}
    )
    found = failures(host, swapped, "split")
    canonical = [line for line in found if line.startswith("[FAIL] split: stemi/synthetic:")]
    assert len(canonical) == 1 and moved[0] in canonical[0]
    assert "test: 1 extra" in canonical[0] and "train: 1 missing" in canonical[0]


def test_an_undeclared_overlap_is_caught(host, bundle, tmp_path):
    """A model that declares synthetic pretraining data, on a synthetic task, whose
    records say no contamination."""

    def declare(data: bytes) -> bytes:
        manifest = json.loads(data)
        manifest["models"]["resnet1d"]["pretrained_on"] = ["synthetic"]
        return json.dumps(manifest).encode()

    def pretrained(data: bytes) -> bytes:
        rows = [json.loads(line) for line in data.decode().splitlines()]
        return "".join(json.dumps({**r, "init": "file"}) + "\n" for r in rows).encode()

    edits = {
        "bundle.json": declare,
        "results.jsonl": pretrained,
        f"{CELL}/records.jsonl": pretrained,
    }
    result = invoke(host, "verify", rewrite_bundle(bundle, tmp_path / "c.zip", edits))
    found = [line for line in result.output.splitlines() if line.startswith("[FAIL]")]
    assert result.exit_code == 1 and len(found) == 2, result.output
    assert all(line.startswith("[FAIL] contamination:") for line in found)
    assert all("undeclared overlap" in line for line in found)
    assert any("external site(s) ['D']" in line for line in found)

    def flagged(data: bytes) -> bytes:  # the same overlap, declared in the records
        rows = [json.loads(line) for line in pretrained(data).decode().splitlines()]
        return "".join(json.dumps({**r, "contamination": True}) + "\n" for r in rows).encode()

    edits = {"bundle.json": declare, "results.jsonl": flagged, f"{CELL}/records.jsonl": flagged}
    result = invoke(host, "verify", rewrite_bundle(bundle, tmp_path / "d.zip", edits))
    assert result.exit_code == 0, result.output
    assert result.output.count("[note] contamination:") == 2


def test_a_metric_the_reference_lacks_is_reported_not_passed(host, bundle):
    opened = Bundle.open(bundle, host)
    predictions = opened.predictions(CELL)
    record = opened.records[0]
    assert score_check(record, predictions).status == PASS
    assert score_check(replace(record, metric="ece_ts"), predictions).status == NOT_DERIVABLE
    assert score_check(replace(record, value=record.value + 1e-6), predictions).status == FAIL


def test_missing_data_is_not_checked_rather_than_passed(host, bundle, monkeypatch):
    import bench.run.preparation

    def absent(*args, **kwargs):
        raise FileNotFoundError("/data/ptbxl: no such directory")

    monkeypatch.setattr(bench.run.preparation, "load_cohort", absent)
    verdict = verify_bundle(Bundle.open(bundle, host), host)
    skipped = [c for c in verdict.checks if c.status == NOT_CHECKED]
    assert [c.message for c in skipped] == ["data not present (/data/ptbxl: no such directory)"]
    assert verdict.ok and not verify_bundle(Bundle.open(bundle, host), host, strict=True).ok


# --- the reference scorer is independent of, and agrees with, the harness ----------------


@settings(max_examples=25, deadline=None)
@given(
    patients=st.lists(st.integers(0, 12), min_size=2, max_size=40),
    seed=st.integers(0, 2**31 - 1),
    unit=st.sampled_from(["patient", "record"]),
    stratified=st.booleans(),
)
def test_reference_draws_the_harness_replicates(patients, seed, unit, stratified):
    from bench.statistics.resampling import bootstrap_indices

    groups = np.array([f"p{p}" for p in patients])
    positive = np.array([p % 3 == 0 for p in patients])
    expected = bootstrap_indices(
        groups, 30, seed, unit, positive.astype(int) if stratified else None
    )
    assert np.array_equal(
        replicate_counts(groups, 30, seed, unit, positive if stratified else None), expected
    )


@pytest.mark.parametrize("metric", ["auroc", "auprc", "auprc_trapezoid", "brier"])
def test_reference_agrees_with_the_metric_plugins(host, metric):
    from bench.api import ScoreData
    from bench.statistics.resampling import bootstrap_indices

    rng = np.random.default_rng(3)
    groups = np.array([f"p{i // 2}" for i in range(60)])
    y = (rng.random(60) < 0.3).astype(int)
    s = np.round(np.clip(0.3 * y + rng.random(60) * 0.7, 0, 1), 2)  # with ties
    data = ScoreData(y, s, groups, replicate_indices=bootstrap_indices(groups, 50, 4))
    harness = host.registries.metrics.get(metric).compute(data)
    reference = reference_score(metric, y, s, groups, replicates=50, seed=4)
    for ours, theirs in zip(
        (reference.point, reference.ci_low, reference.ci_high),
        (harness.value, harness.ci_low, harness.ci_high),
        strict=True,
    ):
        assert abs(ours - theirs) <= 1e-9


# --- unsafe archives are refused before any member is read -------------------------------


def zip_with(path: Path, *members: tuple[zipfile.ZipInfo | str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for info, data in members:
            archive.writestr(info, data)
    return path


def symlink_member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def object_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, scores=np.array([{"run": "os.system"}], dtype=object))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("members", "rule"),
    [
        ([("../outside.json", b"{}")], "member '../outside.json' refused: path with a '..'"),
        ([("/etc/results.json", b"{}")], "member '/etc/results.json' refused: absolute"),
        ([(symlink_member("results.jsonl"), b"/etc/passwd")], "'results.jsonl' refused: symbolic"),
        ([("model.pkl", b"\x80\x04.")], "member 'model.pkl' refused: type not allowed"),
        ([("p.npz", object_npz())], "array 'scores.npy' refused: object dtype"),
        ([("bomb.csv", bytes(8 * 2**20))], "member 'bomb.csv' refused: compression ratio"),
        ([("a.csv", b"x"), ("a.csv", b"y")], "member 'a.csv' refused: duplicate"),
    ],
)
def test_unsafe_members_are_refused_before_reading(tmp_path, monkeypatch, host, members, rule):
    path = zip_with(tmp_path / "b.zip", *members)
    if not any(str(getattr(m, "filename", m)).endswith(".npz") for m, _ in members):
        monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: pytest.fail("read"))
    with pytest.raises(BundleError, match=re.escape(rule)) as caught:
        BundleFiles.open(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
    monkeypatch.undo()
    result = invoke(host, "verify", path)
    assert result.exit_code == 1 and rule in result.output and "Traceback" not in result.output


_PART = st.text(alphabet="abcXYZ019_-.", min_size=1, max_size=6).filter(
    lambda p: p not in (".", "..")
)


@given(
    parts=st.lists(_PART, min_size=1, max_size=4),
    at=st.integers(0, 4),
    bad=st.sampled_from(["..", "."]),
)
def test_member_names_with_dot_parts_are_refused_and_plain_ones_accepted(parts, at, bad):
    assert safety.name_problem("/".join(parts)) is None
    assert safety.name_problem("/" + "/".join(parts)) is not None
    unsafe = [*parts[:at], bad, *parts[at:]]
    assert safety.name_problem("/".join(unsafe)) is not None


def test_size_limits_per_member_and_in_total(tmp_path, monkeypatch):
    monkeypatch.setattr(safety, "MAX_MEMBER_BYTES", 1000)
    monkeypatch.setattr(safety, "MAX_TOTAL_BYTES", 1500)
    big = zip_with(tmp_path / "big.zip", ("a.csv", b"1," * 600))
    with pytest.raises(
        BundleError, match=re.escape("'a.csv' refused: 1,200 bytes, over the 1,000-byte")
    ):
        BundleFiles.open(big)
    many = zip_with(tmp_path / "many.zip", ("a.csv", b"1," * 400), ("b.csv", b"2," * 400))
    with pytest.raises(
        BundleError, match=re.escape("'b.csv' refused: members total over the 1,500")
    ):
        BundleFiles.open(many)


def test_a_tar_and_a_run_directory_symlink_are_refused(tmp_path, run_dir):
    archive = tmp_path / "b.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(run_dir / "run.json", arcname="run.json")
    with pytest.raises(BundleError, match="not a bundle"):
        BundleFiles.open(archive)
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "results.jsonl").symlink_to(run_dir / "results.jsonl")
    with pytest.raises(BundleError, match=re.escape("'results.jsonl' refused: symbolic link")):
        BundleFiles.open(linked, ("results.jsonl",))


def test_npz_members_load_without_pickles(tmp_path):
    buffer = io.BytesIO()
    np.savez(buffer, scores=np.linspace(0, 1, 5))
    path = zip_with(tmp_path / "n.zip", ("cells/c/predictions.npz", buffer.getvalue()))
    files = BundleFiles.open(path)
    arrays = safety.load_npz(files.read("cells/c/predictions.npz"), "p")
    assert np.array_equal(arrays["scores"], np.linspace(0, 1, 5))
