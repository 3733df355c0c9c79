"""EchoNext through the public CLI and registry, on a folder written in the release's
published layout (:mod:`tests.data.fixtures_echonext`): the three tasks, the publisher's
split (patient-grouped, ``no_split`` left out), ``bench data describe --check`` and a tiny
``bench run``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.data.cohort import Cohort
from bench.data.labels import label_column
from bench.data.signal import ECGFormatError
from bench.data.splits import split_cohort
from bench.host.manager import PluginHost
from bench.host.registry import Registry
from bench.host.specs import TaskSpec
from tests.data.fixtures_echonext import FLAGS, EchoNextFixture, make_echonext_dir

SETS = {"train": "train", "val": "validation", "test": "test"}


@pytest.fixture(scope="module")
def tasks() -> Registry[TaskSpec]:
    host = PluginHost()
    host.load_default_plugins()
    return host.registries.tasks


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> EchoNextFixture:
    return make_echonext_dir(tmp_path_factory.mktemp("echonext"))


def _cohort(tasks: Registry[TaskSpec], task: str, root: Path) -> Cohort:
    return tasks.get(task).loaders["echonext"]({"path": str(root)})


@pytest.mark.parametrize("task", ["echonext-lvef", "echonext-lvwt", "echonext-shd"])
def test_the_split_is_the_publishers_and_patient_grouped(tasks, release, task) -> None:
    cohort = _cohort(tasks, task, release.root)
    split = split_cohort(tasks.get(task), cohort, external=False)
    published = release.metadata.assign(ecg_key=release.metadata["ecg_key"].astype(str))
    for name, harness in SETS.items():
        expected = published.loc[published["split"] == name, "ecg_key"]
        assert sorted(split.sets[harness]) == sorted(expected)
    assert cohort.notes["no_split_excluded"] == int((published["split"] == "no_split").sum())
    patient_of = dict(zip(cohort.manifest["record_id"], cohort.manifest["patient_id"], strict=True))
    owners = [{patient_of[r] for r in split.sets[s]} for s in ("train", "validation", "test")]
    assert not (owners[0] & owners[1] or owners[0] & owners[2] or owners[1] & owners[2])


def test_binary_labels_are_the_published_flags(tasks, release) -> None:
    metadata = release.metadata.set_index(release.metadata["ecg_key"].astype(str))
    for task, flag in (("echonext-lvef", FLAGS[0]), ("echonext-lvwt", FLAGS[1])):
        manifest = _cohort(tasks, task, release.root).manifest.set_index("record_id")
        assert manifest["label"].tolist() == metadata.loc[manifest.index, flag].tolist()


def test_shd_is_the_11_flags_as_labels(tasks, release) -> None:
    cohort = _cohort(tasks, "echonext-shd", release.root)
    assert len(cohort.labels) == 11
    metadata = release.metadata.set_index(release.metadata["ecg_key"].astype(str))
    manifest = cohort.manifest.set_index("record_id")
    for name, flag in zip(cohort.labels, FLAGS, strict=True):
        assert name == flag.removesuffix("_flag")
        column = manifest[label_column(name)]
        assert column.tolist() == metadata.loc[manifest.index, flag].tolist()


def test_the_signal_of_a_record_is_its_row_of_its_split(tasks, release) -> None:
    cohort = _cohort(tasks, "echonext-lvef", release.root)
    test_keys = release.metadata.loc[release.metadata["split"] == "test", "ecg_key"]
    last = str(test_keys.iloc[-1])
    signal = cohort.load_signal(last)
    np.testing.assert_allclose(signal.data, release.waveforms["test"][-1, 0].T, atol=1e-6)


def test_an_array_shorter_than_its_split_is_refused_at_load(tasks, release, tmp_path) -> None:
    fixture = make_echonext_dir(tmp_path / "short", seed=3)
    path = fixture.root / "EchoNext_val_waveforms.npy"
    np.save(path, fixture.waveforms["val"][:-1])
    with pytest.raises(ECGFormatError, match=r"EchoNext_val_waveforms\.npy: expected 6 rows"):
        _cohort(tasks, "echonext-lvef", fixture.root)


def test_describe_check_reads_every_published_record(cli, release) -> None:
    args = ["data", "describe", "--task", "echonext-lvef", "--source", "echonext"]
    args += ["--source-option", f"echonext.path={release.root}", "--check", "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    n = int((release.metadata["split"] != "no_split").sum())
    assert report["checked"] is True and report["records"] == n
    assert report["usable"] == n


def test_tasks_are_listed_with_their_definitions(cli) -> None:
    result = CliRunner().invoke(cli, ["list", "tasks"])
    assert result.exit_code == 0, result.output
    for task in ("echonext-lvef", "echonext-lvwt", "echonext-shd"):
        assert task in result.output


def test_a_tiny_run_on_echonext_lvef(cli, release, tmp_path) -> None:
    args = ["run", "-m", "resnet1d", "-t", "echonext-lvef", "--source", "echonext"]
    args += ["--source-option", f"echonext.path={release.root}", "-p", "tiny", "-f", "1.0"]
    args += ["--no-external", "--output", str(tmp_path / "runs")]
    args += ["--cache-dir", str(tmp_path / "cache"), "--run-name", "en"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "runs" / "en" / "results.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    auroc = next(r for r in records if r["metric"] == "auroc")
    assert auroc["task_version"] == "echonext-lvef-v1" and auroc["split"] == "internal"
    assert 0.0 <= auroc["value"] <= 1.0


@pytest.mark.slow
def test_a_tiny_run_learns_the_fixture_labels(cli, tmp_path) -> None:
    """With 80 training patients the fixture's label-shaped QRS is learnt: better than the
    0.5 of a constant score on the publisher-style test set."""
    fixture = make_echonext_dir(tmp_path / "echonext", n_train_patients=80)
    grid = tmp_path / "grid.yaml"  # the tiny profile's 12 steps learn nothing: train it
    grid.write_text("train: {epochs: 15, max_steps: null, evaluations: 15, batch_size: 16}\n")
    args = ["run", "-m", "resnet1d", "-t", "echonext-lvef", "--source", "echonext"]
    args += ["--config", str(grid)]
    args += ["--source-option", f"echonext.path={fixture.root}", "-p", "tiny", "-f", "1.0"]
    args += ["--no-external", "--output", str(tmp_path / "runs")]
    args += ["--cache-dir", str(tmp_path / "cache"), "--run-name", "learn"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "runs" / "learn" / "results.jsonl").read_text().splitlines()
    auroc = next(r for r in map(json.loads, lines) if r["metric"] == "auroc")
    assert auroc["value"] > 0.5
