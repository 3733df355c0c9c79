"""Submitted rows: a bundle made with ``bench submit`` from a tiny run of the example
third-party plugin (examples/bench-example-plugin, installed into a fresh target) verifies
and appears on the board as a row marked submitted; a tampered bundle is refused with its
failure named and left out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bundles import flip_first_predictions
from tests.conftest import install_example_plugin

REPO = Path(__file__).resolve().parents[2]
MODEL = "example-signal-linear"


def bench(*args: object, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *map(str, args)], env={**os.environ, **env}, cwd=REPO,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.slow
def test_a_verified_submission_is_a_submitted_row_and_a_tampered_one_is_refused(tmp_path):
    site = install_example_plugin(tmp_path)
    env = {"PYTHONPATH": str(site), "BENCH_STRICT_PLUGINS": "1"}
    for name, model in (("ours", "resnet1d"), ("theirs", MODEL)):
        run = bench(
            "run", "-m", model, "-t", "stemi", "-p", "tiny", "-f", "1.0", "--replicates", "30", "--output", tmp_path / "runs", "--run-name",
            name, "--cache-dir", tmp_path / "cache", env=env,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    made = bench("submit", tmp_path / "runs" / "theirs", "-o", submissions / "theirs.zip", env=env)
    assert made.returncode == 0, made.stdout + made.stderr
    checked = bench("verify", submissions / "theirs.zip", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    flip_first_predictions(submissions / "theirs.zip", submissions / "tampered.zip")

    board = bench(
        "leaderboard", tmp_path / "runs" / "ours", "--submissions", submissions, "--format",
        "json", "--replicates", "30", "--metric", "auroc", env=env,
    )  # fmt: skip
    assert board.returncode == 0, board.stderr
    (refused,) = [line for line in board.stderr.splitlines() if "refused" in line]
    assert refused.startswith("tampered.zip: refused:") and "[FAIL] score" in refused
    data = json.loads(board.stdout)
    cells = [c for t in data["tables"] for c in t["cells"]]
    assert {c["model"]: c["submitted"] for c in cells} == {"resnet1d": False, MODEL: True}
    (row,) = [r for r in data["rows"] if r["model"] == MODEL]
    assert row["label"].endswith("⁺")
    (ours,) = [r for r in data["rows"] if r["model"] == "resnet1d"]
    assert "⁺" not in ours["label"]
    markdown = bench(
        "leaderboard", tmp_path / "runs" / "ours", "--submissions", submissions, "--replicates",
        "30", "--metric", "auroc", env=env,
    ).stdout  # fmt: skip
    assert f"{MODEL}⁺" in markdown and "a submitted row" in markdown
