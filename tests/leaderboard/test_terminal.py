"""The results table at the end of ``bench run`` fits 80 columns and cuts nothing."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

from bench.leaderboard.aggregate import SourcedRecord, aggregate, latest_per_cell
from bench.leaderboard.terminal import results_table
from rich.console import Console

from bench.run.records import read_jsonl

LONG_ARCH = "BEiT width 192 depth 6 heads 3 patch 16 at 112 px (quick profile)"


def _render(records: list, width: int = 80) -> str:
    out = io.StringIO()  # not a terminal, as when `bench run` is logged to a file
    Console(file=out, width=width).print(results_table(records, title="Results of r"))
    return out.getvalue()


def test_fits_80_columns_and_prints_every_number_in_full(store: Path) -> None:
    records = list(read_jsonl(store / "run1" / "results.jsonl"))
    records += [replace(r, model="heartbeit-with-a-long-name", arch=LONG_ARCH) for r in records]
    text = _render(records)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in text
    cells = aggregate(latest_per_cell(SourcedRecord(r) for r in records))
    for cell in cells:
        spread = f" ±{cell.std:.2f}" if len(cell.seeds) > 1 else ""
        assert re.search(rf"{cell.fraction * 100:g} %\s+{cell.mean:.2f}{spread}\s", text)
        assert f"{cell.ci_low:.2f}–{cell.ci_high:.2f}" in text
    words = text.split()  # a long model label folds onto several lines, whole
    assert all(word in words for word in f"heartbeit-with-a-long-name = {LONG_ARCH}".split())
    titles = [line.strip() for line in lines if line.startswith("stemi · synthetic · ")]
    assert titles[0] == "stemi · synthetic · training"  # how each cell trained, first
    assert len(titles) == 1 + 5  # internal/external × AUROC/AUPRC, saliency_localisation
    assert lines[0] == "Results of r"


def test_one_row_per_model_and_fraction(store: Path) -> None:
    records = [
        r
        for r in read_jsonl(store / "run1" / "results.jsonl")
        if (r.split, r.metric) == ("internal", "auroc")
    ]
    text = _render(records)
    rows = [line for line in text.splitlines() if re.search(r"\d+ %\s+0\.\d\d", line)]
    assert len(rows) == 3 * 3  # 3 models × 3 fractions
    assert [line.split()[0] for line in rows[::3]] == ["heartbeit", "resnet152", "vit_b16"]


def test_training_table_shows_positives_epochs_and_convergence(store: Path) -> None:
    records = [
        r
        for r in read_jsonl(store / "run1" / "results.jsonl")
        if (r.split, r.metric) == ("internal", "auroc") and r.model == "heartbeit"
    ]
    converged = {0.01: True, 0.1: False}
    training = {"epochs_run": 12.5}
    trained = [
        replace(
            r,
            converged=converged.get(r.fraction),
            details={
                **r.details,
                "n_train_positive": 7 + round(100 * r.fraction),
                "training": training,
            },
        )
        for r in records
    ]
    table = _render(trained).split("stemi · synthetic · internal")[0]
    assert "positives" in table and "converged" in table
    lines = [line.split() for line in table.splitlines() if re.search(r"\d+ %", line)]
    by_fraction = {f"{words[-5]} %": words[-3:] for words in lines}
    assert by_fraction["1 %"] == ["8", "12.5", "yes"]
    assert by_fraction["10 %"] == ["17", "12.5", "NO"]
    assert by_fraction["100 %"] == ["107", "12.5", "–"]  # convergence not recorded


def test_a_seed_whose_metric_is_undefined_leaves_its_cell_undefined(store: Path) -> None:
    """PPV without a positive call is NaN in its record: the run's results table says the
    cell is undefined instead of failing (statistics.stdev raised on the NaN, and the
    table was lost at the end of a run of the v3 grid)."""
    records = [r for r in read_jsonl(store / "run1" / "results.jsonl")
               if r.metric == "auroc" and r.split == "internal"]  # fmt: skip
    ppv = [replace(r, metric="ppv", ci_low=None, ci_high=None,
                   value=float("nan") if r.seed == 1 and r.model == "heartbeit" else 0.5)
           for r in records]  # fmt: skip
    table = _render([*records, *ppv]).split("internal · ppv")[1]
    rows = [line.split() for line in table.splitlines() if " %   " in line]
    assert len(rows) == 9  # 3 models × 3 fractions
    assert [row[-2:] for row in rows[:3]] == [["undefined", "–"]] * 3  # heartbeit's, seed 1 NaN
    assert all(row[-3:] == ["0.50", "±0.00", "–"] for row in rows[3:])
