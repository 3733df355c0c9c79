"""Leaderboard v3 statistics and names (issue 31): the significance rule (pooled paired CI,
seeds agreeing, Holm), per-seed values, identical seeds, intervals that miss their own
value on small multi-label test sets, stand-in marks, the init column's words, Δ of 0 vs 0
and the glossary."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from bench.leaderboard.aggregate import STAND_IN_MARK, aggregate, load_store
from bench.leaderboard.findings import findings
from bench.leaderboard.multiplicity import holm
from bench.leaderboard.names import RANDOM_BASELINE, glossary
from bench.leaderboard.paired import NO_DIFFERENCE, ONE_SEED, SEEDS_DISAGREE, Difference, decide
from bench.leaderboard.replicates import Replicates, registered_metrics
from bench.leaderboard.report import build_leaderboard
from bench.leaderboard.seeds import interval_flags, small_sample_caption
from bench.leaderboard.settings import Comparisons
from bench.leaderboard.tabledata import format_difference
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.api import bootstrap_indices, macro_values, percentile_ci
from bench.run.records import dumps, read_jsonl
from tests.leaderboard.conftest import write_store

TABLE = ("stemi", "synthetic", "internal", "auroc")
ROW_A = ("a", "mim", "validation", "a", "e1", "finetune")
ROW_B = ("b", "random", "validation", "b", "e2", "finetune")


def _diff(p: float, seed_diffs: tuple[float, ...], ci: tuple[float, float]) -> Difference:
    return Difference(
        table=TABLE, row=ROW_B, reference=ROW_A, fraction=0.01, rel_diff_pct=5.0,
        significant=None, p_value=p, seeds_tested=tuple(range(len(seed_diffs))),
        ci_low=ci[0], ci_high=ci[1], seed_diffs=seed_diffs,
    )  # fmt: skip


def test_a_difference_is_significant_only_with_all_three_conditions() -> None:
    ok = _diff(1e-6, (0.03, 0.02, 0.04), (0.01, 0.05))
    (got,) = decide([ok])
    assert got.significant is True and got.p_holm == pytest.approx(1e-6)
    disagree = _diff(1e-6, (0.03, 0.02, -0.001), (0.01, 0.05))  # one seed the other way
    spans_zero = _diff(1e-6, (0.03, 0.02, 0.04), (-0.01, 0.05))
    assert [d.significant for d in decide([disagree])] == [False]
    assert [d.significant for d in decide([spans_zero])] == [False]
    # Holm over 40 comparisons: p = 0.002 alone passes, × 40 it does not
    family = decide([_diff(0.002, (0.03, 0.02), (0.01, 0.05))] + [_diff(0.9, (0.1,), (-1, 1))] * 39)
    assert family[0].p_holm == pytest.approx(0.08) and family[0].significant is False


def test_a_comparison_that_is_not_significant_names_the_test_it_fails() -> None:
    """Pooled CI spanning zero, Holm's correction, one seed, seeds disagreeing: each gives its
    own words (the paper-claims section and the Findings print them), in the order the rule
    applies them; a significant or untested comparison has none."""
    holm_fails = decide(
        [_diff(0.002, (0.03, 0.02), (0.01, 0.05))] + [_diff(0.9, (0.1,), (-1, 1))] * 39
    )
    cases = {
        "": _diff(1e-6, (0.03, 0.02, 0.04), (0.01, 0.05)),
        NO_DIFFERENCE: _diff(1e-6, (0.03, 0.02, 0.04), (-0.01, 0.05)),
        ONE_SEED: _diff(1e-6, (0.03,), (0.01, 0.05)),
        SEEDS_DISAGREE: _diff(1e-6, (0.03, 0.02, -0.001), (0.01, 0.05)),
    }
    assert {words: decide([d])[0].shortfall for words, d in cases.items()} == {
        words: words for words in cases
    }
    assert holm_fails[0].shortfall == "not significant after Holm's correction"
    assert _diff(1e-6, (0.03,), (0.01, 0.05)).shortfall == ""  # not decided: not tested


def test_findings_list_seeds_that_disagree_apart_from_one_seed(board) -> None:
    """A comparison whose CI and Holm p pass but whose seeds differ in sign is listed as
    such, not as 'significant on a single seed only' nor as a finding."""
    (d,) = [d for d in board.differences if d.fraction == 0.01]
    disagree = replace(d, ci_low=0.01, ci_high=0.05, p_holm=1e-4, seed_diffs=(0.03, -0.01),
                       significant=False)  # fmt: skip
    (sentence,) = findings([disagree], board.cells).sentences("stemi")
    assert sentence.startswith("Pooled CI and Holm's correction pass but the seeds disagree")
    assert "internal test 1 %" in sentence and "single seed" not in sentence


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_holm_matches_its_definition(p: list[float]) -> None:
    """Each adjusted p is max over the sorted p-values up to its rank of (m − j + 1)·p_(j),
    capped at 1, computed here the long way."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    expected = [0.0] * m
    for rank, i in enumerate(order):
        expected[i] = min(1.0, max((m - j) * p[order[j]] for j in range(rank + 1)))
    assert holm(p) == pytest.approx(expected)
    assert all(a >= b for a, b in zip(holm(p), p, strict=True))


def test_relative_difference_of_zero_vs_zero_prints_a_dash() -> None:
    zero = replace(_diff(0.5, (0.0,), (-0.1, 0.1)), rel_diff_pct=float("nan"))
    assert format_difference(zero) == "—"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HeartBEiT (stand-in arch, quick profile) and a random-init vit-b16 baseline; vit-b16's
    seed 1 predictions are a copy of seed 0's (one replicate shown as two)."""
    root = tmp_path_factory.mktemp("v3") / "runs"
    run = write_store(
        root, models={"heartbeit": ("mim", 1.6), "vit-b16": ("random", 0.4)}, seeds=(0, 1),
        fractions=(0.01, 1.0), splits=("internal",), profile="quick",
    )  # fmt: skip
    for fraction in (0.01, 1.0):
        shutil.copy(
            run / f"predictions/vit-b16_{fraction}_0.csv",
            run / f"predictions/vit-b16_{fraction}_1.csv",
        )
    return root


@pytest.fixture(scope="module")
def board(store: Path):
    return build_leaderboard([store], metrics=["auroc"], replicates=200)


def test_per_seed_values_are_published(board, store: Path) -> None:
    records = [r for r in read_jsonl(store / "run1" / "results.jsonl") if r.metric == "auroc"]
    data = json.loads(board.render("json"))
    cell = next(c for t in data["tables"] for c in t["cells"]
                if c["model"] == "heartbeit" and c["fraction"] == 0.01)  # fmt: skip
    expected = {str(r.seed): r.value for r in records
                if r.model == "heartbeit" and r.fraction == 0.01}  # fmt: skip
    assert cell["seed_values"] == expected
    csv = board.render("csv")
    assert "seed_values" in csv.splitlines()[0]
    assert " ".join(f"{s}:{v:.6g}" for s, v in sorted(expected.items())) in csv
    md = board.markdown()
    assert "## Per-seed values" in md
    assert " ".join(f"{s}: {v:.3f}" for s, v in sorted(expected.items())) in md


def test_identical_seeds_say_so(board) -> None:
    flags = {(c.model, c.fraction): c.identical_seeds for c in board.cells}
    assert flags == {("heartbeit", 0.01): False, ("heartbeit", 1.0): False,
                     ("vit-b16", 0.01): True, ("vit-b16", 1.0): True}  # fmt: skip
    md = board.markdown()
    assert "all 2 seeds produced identical predictions: one replicate shown as 2" in md
    row = next(
        ln for ln in md.splitlines() if ln.startswith(f"| vit-b16 | vit-b16 | {RANDOM_BASELINE}")
    )
    assert row.endswith(" ≡ |")


def test_stand_ins_are_marked_and_the_init_column_says_why_random(board) -> None:
    md = board.markdown()
    hb = f"heartbeit{STAND_IN_MARK}"
    # heartbeit's arch (BEiT width 192) is not its name: a stand-in, everywhere it is named
    assert f"| {hb} | BEiT (width 192, depth 6) |" in md
    assert f"Δ {hb} vs" in md
    assert "quick-profile stand-in" in md
    # vit-b16 built the architecture it is named after: no mark; its init says why random
    assert f"| vit-b16 | vit-b16 | {RANDOM_BASELINE} |" in md
    for sentence in board.findings.sentences("stemi"):
        assert "heartbeit " not in sentence.replace(hb, "")  # never the bare paper name
    # every table that names it by row (rows, tables, clinical profile, per-seed values)
    first_cells = [ln.split("|")[1].strip() for ln in md.splitlines() if ln.startswith("| heart")]
    assert len(first_cells) >= 4 and all(cell.startswith(hb) for cell in first_cells)
    assert [row.row for row in board.clinical if row.row.startswith("heartbeit")] == [hb]


def test_the_glossary_defines_what_the_board_prints(board) -> None:
    md = board.markdown()
    section = md.split("## Abbreviations")[1]
    for word in ("AUROC", "CI", "mim", "Holm", "Δ"):
        assert f"**{word}**" in section
    assert "wcr" not in glossary("heartbeit (mim) vs vit-b16")
    assert "ECG-FM's pretraining objective" in glossary("ecg-fm (wcr)")["wcr"]


def test_small_multilabel_auprc_intervals_can_miss_their_own_value() -> None:
    """Why LUDB's AUPRC intervals sit above a seed's own value: on 38 ECGs with 17 labels of
    one or two positives each, every label's bootstrap AUPRC is biased upward (a resample
    that duplicates a positive raises the precision at its rank), the macro adds the biases
    up, and the percentile interval ends above the point estimate."""
    rng = np.random.default_rng(1)
    n, k = 38, 17
    spec = registered_metrics()["auprc"]
    groups = np.array([f"p{i}" for i in range(n)])
    resamples = bootstrap_indices(groups, replicates=500, seed=0, unit="patient")
    missed = 0
    for _ in range(10):
        y = np.zeros((n, k), dtype=int)
        for j in range(k):
            y[rng.choice(n, size=rng.integers(1, 3), replace=False), j] = 1
        macro = macro_values(spec, y, rng.normal(size=(n, k)), groups, resamples, 1)
        low, _ = percentile_ci(macro.replicates)
        assert macro.replicates.mean() > macro.point  # the upward bias
        missed += low > macro.point
    assert missed >= 1


def test_an_interval_that_excludes_its_own_value_is_flagged(tmp_path: Path) -> None:
    write_store(
        tmp_path, models={"heartbeit": ("mim", 1.0)}, fractions=(1.0,), splits=("internal",)
    )
    (cell,) = aggregate(r for r in load_store([tmp_path]) if r.record.metric == "auroc")
    values = Replicates(100, metrics={})  # no recomputation: the record's own CI is checked
    assert interval_flags(cell, values) == ()
    (item,) = cell.records
    shifted = replace(item, record=replace(item.record, ci_low=item.record.value + 0.01,
                                           ci_high=item.record.value + 0.1))  # fmt: skip
    (flag,) = interval_flags(replace(cell, records=(shifted,)), values)
    assert (
        flag.startswith("seed 0: its bootstrap interval [") and "lies above its own value" in flag
    )


def test_a_small_test_set_gets_its_caption(board) -> None:
    cells = [c for c in board.cells if c.metric == "auroc"]
    assert small_sample_caption(cells) == ""  # 240 test ECGs
    ludb = [replace(c, n=37 + i % 4) for i, c in enumerate(cells)]
    assert small_sample_caption(ludb).startswith("Small sample: 37–40 test ECGs.")


def test_a_comparison_with_a_cell_that_did_not_converge_is_noted_once(tmp_path: Path) -> None:
    run = write_store(
        tmp_path, models={"heartbeit": ("mim", 1.6), "vit-b16": ("random", 0.4)}, seeds=(0, 1),
        fractions=(0.01,), splits=("internal",), profile="quick",
    )  # fmt: skip
    results = run / "results.jsonl"
    records = [
        replace(r, converged=False) if (r.model, r.seed) == ("vit-b16", 1) else r
        for r in read_jsonl(results)
    ]
    results.write_text(dumps(records))
    board = build_leaderboard(
        [tmp_path], metrics=["auroc"], replicates=100, comparisons=Comparisons("heartbeit")
    )
    md = board.markdown()
    assert "- not tested: vit-b16 did not converge" in md
    assert "not tested: not tested" not in md
    claims = json.loads(board.render("json"))
    assert "not tested (not tested" not in json.dumps(claims)
