"""``bench cost``: a finished run's latencies re-timed on a quiet machine into
``latency.json``, refused under load, and preferred by the leaderboard's clinical profile,
which leaves out latencies timed under load."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.conftest import TinyModels, invoke

CELLS = {
    f"{model}__stemi__synthetic__f{fraction}__s0__finetune"
    for model in ("resnet1d", "tiny-cnn")
    for fraction in ("0.5", "1")
}


@pytest.fixture(scope="module")
def host():
    """The built-in plugins plus the tiny test model (one host for the module)."""
    from bench.host.manager import PluginHost

    h = PluginHost()
    h.load_default_plugins()
    h.register(TinyModels(), "tiny-models")
    return h


@pytest.fixture(scope="module")
def finished(host, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run of resnet1d and tiny-cnn at two fractions: four cells, two model
    configurations."""
    root = tmp_path_factory.mktemp("cost")
    args = ["run", "-m", "resnet1d", "-m", "tiny-cnn", "-t", "stemi", "-p", "tiny",
            "-f", "0.5", "-f", "1.0", "--device", "cpu", "--output", root / "runs",
            "--cache-dir", root / "cache", "--run-name", "r"]  # fmt: skip
    result = invoke(host, *args)
    assert result.exit_code == 0, result.output
    return root / "runs" / "r"


@pytest.fixture
def run_dir(finished: Path, tmp_path: Path) -> Path:
    """A copy of the finished run that a test may change (it shares the run's cache)."""
    return Path(shutil.copytree(finished, tmp_path / "runs" / "r"))


def _load(monkeypatch: pytest.MonkeyPatch, one_minute: float) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (one_minute, one_minute, one_minute))


def _records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_bench_cost_times_each_configuration_once(host, run_dir, monkeypatch) -> None:
    _load(monkeypatch, 0.25)
    stale = {"model": "old", "arch": "x", "model_profile": "quick", "protocol": "finetune",
             "input_shape": [1, 3], "device": "cpu", "precision": "fp32", "torch_threads": 1,
             "identities": ["0"], "latency_s_per_ecg": {"1": 1.0}}  # fmt: skip
    (run_dir / "latency.json").write_text(json.dumps({"entries": [stale]}))
    result = invoke(host, "cost", run_dir)
    assert result.exit_code == 0, result.output
    assert "random" in result.output or "initial weights" in result.output
    entries = json.loads((run_dir / "latency.json").read_text())["entries"]
    assert entries[0] == stale  # another configuration: kept
    timed = {e["model"]: e for e in entries[1:]}
    assert set(timed) == {"resnet1d", "tiny-cnn"}  # four cells, two configurations
    assert {c for e in timed.values() for c in e["cells"]} == CELLS
    records = _records(run_dir)
    for model, entry in timed.items():
        mine = [r for r in records if r["model"] == model]
        assert set(entry["identities"]) == {r["identity"] for r in mine}
        assert entry["arch"] == mine[0]["arch"]
        assert entry["torch_threads"] == mine[0]["compute"]["torch_threads"]
        assert entry["harness_version"] == mine[0]["harness_version"]
        assert set(entry["latency_s_per_ecg"]) == {"1"}  # the tiny profile's batch sizes
        assert entry["latency_s_per_ecg"]["1"] > 0
        assert entry["load_average_1m_before"] == entry["load_average_1m_after"] == 0.25
        assert entry["cpu_count"] == os.cpu_count() and entry["measured_utc"].endswith("Z")
    assert timed["resnet1d"]["input_shape"] == [1, 12, 5000]
    assert timed["tiny-cnn"]["input_shape"][:2] == [1, 3]
    again = invoke(host, "cost", run_dir)  # replaces what it re-measures
    assert again.exit_code == 0, again.output
    entries = json.loads((run_dir / "latency.json").read_text())["entries"]
    assert [e["model"] for e in entries] == ["old", "resnet1d", "tiny-cnn"]


def test_bench_cost_refuses_a_busy_machine_unless_allowed(host, run_dir, monkeypatch) -> None:
    cpus = os.cpu_count() or 1
    _load(monkeypatch, 1.3 * cpus)
    result = invoke(host, "cost", run_dir)
    assert result.exit_code != 0
    (line,) = result.output.strip().splitlines()
    assert f"{1.3 * cpus:.2f}" in line and f"on {cpus} CPUs" in line and "--allow-load" in line
    assert not (run_dir / "latency.json").exists()
    allowed = invoke(host, "cost", run_dir, "--allow-load")
    assert allowed.exit_code == 0, allowed.output
    entries = json.loads((run_dir / "latency.json").read_text())["entries"]
    assert {e["load_average_1m_before"] for e in entries} == {1.3 * cpus}


def _profile(host, runs: Path) -> tuple[dict[str, dict], str]:
    data = invoke(host, "leaderboard", runs, "--format", "json")
    assert data.exit_code == 0, data.output
    rows = {row["row"]: row for row in json.loads(data.output)["clinical_profile"]}
    text = invoke(host, "leaderboard", runs)
    assert text.exit_code == 0, text.output
    section = text.output[text.output.index("## Clinical profile") :]
    return rows, section[: section.index("\n## ", 1)]


def test_the_profile_hides_loaded_latencies_and_prefers_bench_cost(
    host, run_dir, monkeypatch
) -> None:
    cpus = os.cpu_count() or 1
    files = [run_dir / "results.jsonl", *run_dir.glob("cells/*/records.jsonl")]
    for path in files:  # resnet1d's timings were taken under load, tiny-cnn's quietly
        records = [json.loads(line) for line in path.read_text().splitlines()]
        for r in records:
            busy = r["model"] == "resnet1d"
            r["compute"].update(load_average_1m=2.0 * cpus if busy else 0.5, cpu_count=cpus)
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    rows, section = _profile(host, run_dir.parent)
    resnet, tiny = rows["resnet1d§"], rows["tiny-cnn"]  # § marks the tiny-profile stand-in
    assert resnet["latency_ms"] is None and resnet["latency_source"] is None
    assert resnet["latency_under_load"]
    (line,) = [x for x in section.splitlines() if x.startswith("| resnet1d")]
    assert line.endswith("| — |")
    assert "Latency of 1 row(s) measured under load" in section and "`bench cost RUN`" in section
    recorded = [r for r in _records(run_dir) if r["model"] == "tiny-cnn"]
    (recorded,) = [r for r in recorded if r["split"] == "internal" and r["metric"] == "auroc"
                   and r["fraction"] == 1.0]  # fmt: skip
    assert tiny["latency_source"] == "records"
    assert tiny["latency_ms"] == pytest.approx(1000 * recorded["compute"]["latency_s_per_ecg"]["1"])

    _load(monkeypatch, 0.25)
    assert invoke(host, "cost", run_dir).exit_code == 0
    entries = json.loads((run_dir / "latency.json").read_text())["entries"]
    timed = {e["model"]: 1000 * e["latency_s_per_ecg"]["1"] for e in entries}
    rows, section = _profile(host, run_dir.parent)
    for model, row in (("resnet1d", "resnet1d§"), ("tiny-cnn", "tiny-cnn")):
        assert rows[row]["latency_source"] == "bench cost"
        assert rows[row]["latency_ms"] == pytest.approx(timed[model])
    assert "measured under load" not in section
    assert "latency from `bench cost` for 2 row(s)" in section


def test_latency_json_travels_in_the_runs_bundle(host, run_dir, monkeypatch) -> None:
    _load(monkeypatch, 0.25)
    assert invoke(host, "cost", run_dir).exit_code == 0
    bundle = run_dir.parent / "r.zip"
    result = invoke(host, "submit", run_dir, "-o", bundle)
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(bundle) as archive:
        packed = json.loads(archive.read("latency.json"))
    assert packed == json.loads((run_dir / "latency.json").read_text())
    verified = invoke(host, "verify", bundle)
    assert verified.exit_code == 0, verified.output
    assert "latency.json" in verified.output and "not re-derivable" in verified.output


def test_a_latency_file_that_is_not_bench_costs_is_refused_naming_it(host, run_dir) -> None:
    (run_dir / "latency.json").write_text(json.dumps({"entries": [{"model": "resnet1d"}]}))
    result = invoke(host, "leaderboard", run_dir.parent)
    assert result.exit_code != 0
    (line,) = result.output.strip().splitlines()
    assert str(run_dir / "latency.json") in line and "identities" in line
