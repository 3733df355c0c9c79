"""``bench verify``'s own recomputation of "Does the paper hold here?"
(:mod:`bench.leaderboard.verify_claims`) against the board's claims, on stores the tests
write: it agrees with every line and verdict the board prints, and a changed number, a
changed outcome, a changed verdict and a line missing from the Markdown are each caught."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from bench.leaderboard.reference_stats import Resamples, SeedResample
from bench.leaderboard.report import Leaderboard, build_leaderboard
from bench.leaderboard.settings import Comparisons
from bench.leaderboard.verify_claim_lines import saliency_lines
from bench.leaderboard.verify_claims import compare_claims

from bench.api import FAIL, PASS
from tests.leaderboard.conftest import write_store

FRACTIONS = (0.01, 0.1, 1.0)
KEYS = ("model", "init", "selection", "arch", "experiment", "protocol")
Board = tuple[Path, dict[str, Any], list[Any], Callable[..., list[SeedResample]]]


def _stores(root: Path, baselines: str) -> None:
    """HeartBEiT MIM (strong) and its random twin; resnet152 and vit-b16 as ``baselines``:
    weak random-init stand-ins, or ImageNet rows that win (then HeartBEiT has no lead)."""
    common = {"seeds": (0, 1), "fractions": FRACTIONS, "splits": ("internal",)}
    explained = {"saliency": True, "saliency_seeds": (0, 1)}
    init, strength = ("random", 0.3) if baselines == "random" else ("imagenet", 4.0)
    write_store(root, run="mim", models={"heartbeit": ("mim", 2.0)}, **explained, **common)
    write_store(root, run="random", models={"heartbeit": ("random", 0.2)}, **common)
    models = {m: (init, strength) for m in ("resnet152", "vit-b16")}
    write_store(root, run="base", models=models, **explained, **common)


def _seeds_of(board: Leaderboard, data: dict[str, Any]) -> Callable[..., list[SeedResample]]:
    """Each published cell's seeds on the board's resamples, recomputed from the
    predictions by the reference statistics (what ``bench verify`` reads from bundles)."""
    resamples = Resamples(data["resamples"]["replicates"], data["resamples"]["seed"])
    cells = {(c.table, c.model, c.init, c.protocol, c.fraction): c for c in board.cells}

    def seeds_of(table: dict[str, Any], cell: dict[str, Any]) -> list[SeedResample]:
        key = (table["task"], table["source"], table["split"], table["metric"])
        found = cells[(key, cell["model"], cell["init"], cell["protocol"], cell["fraction"])]
        out = []
        for item in sorted(found.records, key=lambda i: i.record.seed):
            frame = pd.read_csv(item.predictions, dtype={"record_id": str, "patient_id": str})
            frame = frame[frame["split"] == item.record.split]
            out.append(resamples.values(frame, item.record.metric, item.record.seed,
                                        min_label_positives=1, regression=False))  # fmt: skip
        return out

    return seeds_of


@pytest.fixture(scope="module", params=["random", "imagenet"])
def published(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Board:
    """A board (reference heartbeit, as the leaderboard's configs/comparisons.yaml) in
    Markdown and JSON; its published cells and differences stand in for the recomputed
    ones, which verify diffs against them apart (tests/leaderboard/test_board_verify.py)."""
    root = tmp_path_factory.mktemp(f"claims-{request.param}")
    _stores(root / "runs", request.param)
    board = build_leaderboard([root / "runs"], metrics=["auroc"], replicates=200,
                              comparisons=Comparisons("heartbeit"))  # fmt: skip
    path = root / "LEADERBOARD.md"
    path.write_text("# header\n\n" + board.markdown())
    data = json.loads(board.render("json"))
    recomputed = [(t, [*t["cells"], *t["differences"]]) for t in data["tables"]]
    return path, data, recomputed, _seeds_of(board, data)


def _failures(board: Board, data: dict[str, Any] | None = None) -> list[str]:
    path, published, recomputed, seeds_of = board
    checks = compare_claims(path, data or published, recomputed, seeds_of)
    return [c.message for c in checks if c.status == FAIL]


def test_every_claim_line_and_verdict_is_recomputed_and_agrees(published: Board) -> None:
    path, data, recomputed, seeds_of = published
    checks = compare_claims(path, data, recomputed, seeds_of)
    assert [(c.status, c.message) for c in checks] == [
        (
            PASS,
            f"4 verdicts and {sum(len(c['evidence']) for c in data['paper_claims'])} lines agree",
        )
    ]
    mim, _, gap, _ = data["paper_claims"]
    assert mim["verdict"] == "holds" and len(gap["evidence"]) == 2
    assert all("Holm p" in line for line in gap["evidence"])  # the gaps were tested


def test_a_changed_gap_number_is_caught(published: Board) -> None:
    data = json.loads(json.dumps(published[1]))
    line = data["paper_claims"][2]["evidence"][0]
    changed = line.replace("low minus 100 % ", "low minus 100 % 1", 1)
    data["paper_claims"][2]["evidence"][0] = changed
    problems = _failures(published, data)
    assert f"printed line no recomputed one gives: {changed}" in problems
    assert any(p.startswith("recomputed line not printed: ") for p in problems)


def test_a_claimed_significance_and_a_changed_verdict_are_caught(published: Board) -> None:
    data = json.loads(json.dumps(published[1]))
    claim = data["paper_claims"][1]  # against the baselines
    head, _, _ = claim["evidence"][0].rpartition("): ")
    claim["evidence"][0] = f"{head}): significant, the paper's direction"
    if claim["evidence"][0] == published[1]["paper_claims"][1]["evidence"][0]:
        claim["evidence"][0] = f"{head}): significant, against the paper"
    data["paper_claims"][0]["verdict"] = "does not hold"
    problems = _failures(published, data)
    assert f"printed line no recomputed one gives: {claim['evidence'][0]}" in problems
    assert "verdict: published 'does not hold' vs recomputed 'holds'" in problems


def test_a_line_missing_from_the_markdown_is_caught(published: Board, tmp_path: Path) -> None:
    path, data, recomputed, seeds_of = published
    line = data["paper_claims"][0]["evidence"][0]
    edited = tmp_path / "LEADERBOARD.md"
    edited.write_text(path.read_text().replace(f"   - {line}\n", ""))
    problems = _failures((edited, data, recomputed, seeds_of))
    assert problems == [
        f"not printed as in the JSON:    - {line}",
        f"{sum(len(c['evidence']) for c in data['paper_claims']) - 1} evidence lines, the JSON "
        f"has {sum(len(c['evidence']) for c in data['paper_claims'])}",
    ]


def test_the_saliency_lines_are_held_to_holm_and_to_agreeing_seeds() -> None:
    """Two counted CNN lines whose intervals alone give p 0.03 each: Holm makes them 0.06,
    not significant; resnet1d's line is for information only. A larger difference is a
    finding on two agreeing seeds, and no finding once a third seed disagrees."""

    def cell(model: str, values: dict[str, float]) -> dict[str, Any]:
        row = dict(zip(KEYS, [model, "random", "validation", model, "e", "finetune"], strict=True))
        return {"task": "stemi", "source": "synthetic", "metric": "saliency_localisation",
                "fraction": 1.0, "seed_values": values, **row}  # fmt: skip

    def difference(second: str, diff: float, half: float) -> dict[str, Any]:
        rows = {k: [cell(m, {})[x] for x in KEYS] for k, m in (("first_row", "heartbeit"),
                                                               ("second_row", second))}  # fmt: skip
        return {"task": "stemi", "source": "synthetic", "metric": "saliency_localisation",
                "first": "heartbeit", "second": second, "diff": diff, "ci_low": diff - half,
                "ci_high": diff + half, "method": "paired bootstrap", "n_pairs": 8, **rows}  # fmt: skip

    half = 0.1 * 1.959963984540054 / 2.1700903775845606  # p = 0.03 for a difference of 0.1
    seeds = {"0": 0.5, "1": 0.6}
    data = {
        "saliency": [cell("heartbeit", {"0": 0.7, "1": 0.7}), cell("resnet152", seeds),
                     cell("efficientnet-b4", seeds), cell("resnet1d", seeds)],
        "saliency_differences": [difference("resnet152", 0.1, half), difference("efficientnet-b4", 0.1, half),
                                 difference("resnet1d", 0.1, half)],
    }  # fmt: skip
    lines = saliency_lines(data)
    assert [line.direction for line in lines] == [0, 0, None]
    assert "Holm p 0.06, seeds 2)" in lines[1].parts[-1] and lines[1].outcome == (
        ": no significant difference"
    )
    assert lines[2].outcome == "): for information, not counted"
    data["saliency_differences"][0]["diff"] = 0.3
    data["saliency_differences"][0]["ci_low"], data["saliency_differences"][0]["ci_high"] = 0.2, 0.4
    assert saliency_lines(data)[0].direction == 1
    data["saliency"][1]["seed_values"] = {"0": 0.5, "1": 0.6, "2": 0.9}
    data["saliency"][0]["seed_values"] = {"0": 0.7, "1": 0.7, "2": 0.7}
    first = saliency_lines(data)[0]
    assert first.direction == 0 and "disagree" in (first.outcome or "")
