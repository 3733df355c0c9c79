"""``bench verify``'s recomputation of the clinical profile
(:mod:`bench.leaderboard.verify_clinical`) against a board built from a store with
calibration and subgroup records: every row agrees, and a changed ECE, a changed gap, an
ECE interval the Markdown does not print and a row no board row names are each caught."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from bench.leaderboard.reference_stats import Resamples
from bench.leaderboard.report import build_leaderboard
from bench.leaderboard.settings import Comparisons
from bench.leaderboard.verify_clinical import verify_clinical
from bench.plugins.metrics.bootstrap import bootstrap_indices, bootstrap_metric

from bench.api import FAIL, NOT_DERIVABLE, PASS, ResultRecord
from bench.run.records import dumps, read_jsonl
from tests.leaderboard.conftest import write_store

Board = tuple[Path, dict[str, Any], list[ResultRecord], Path]
MODELS = {"heartbeit": ("mim", 1.6), "resnet152": ("imagenet", 0.8)}


def _calibration_records(run: Path, records: list[ResultRecord]) -> list[ResultRecord]:
    """Each AUROC record's ECE and Brier (scored as the metric plugin scores them, on the
    predictions made probabilities) and a subgroup gap, on the same predictions."""
    out = []
    for r in records:
        if r.metric != "auroc":
            continue
        frame = pd.read_csv(run / r.details["predictions"])
        frame = frame[frame["split"] == r.split]
        y, p = frame["label"].to_numpy(), frame["score"].to_numpy()
        resamples = bootstrap_indices(frame["patient_id"].to_numpy(), 100, seed=r.seed)
        for metric in ("ece", "brier"):
            got = bootstrap_metric(metric, y, p, resamples)
            out.append(replace(r, metric=metric, value=got.point, ci_low=got.ci_low,
                               ci_high=got.ci_high))  # fmt: skip
        gap = 0.05 + 0.1 * r.seed + r.fraction / 10
        largest = {"largest_gap": {"dimension": "sex", "pair": ["m", f"f{r.seed}"]}}
        out.append(replace(r, metric="subgroup_auroc", value=gap, ci_low=gap - 0.1,
                           ci_high=gap + 0.1, bootstrap=largest))  # fmt: skip
    return out


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Board:
    """Two models × three fractions × two seeds on the internal test set, their scores made
    probabilities (a sigmoid: AUROC and AUPRC unchanged), with ECE, Brier and subgroup
    records; the board in Markdown and JSON."""
    root = tmp_path_factory.mktemp("clinical")
    run = write_store(root / "runs", models=MODELS, seeds=(0, 1), splits=("internal",))
    for csv in (run / "predictions").glob("*.csv"):
        frame = pd.read_csv(csv)
        frame["score"] = 1 / (1 + np.exp(-frame["score"]))
        frame.to_csv(csv, index=False)
    records = list(read_jsonl(run / "results.jsonl"))
    records += _calibration_records(run, records)
    (run / "results.jsonl").write_text(dumps(records))
    board = build_leaderboard([root / "runs"], metrics=["auroc"], replicates=100,
                              comparisons=Comparisons("heartbeit"))  # fmt: skip
    path = root / "LEADERBOARD.md"
    path.write_text("# header\n\n" + board.markdown())
    return path, json.loads(board.render("json")), records, run


def _checks(board: Board, data: dict[str, Any] | None = None, markdown: Path | None = None):
    path, published, records, run = board

    def read(record: ResultRecord) -> pd.DataFrame:
        frame = pd.read_csv(run / record.details["predictions"], dtype={"record_id": str})
        return frame[frame["split"] == record.split]

    data = data or published
    resamples = Resamples(data["resamples"]["replicates"], data["resamples"]["seed"])
    return verify_clinical(markdown or path, data, records, read, resamples)


def _failures(board: Board, data: dict[str, Any] | None = None, markdown: Path | None = None):
    return [c.message for c in _checks(board, data, markdown) if c.status == FAIL]


def test_every_profile_row_is_recomputed_and_agrees(published: Board) -> None:
    checks = _checks(published)
    assert [(c.status, c.message) for c in checks] == [(PASS, "2 profile rows agree")]
    rows = published[1]["clinical_profile"]
    assert all(r["ece_ci"] and r["brier"] is not None and r["gap_ci"] for r in rows)
    assert {r["subgroup"] for r in rows} == {"sex: f1 vs m"}  # the seed with the largest gap


def test_a_changed_ece_and_gap_are_caught(published: Board) -> None:
    data = json.loads(json.dumps(published[1]))
    row = data["clinical_profile"][0]
    ece, gap = row["ece"], row["gap"]
    row["ece"], row["gap"] = ece + 1e-6, gap - 0.01
    problems = _failures(published, data)
    assert f"ece: published {ece + 1e-6!r} vs recomputed {ece!r}" in problems
    assert any(p.startswith("gap: published") for p in problems)


def test_an_ece_interval_the_markdown_does_not_print_is_caught(
    published: Board, tmp_path: Path
) -> None:
    path, data, _, _ = published
    row = data["clinical_profile"][1]
    printed = f"{row['ece']:.3f} ({row['ece_ci'][0]:.3f}–{row['ece_ci'][1]:.3f})"
    changed = tmp_path / "LEADERBOARD.md"
    changed.write_text(path.read_text().replace(printed, f"{row['ece']:.3f} (0.000–1.000)"))
    assert _failures(published, markdown=changed) == [
        f"recomputed {printed} not printed in the row's line"
    ]


def test_a_row_no_board_row_names_is_not_derivable(published: Board) -> None:
    data = json.loads(json.dumps(published[1]))
    data["clinical_profile"][0]["row"] = "somebody else"
    statuses = {(c.status, c.message) for c in _checks(published, data)}
    assert (NOT_DERIVABLE, "0 board rows carry the label 'somebody else'") in statuses
