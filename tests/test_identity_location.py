"""A cell's identity depends on what its data decodes to, not on where the data lies.

The same files in two folders (each with its own input cache, so also other modification
times) give a cell the same identity, hence the same seed and the same predictions bitwise;
a record whose samples change in place changes the identity's cohort hash, and resuming
re-runs the cell. A synthetic cohort, whose signal key is the hash of its config, keeps
the identity it had before signal digests existed (issue 30).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from bench.data.cohort import REQUIRED_COLUMNS, Cohort
from bench.run.cells import identity_hash
from tests.clustered_cells import DEFAULT_RECIPE, CellRun, cli_with, write_clustered_cohort
from tests.data.fixtures_physionet import make_mimic_iv_ecg_dir
from tests.test_resume_identity import differing


def _run(folder: Path, task: str, source: str, *options: str) -> dict[str, Any]:
    """``bench run`` of the tiny-signal cell of ``task`` on ``source`` into ``folder/runs/r``
    (its own cache under ``folder/cache``); returns the report and the one cell's files."""
    args = [
        "run", "-m", "tiny-signal", "-t", task, "-f", "1.0", "--profile", "tiny",
        "--device", "cpu", "--source", source, "--output", str(folder / "runs"),
        "--run-name", "r", "--cache-dir", str(folder / "cache"), *options,
    ]  # fmt: skip
    result = CliRunner().invoke(cli_with(DEFAULT_RECIPE), args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run_dir = folder / "runs" / "r"
    (cell,) = (run_dir / "cells").iterdir()
    records = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    identity = json.loads((cell / "identity.json").read_text())
    assert {r["identity"] for r in records} == {identity_hash(identity)}
    return {
        "report": json.loads((run_dir / "report.json").read_text()),
        "identity": identity,
        "records": records,
        "predictions": (cell / "predictions.csv").read_bytes(),
    }


def test_the_same_files_in_another_folder_give_the_same_identity_and_predictions(tmp_path):
    cells = []
    for name in ("a", "b"):
        folder = tmp_path / name
        manifest = write_clustered_cohort(folder / "cohort", n_patients=40, records_per_patient=2)
        cells.append(CellRun(manifest, folder))
        cells[-1].run()
    a, b = cells
    assert a.identity() == b.identity()
    assert (a.cell_dir / "predictions.csv").read_bytes() == (
        b.cell_dir / "predictions.csv"
    ).read_bytes()
    # one record's samples change in place in b (a new modification time tells the cache)
    first = b.manifest.parent / pd.read_csv(b.manifest).loc[0, "path"]
    signal = np.load(first)
    signal[0, 7] += 0.25
    np.save(first, signal)
    stat = first.stat()
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    report = b.run()
    assert (report["finished"], report["resumed"]) == (1, 0)
    assert [s["changed"] for s in report["rerun_stale"]] == [["cohort"]]
    assert differing(a.identity(), b.identity()) == {"cohort"}


def test_a_wfdb_collection_copied_elsewhere_keeps_its_cells_identities(tmp_path):
    runs = []
    for name in ("a", "b"):
        root = make_mimic_iv_ecg_dir(tmp_path / name / "mimic", n_patients=12).root
        option = ("--source-option", f"mimic-iv-ecg.path={root}")
        runs.append(_run(tmp_path / name, "mimic-iv-ecg-af", "mimic-iv-ecg", *option))
    a, b = runs
    assert a["identity"] == b["identity"] and a["predictions"] == b["predictions"]
    assert a["report"]["inputs"] == b["report"]["inputs"]


def _hash_before_digests(cohort: Cohort, rows: pd.DataFrame) -> str:
    """``Cohort.content_hash`` as it was before signal digests (commit 88e6e5a), for a
    binary task: the signal key and the manifest's required columns."""
    cols = rows[list(REQUIRED_COLUMNS)].sort_values("record_id")
    digest = hashlib.sha256(cohort.cache_key.encode())
    digest.update(pd.util.hash_pandas_object(cols, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def test_a_synthetic_cells_identity_is_what_it_was_before_signal_digests(tmp_path):
    from bench.host.manager import PluginHost
    from bench.run.config import PROFILES
    from bench.run.preparation import load_cohort

    run = _run(tmp_path, "hcm", "synthetic")
    assert run["report"]["inputs"]["hcm"]["unusable"] == 0
    host = PluginHost()
    host.load_default_plugins()
    synthetic = PROFILES["tiny"].synthetic_options("hcm")
    cohort = load_cohort(host.registries.tasks.get("hcm"), "synthetic", synthetic=synthetic)
    assert cohort.content_key
    before = _hash_before_digests(cohort, cohort.manifest)
    assert run["identity"]["cohort"] == before
    assert {r["cohort_hash"] for r in run["records"]} == {before}


def test_verify_rereads_a_file_cohorts_signals_for_its_content_hash(tmp_path):
    """``bench verify`` of a run on files re-derives the cohort hash from the signals as
    they decode now: it passes on the data the run read and fails once a sample changed."""
    manifest = write_clustered_cohort(tmp_path / "cohort", n_patients=40, records_per_patient=2)
    cell = CellRun(manifest, tmp_path)
    cell.run()
    cli = cli_with(DEFAULT_RECIPE)
    verified = CliRunner().invoke(cli, ["verify", str(cell.run_dir), "--verbose"])
    assert verified.exit_code == 0, verified.output
    assert "[pass] split: hcm/manifest: every set and subset equals the canonical" in (
        verified.output.replace("\n", " ")
    )
    first = manifest.parent / pd.read_csv(manifest).loc[0, "path"]
    signal = np.load(first)
    signal[5, 3] -= 0.125
    np.save(first, signal)
    failed = CliRunner().invoke(cli, ["verify", str(cell.run_dir)])
    assert failed.exit_code == 1
    assert "usable records' content hash differs" in failed.output.replace("\n", " ")


def test_a_worker_plans_the_drivers_identity_from_the_caches_alone(tmp_path):
    """An executor's worker opens the caches the driver built (``build=False``) and finds
    the same signal digests there, so it plans the same identity; caches of an index
    without digests are refused, never planned on."""
    from rich.console import Console

    from bench.data.image_cache import CacheMissError
    from bench.host.manager import PluginHost
    from bench.run.cells import CellKey, plan_cell
    from bench.run.config import build_config
    from bench.run.context import CellContext

    host = PluginHost()
    host.load_default_plugins()
    manifest = write_clustered_cohort(tmp_path / "cohort", n_patients=20, records_per_patient=2)
    config = build_config(None, {
        "models": ("resnet1d", "efficientnet-b4"), "tasks": ("hcm",), "fractions": (1.0,),
        "profile": "tiny", "source": "manifest", "output": str(tmp_path / "runs"),
        "source_options": {"manifest": {"path": str(manifest)}},
        "run_name": "w", "cache_dir": str(tmp_path / "cache"),
    })  # fmt: skip
    task = host.registries.tasks.get("hcm")
    plans = []
    for build in (True, False):
        context = CellContext.open(config, host, Console(quiet=True))
        prepared = context.load_task(task, build=build)
        assert len(prepared.arrays) == 2  # an image and a signal cache: the same digests
        key = CellKey("resnet1d", "hcm", "manifest", 1.0, 0, "finetune")
        spec = host.registries.models.get("resnet1d")
        plans.append(plan_cell(context, prepared, spec, key, prepared.train_ids(1.0, 0)))
    assert plans[0].identity == plans[1].identity and plans[0].digest == plans[1].digest
    assert plans[0].identity["cohort"] != prepared.cohort.content_hash(prepared.manifest)
    for index in (tmp_path / "cache").glob("*/index.npz"):
        with np.load(index) as stored:
            np.savez(index, **{k: stored[k] for k in ("header", "ids", "rows", "fingerprints")})
    with pytest.raises(CacheMissError, match="lack their signal digest"):
        context.load_task(task, build=False)
