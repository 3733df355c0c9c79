"""The command line: list, plugins, unknown names, run, resume, kill -9, third-party plugins."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from bench import hookimpl
from bench.run.records import load_records
from tests.conftest import install_example_plugin
from tests.data.fixtures import make_manifest

REPO = Path(__file__).resolve().parents[1]


def invoke(cli, args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_help_lists_commands(cli):
    result = invoke(cli, ["--help"])
    for command in ("run", "list", "plugins", "data", "leaderboard", "pretrain", "wasserstein"):
        assert command in result.output


def test_every_command_has_help(cli):
    for command in ("run", "list", "plugins", "data", "leaderboard"):
        result = invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and len(result.output) > 200


def test_list_json(cli):
    data = json.loads(invoke(cli, ["list", "--json"]).stdout)
    models = {m["name"] for m in data["models"]}
    assert {"heartbeit", "vit-b16", "resnet152", "efficientnet-b4", "tiny-cnn"} <= models
    assert {"stemi", "lvef", "hcm", "ludb-lvh"} <= {t["name"] for t in data["tasks"]}
    assert {"auroc", "auprc"} <= {m["name"] for m in data["metrics"]}


def test_run_help_and_list_say_which_source_each_task_uses(cli):
    """No task-independent default source: each task runs on its own unless --source says."""
    help_text = " ".join(invoke(cli, ["run", "--help"]).output.split())
    assert "synthetic (default)" not in help_text
    assert "Default: each task's own default source" in help_text
    tasks = {
        t["name"]: t for t in json.loads(invoke(cli, ["list", "tasks", "--json"]).stdout)["tasks"]
    }
    assert tasks["stemi"]["default source"] == "synthetic"
    assert tasks["ludb-lvh"]["default source"] == "ludb"
    table = invoke(cli, ["list", "tasks"]).output
    assert "default source" in table.splitlines()[1]


def test_plugins_lists_name_version_hooks(cli):
    data = json.loads(invoke(cli, ["plugins", "--json"]).stdout)
    by_name = {p["name"]: p for p in data["plugins"]}
    assert "bench_register_tasks" in by_name["bench.tasks.stemi"]["hooks"]
    assert by_name["bench.tasks.stemi"]["version"].endswith("(built-in)")


HEAVY_MODULES = ("torch", "timm", "torchvision", "ot", "matplotlib", "pytorch_grad_cam")
SYS_MODULES_PROBE = """
import json, sys
from bench.cli import main
sys.argv = ["bench", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["list"], ["plugins"], ["run", "--help"]])
def test_startup_commands_import_no_heavy_module(args):
    """A fresh interpreter answers these without torch, timm, torchvision, POT, matplotlib."""
    result = subprocess.run(
        [sys.executable, "-c", SYS_MODULES_PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if k != "BENCH_LOAD_PLUGINS"},
        check=True,
    )
    loaded = set(json.loads(result.stderr.strip().splitlines()[-1]))
    assert len(result.stdout) > 100  # the command did answer
    assert "bench.plugins.heartbeit" in loaded  # ... with the plugins loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY_MODULES)
    assert heavy == [], f"bench {' '.join(args)} imported {heavy[:5]}"


def test_lazy_commands_list_the_help_they_show_when_loaded(cli):
    ctx = click.Context(cli)
    assert cli.lazy_commands, "the heavy commands should be registered lazily"
    for name, (_, short_help) in cli.lazy_commands.items():
        command = cli.get_command(ctx, name)
        assert command is not None and command.help is not None
        assert command.help.startswith(short_help.rstrip(".")), name


class BrokenRegister:
    """A plugin whose register hook raises (the shape of a missing optional dependency)."""

    @hookimpl
    def bench_register_metrics(self, register):
        raise RuntimeError("metric needs scikit-survival")


class BrokenCommands:
    @hookimpl
    def bench_register_commands(self, cli):
        raise ImportError("no module named 'fancy_cli'")


@pytest.fixture
def broken_host(host, monkeypatch):
    """The test host plus two broken plugins; strict mode off whatever the environment says."""
    monkeypatch.delenv("BENCH_STRICT_PLUGINS", raising=False)
    host.register(BrokenRegister(), "broken-register")
    host.register(BrokenCommands(), "broken-commands")
    try:
        yield host
    finally:
        host.unregister("broken-register")
        host.unregister("broken-commands")


def test_plugin_errors_are_listed_warned_and_strict_exits_2(broken_host):
    from bench.cli import make_cli

    cli = make_cli(broken_host)  # a broken command plugin does not stop the CLI
    data = json.loads(invoke(cli, ["plugins", "--json"]).stdout)
    by_name = {p["name"]: p for p in data["plugins"]}
    assert by_name["broken-register"]["status"] == "error"
    assert "RuntimeError: metric needs scikit-survival" in by_name["broken-register"]["errors"][0]
    assert by_name["broken-commands"]["errors"][0].startswith(
        "plugin 'broken-commands' failed in bench_register_commands: ImportError"
    )
    assert {e["stage"] for e in data["errors"]} == {
        "bench_register_metrics",
        "bench_register_commands",
    }
    table = invoke(cli, ["plugins"]).stdout
    assert "broken-register" in table and "error: plugin 'broken-register'" in table

    listing = invoke(cli, ["list", "metrics"])
    assert listing.exit_code == 0 and "auroc" in listing.stdout
    warnings = [line for line in listing.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2 and "test_cli.py:" in warnings[0]  # file:line of the raise
    assert "Traceback" not in listing.stderr
    assert "Traceback" in invoke(cli, ["--verbose", "list", "metrics"]).stderr

    strict = invoke(cli, ["--strict-plugins", "list"])
    assert strict.exit_code == 2 and "--strict-plugins" in strict.stderr


def test_strict_plugins_from_the_environment(broken_host, monkeypatch):
    from bench.cli import make_cli

    monkeypatch.setenv("BENCH_STRICT_PLUGINS", "1")
    assert invoke(make_cli(broken_host), ["list"]).exit_code == 2


def test_strict_plugins_passes_when_no_plugin_fails(cli):
    assert invoke(cli, ["--strict-plugins", "list", "--json"]).exit_code == 0


def test_a_hook_error_during_a_command_fails_it_under_strict(host, monkeypatch):
    from bench.cli import make_cli

    class Command:
        @hookimpl
        def bench_register_commands(self, cli):
            @cli.command("ping")
            @click.pass_context
            def ping(ctx):
                ctx.find_root().obj.call_safely("bench_result", record="r")

        @hookimpl
        def bench_result(self, record):
            raise RuntimeError("logger down")

    monkeypatch.delenv("BENCH_STRICT_PLUGINS", raising=False)
    host.register(Command(), "pinger")
    try:
        lenient = invoke(make_cli(host), ["ping"])
        assert lenient.exit_code == 0 and "logger down" in lenient.stderr
        assert invoke(make_cli(host), ["--strict-plugins", "ping"]).exit_code == 2
    finally:
        host.unregister("pinger")


def test_misspelled_hook_says_did_you_mean(host, monkeypatch):
    from bench.cli import make_cli

    class Typo:
        @hookimpl
        def bench_register_model(self, register):
            pass

    monkeypatch.delenv("BENCH_STRICT_PLUGINS", raising=False)
    host.register(Typo(), "typo")
    result = invoke(make_cli(host), ["list", "models"])
    assert result.exit_code == 0
    assert (
        "warning: plugin 'typo' failed in validate: unknown hook 'bench_register_model'; "
        "did you mean 'bench_register_models'?" in result.stderr
    )
    assert invoke(make_cli(host), ["--strict-plugins", "list"]).exit_code == 2


@pytest.mark.parametrize(
    ("option", "value", "suggestion"),
    [
        ("--model", "heartbiet", "heartbeit"),
        ("--task", "stemmi", "stemi"),
    ],
)
def test_unknown_names_exit_2_with_suggestion(cli, run_args, option, value, suggestion):
    result = invoke(cli, ["run", option, value, *run_args])
    assert result.exit_code == 2
    assert f"did you mean: {suggestion}" in result.output


def test_run_writes_records_predictions_and_resumes(cli, run_args, tmp_path):
    args = ["run", "--model", "tiny-cnn", "--task", "stemi", *run_args, "--run-name", "r"]
    result = invoke(cli, args)
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / "r"
    records = load_records([run_dir])
    cells = {(r.fraction, r.split) for r in records}
    assert cells == {(0.5, "internal"), (1.0, "internal"), (0.5, "external"), (1.0, "external")}
    for r in records:
        assert r.init == "random" and r.selection == "validation" and r.profile == "tiny"
        assert r.ci_low <= r.value <= r.ci_high and r.n > r.n_positive > 0
        assert r.packages["torch"] and r.config_hash and r.cohort_hash and r.render_hash
        assert r.details["model_config"] is not None
        predictions = run_dir / r.details["predictions"]
        assert predictions.is_file()
    split = json.loads(next((run_dir / "splits").glob("stemi__synthetic.json")).read_text())
    assert set(split["sets"]) == {"train", "validation", "test", "external"}
    # re-running the same grid resumes: nothing is trained again, nothing duplicated
    again = invoke(cli, args)
    assert "resumed 2" in again.output
    assert len(load_records([run_dir])) == len(records)


def test_metric_adds_to_the_defaults_and_no_default_metrics_replaces_them(cli, tmp_path):
    base = ["run", "--model", "tiny-cnn", "--task", "stemi", "--profile", "tiny", "--fraction",
            "1.0", "--no-external", "--output", str(tmp_path / "runs"), "--cache-dir",
            str(tmp_path / "cache")]  # fmt: skip
    added = invoke(cli, [*base, "--run-name", "add", "--metric", "brier"])
    assert added.exit_code == 0, added.output
    assert {r.metric for r in load_records([tmp_path / "runs" / "add"])} == {
        "auroc", "auprc", "brier"
    }  # fmt: skip
    only = invoke(cli, [*base, "--run-name", "only", "--metric", "brier", "--no-default-metrics"])
    assert only.exit_code == 0, only.output
    assert {r.metric for r in load_records([tmp_path / "runs" / "only"])} == {"brier"}
    none = invoke(cli, [*base, "--run-name", "none", "--no-default-metrics"])
    assert none.exit_code == 1 and "--no-default-metrics pass --metric NAME" in none.stderr


def test_bad_config_exits_2(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("modles: [heartbeit]\n")
    result = invoke(cli, ["run", "--config", str(bad)])
    assert result.exit_code == 2 and "unknown key" in result.output


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ("{pos_weight: maybe}", "train: TrainConfig.pos_weight must be true or false, got 'maybe'"),
        ("{epochs: 0}", "train: TrainConfig.epochs must be >= 1"),
    ],
)
def test_a_bad_train_mapping_exits_2_before_reading_data(cli, tmp_path, train, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"train: {train}\nprofile: tiny\n")
    result = invoke(cli, ["run", "--config", str(bad), "--output", str(tmp_path / "runs")])
    assert result.exit_code == 2 and message in result.output, result.output


def _cohort_csv(path: Path) -> Path:
    """A 4-site cohort: 60 patients with 1-3 ECGs each, sites by patient (site D, the stemi
    task's external site, holds every fourth one), every fifth patient's ECGs positive."""
    rows = []
    for p in range(60):
        for k in range(1 + p % 3):
            rows.append({"record_id": f"r{p}-{k}", "patient_id": f"p{p}", "path": f"r{p}-{k}.npy",
                         "site": "ABCD"[p % 4], "stemi": int(p % 5 == 0 and k < 2)})  # fmt: skip
    return make_manifest(path, rows)


def test_data_describe(cli, tmp_path):
    """The counts per set are the manifest's, split by patient: the internal sets share out
    the non-external ECGs, patients and positives, the external set is site D's, and a
    training fraction keeps the first ceil(fraction × n) training patients."""
    path = _cohort_csv(tmp_path / "cohort.csv")
    args = ["data", "describe", "--task", "stemi", "--source", "manifest", "--source-option",
            f"manifest.path={path}", "--fraction", "0.1", "--fraction", "1", "--json"]  # fmt: skip
    rows = {r["set"]: r for r in json.loads(invoke(cli, args).stdout)["rows"]}
    manifest = pd.read_csv(path, dtype={"record_id": str, "patient_id": str})
    external = manifest["site"] == "D"

    def counts(part: pd.DataFrame) -> dict[str, object]:
        return {
            "ecgs": len(part),
            "patients": part["patient_id"].nunique(),
            "positives": int(part["stemi"].sum()),
            "sites": ", ".join(sorted(set(part["site"]))),
        }

    assert {k: rows["external"][k] for k in counts(manifest)} == counts(manifest[external])
    internal = ("train", "validation", "test")
    for key in ("ecgs", "patients", "positives"):  # patients: no one is in two sets
        assert sum(rows[s][key] for s in internal) == counts(manifest[~external])[key], key
    for name, row in rows.items():
        assert set(row["sites"].split(", ")) <= ({"D"} if name == "external" else {"A", "B", "C"})
        assert row["prevalence"] == round(row["positives"] / row["ecgs"], 4), name
    assert set(rows) == {*internal, "external", "train 10%", "train 100%"}
    assert rows["train 100%"] == {**rows["train"], "set": "train 100%"}
    assert rows["train 10%"]["patients"] == math.ceil(0.1 * rows["train"]["patients"])
    assert rows["train 10%"]["ecgs"] < rows["train"]["ecgs"]


def _bench(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bench", *args], env={**os.environ, **(env or {})}, cwd=REPO, **kw
    )


def test_kill_9_mid_run_then_resume_leaves_no_partial_or_duplicate_records(tmp_path):
    args = [
        "run",
        "--model",
        "heartbeit",
        "--task",
        "stemi",
        "--profile",
        "tiny",
        "--weights",
        "random",
        "--fraction",
        "0.5",
        "--fraction",
        "1.0",
        "--seed",
        "0",
        "--seed",
        "1",
        "--output",
        str(tmp_path / "runs"),
        "--run-name",
        "k",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    proc = _bench(*args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cells = tmp_path / "runs" / "k" / "cells"
    deadline = time.time() + 900  # generous: a shared CI machine can be slow
    while time.time() < deadline and not list(cells.glob("*/records.jsonl")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = {p.parent.name for p in cells.glob("*/records.jsonl")}
    assert 1 <= len(done_before) < 4, "kill should land after the first cell, before the last"
    finished = _bench(*args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = finished.communicate(timeout=600)
    assert finished.returncode == 0, output
    records = load_records([tmp_path / "runs" / "k"])
    keys = [(r.fraction, r.seed, r.split, r.metric) for r in records]
    assert len(keys) == len(set(keys)) == 4 * 2 * 2  # 4 cells × 2 splits × 2 metrics
    assert f"resumed {len(done_before)}" in " ".join(output.split())
    # the values, not only the counts, equal an undisturbed run in a fresh directory
    calm = [*args[:-4], "--run-name", "calm", "--cache-dir", str(tmp_path / "cache2")]
    undisturbed = _bench(*calm, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert undisturbed.wait(timeout=600) == 0
    for cell in sorted((tmp_path / "runs" / "calm" / "cells").iterdir()):
        killed = (cells / cell.name / "predictions.csv").read_bytes()
        assert killed == (cell / "predictions.csv").read_bytes(), cell.name
    values = {(r.fraction, r.seed, r.split, r.metric): r.value for r in records}
    calm_records = load_records([tmp_path / "runs" / "calm"])
    assert values == {(r.fraction, r.seed, r.split, r.metric): r.value for r in calm_records}


def test_third_party_package_with_model_task_metric_runs_end_to_end(tmp_path, ludb_dir):
    """examples/bench-example-plugin installed into a fresh target: discovered, run, ranked
    (its task's default source, LUDB, found through BENCH_LUDB_DIR)."""
    site = install_example_plugin(tmp_path)
    env = {"PYTHONPATH": str(site), "BENCH_STRICT_PLUGINS": "1", "BENCH_LUDB_DIR": str(ludb_dir)}
    listing = _bench("plugins", "--json", env=env, stdout=subprocess.PIPE, text=True)
    data = json.loads(listing.communicate(timeout=120)[0])
    example = {p["name"]: p for p in data["plugins"]}["example"]
    assert example["version"] == "0.4.0" and example["status"] == "ok"
    assert example["hooks"] == [
        "bench_register_metrics", "bench_register_models", "bench_register_tasks"
    ]  # fmt: skip
    # the tiny profile's step cap leaves cells unconverged, and no comparison rests on one:
    # train these to the stopping rule instead
    config = tmp_path / "grid.yaml"
    config.write_text(
        "train:\n  epochs: 100\n  max_steps: null\n  evaluations: null\n  patience: 3\n"
        "  monitor: loss\n"
    )
    run = _bench(
        "run", "--config", str(config), "--model", "example-signal-cnn", "--model",
        "example-signal-linear", "--task", "example-lad", "--metric", "balanced_accuracy",
        "--profile", "tiny", "--fraction", "1.0", "--output", str(tmp_path / "runs"),
        "--run-name", "x", "--cache-dir", str(tmp_path / "cache"),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output = run.communicate(timeout=600)[0]
    assert run.returncode == 0, output
    records = load_records([tmp_path / "runs" / "x"])
    assert {r.model for r in records} == {"example-signal-cnn", "example-signal-linear"}
    assert {r.metric for r in records} == {"auroc", "auprc", "balanced_accuracy"}  # added
    assert {r.source for r in records} == {"ludb"}
    assert {r.converged for r in records} == {True}
    board = _bench(
        "leaderboard", str(tmp_path / "runs"), "--format", "json", "--metric",
        "balanced_accuracy", "--reference", "example-signal-cnn", "--replicates", "50",
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    out, err = board.communicate(timeout=300)
    assert board.returncode == 0, err
    (table,) = json.loads(out)["tables"]
    assert (table["task"], table["metric"]) == ("example-lad", "balanced_accuracy")
    (diff,) = table["differences"]
    assert diff["model"] == "example-signal-linear" and diff["note"] == ""
    assert diff["significant"] is not None and diff["p_value"] is not None  # paired test ran


def test_saliency_metrics_from_bench_run(cli, run_args, tmp_path):
    result = invoke(
        cli,
        [
            "run",
            "--model",
            "heartbeit",
            "--weights",
            "random",
            "--task",
            "stemi",
            "--metric",
            "saliency_localisation",
            *run_args[:-4],
            "--fraction",
            "1.0",
            "--run-name",
            "sal",
            "--metric-option",
            "saliency.images=10",
            "--metric-option",
            "saliency.seeds=all",
            "--seed",
            "0",
            "--seed",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / "sal"
    records = load_records([run_dir])
    metrics = {r.metric for r in records}
    assert {"auroc", "auprc", "saliency_localisation", "saliency_entropy"} <= metrics
    for seed in (0, 1):  # every seed's cell explained (seeds=all), each with its overlay
        overlay = f"heartbeit__stemi__synthetic__f1__s{seed}__finetune__gradcam.png"
        assert (run_dir / "saliency" / overlay).is_file()
    by_seed = {r.seed: r for r in records if r.metric == "saliency_localisation"}
    assert sorted(by_seed) == [0, 1]
    localisation = by_seed[0]
    explained = len(localisation.details["record_ids"])
    assert 8 < explained <= 10  # the option's count, of which the overlay draws the first 8
    assert localisation.details["overlay_images"] == 8
    assert len(localisation.details["per_image"]) == explained


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "saliency.imgs=3",
            "metric_options.saliency: unknown key(s) ['imgs']; known: ['images', 'seeds']",
        ),
        (
            "saliency.seeds=some",
            "metric_options.saliency: 'seeds' expects one of ['lowest', 'all'], got 'some'",
        ),
        (
            "saliency.images=0",
            "metric_options.saliency: 'images' expects a positive integer, got 0",
        ),
        ("robustness.n=2", "metric_options: no requested metric reads 'robustness'"),
    ],
)
def test_a_bad_metric_option_fails_before_anything_trains(cli, run_args, tmp_path, option, message):
    args = ["run", "-m", "heartbeit", "--weights", "random", "-t", "stemi", *run_args[:-4],
            "-f", "1.0", "--run-name", "bad", "--metric", "saliency_pointing",
            "--metric-option", option]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0 and message in " ".join(result.output.split())
    assert not (tmp_path / "runs" / "bad" / "cells").exists()


def test_every_command_is_documented_in_docs_cli():
    # a fresh interpreter: click caches each command's help option on first use, so
    # commands invoked by earlier tests through plain groups would render differently
    rendered = subprocess.run([sys.executable, "-m", "bench.commands.clidocs"], capture_output=True,
                              text=True, check=True, cwd=REPO).stdout  # fmt: skip
    text = (REPO / "docs" / "cli.md").read_text()
    assert text == rendered, "docs/cli.md is stale: python -m bench.commands.clidocs > docs/cli.md"
    for command in ("run", "data describe", "leaderboard", "pretrain", "saliency", "wasserstein"):
        assert f"## `bench {command}`" in text


def _manifest_with_a_bad_record(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(80):
        path = tmp_path / f"r{i}.npy"
        label = i % 3 == 0
        signal = rng.normal(0, 0.05, (12, 5000)).astype(np.float32)
        signal[:, ::400] += 1.5 if label else 0.8  # a learnable difference in spike height
        np.save(path, signal)
        rows.append(
            {
                "record_id": f"r{i}",
                "patient_id": f"p{i // 2}",
                "path": path.name,
                "fs": 500,
                "site": "H1",
                "hcm": int(label),
            }
        )
    (tmp_path / "r7.npy").write_bytes(b"not a numpy file")
    return make_manifest(tmp_path / "manifest.csv", rows)


def test_a_bad_record_is_skipped_counted_and_reported_unless_strict(cli, run_args, tmp_path):
    manifest = _manifest_with_a_bad_record(tmp_path)
    args = [
        "run",
        "--model",
        "tiny-cnn",
        "--task",
        "hcm",
        "--source",
        "manifest",
        "--source-option",
        f"manifest.path={manifest}",
        "--fraction",
        "1.0",
        *run_args[:-4],
    ]
    result = invoke(cli, [*args, "--run-name", "lenient"])
    assert result.exit_code == 0, result.output
    assert "1 bad record(s)" in result.output
    report = json.loads((tmp_path / "runs" / "lenient" / "report.json").read_text())
    (message,) = report["bad_records"]["hcm"].values()
    assert "r7.npy" in message
    assert len(load_records([tmp_path / "runs" / "lenient"])) == 2  # auroc + auprc, internal
    strict = invoke(cli, [*args, "--run-name", "strict", "--strict"])
    assert strict.exit_code == 1 and "--strict: bad record r7" in strict.output


def test_a_split_without_validation_skips_its_cells_with_the_reason(cli, run_args, tmp_path):
    """Six patients: stratified 10 % validation rounds to none. Training monitors and
    selects on validation, so the cell is skipped with the reason, never crashed."""
    rows = []
    for i in range(12):
        path = tmp_path / f"r{i}.npy"
        np.save(path, np.random.default_rng(i).normal(0, 0.1, (12, 5000)).astype(np.float32))
        rows.append({"record_id": f"r{i}", "patient_id": f"p{i // 2}", "path": path.name,
                     "fs": 500, "site": "H1", "hcm": int(i // 2 % 2)})  # fmt: skip
    manifest = make_manifest(tmp_path / "manifest.csv", rows)
    args = ["run", "--model", "tiny-cnn", "--task", "hcm", "--source", "manifest",
            "--source-option", f"manifest.path={manifest}", "--fraction", "1.0",
            "--no-external", *run_args[:-4], "--run-name", "small"]  # fmt: skip
    result = invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "no validation ECG in the split" in " ".join(result.output.split())
    report = json.loads((tmp_path / "runs" / "small" / "report.json").read_text())
    assert report["skipped"][0]["reason"].startswith("no validation ECG")
