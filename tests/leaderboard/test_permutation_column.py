"""The leaderboard's paired comparisons carry the paired permutation test beside the
bootstrap (issue 29): for an AUROC difference, ``permutation_p`` is the largest p over
the seeds of ``bench.api.paired_permutation`` on the two rows' saved predictions."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
from bench.leaderboard.aggregate import aggregate, load_store
from bench.leaderboard.paired import differences
from bench.leaderboard.tables import build_tables, to_csv

from bench.api import paired_permutation
from tests.leaderboard.conftest import write_store

MODELS = {"heartbeit": ("mim", 0.9), "weak": ("random", 0.6)}


def _permutation_p_from_files(run: Path, seed: int) -> float:
    """The permutation test on the two models' predictions, read straight from the CSVs."""
    frames = [
        pd.read_csv(run / f"predictions/{model}_1.0_{seed}.csv").set_index("record_id")
        for model in MODELS
    ]
    a, b = frames
    assert a.index.equals(b.index) and (a["label"] == b["label"]).all()
    result = paired_permutation(
        a["label"].to_numpy(), a["score"].to_numpy(), b["score"].to_numpy(),
        a["patient_id"].to_numpy(), seed=0,
    )  # fmt: skip
    return float(result["p_value"])


def test_auroc_differences_carry_the_patient_permutation_p(tmp_path: Path) -> None:
    run = write_store(tmp_path, models=MODELS, seeds=(0, 1), fractions=(1.0,),
                      splits=("internal",))  # fmt: skip
    cells = aggregate(load_store([tmp_path]))
    diffs = differences(cells, "heartbeit", replicates=50)
    by_metric = {d.table[3]: d for d in diffs}
    auroc = by_metric["auroc"]
    assert auroc.seeds_tested == (0, 1) and auroc.note == ""
    expected = max(_permutation_p_from_files(run, seed) for seed in (0, 1))
    assert auroc.permutation_p == expected
    assert 1 / 10_000 < expected < 1  # a real p-value, not the floor nor a constant
    assert by_metric["auprc"].permutation_p is None  # the permutation test is AUROC's

    lines = csv.DictReader(io.StringIO(to_csv(build_tables(cells, diffs))))
    rows = [r for r in lines if r["kind"] == "reference"]
    (line,) = [r for r in rows if r["metric"] == "auroc"]
    assert float(line["permutation_p"]) == float(f"{expected:.6g}")
    assert [r["permutation_p"] for r in rows if r["metric"] == "auprc"] == [""]
