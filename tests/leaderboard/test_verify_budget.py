"""``bench verify``'s recomputation of the budget numbers (:mod:`bench.leaderboard.verify_budget`)
against a board built from a store whose records carry training histories: every caption
and the limits' counts agree, and a changed step, a changed first-evaluation count, a
missing limit and a caption the Markdown does not print are each caught."""

from __future__ import annotations

import json
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bench.leaderboard.report import build_leaderboard
from bench.leaderboard.settings import Comparisons
from bench.leaderboard.verify_budget import verify_budget

from bench.api import FAIL, PASS, ResultRecord
from bench.run.records import dumps, read_jsonl
from tests.leaderboard.conftest import write_store

RULE = "up to 10 epochs (at least 200 steps), early stop after 3 evaluations without a better validation loss"
Board = tuple[Path, dict[str, Any], list[ResultRecord]]


def _trained(record: ResultRecord) -> ResultRecord:
    """``record`` with the history, stopping rule and config of a seeded training run (the
    same for every record of one seed run): at 1 %, heartbeit's and vit_b16's validation
    loss is lowest at their first evaluation, and resnet152 monitors an AUROC that rises
    (6 of 9 seed runs keep their first evaluation); runs shorter than 200 steps stopped
    early."""
    key = f"{record.model}{record.fraction}{record.seed}".encode()
    rng = np.random.default_rng(zlib.crc32(key))
    n = int(rng.integers(4, 14))
    losses = np.cumsum(rng.normal(-0.02, 0.05, n)) + 0.7
    aurocs = rng.uniform(0.5, 0.9, n)
    if record.fraction == 0.01:
        losses, aurocs = 0.5 + np.arange(n) * 0.01, 0.5 + np.arange(n) * 0.01
    history = [{"step": 20 * (i + 1), "validation_loss": float(v), "validation_auroc": float(a)}
               for i, (v, a) in enumerate(zip(losses, aurocs, strict=True))]  # fmt: skip
    monitor = "auroc" if record.model == "resnet152" else "loss"
    details = {**record.details, "history": history, "training": {"stopping_rule": RULE},
               "train_config": {"monitor": monitor, "min_steps": 200, "max_steps": None}}  # fmt: skip
    return replace(record, details=details, converged=True)


def _records_of(records: list[ResultRecord]) -> Any:
    def records_of(table: dict[str, Any], cell: dict[str, Any]) -> list[ResultRecord]:
        key = (table["task"], table["source"], table["split"], table["metric"], cell["model"],
               cell["init"], cell["fraction"])  # fmt: skip
        found = [r for r in records if (r.task, r.source, r.split, r.metric, r.model, r.init,
                                        r.fraction) == key]  # fmt: skip
        return sorted(found, key=lambda r: r.seed)

    return records_of


def _publish(root: Path, **store: Any) -> Board:
    """The board of ``write_store(**store)``'s records, trained, in Markdown and JSON, and
    its records."""
    run = write_store(root / "runs", **store)
    records = [_trained(r) for r in read_jsonl(run / "results.jsonl")]
    (run / "results.jsonl").write_text(dumps(records))
    board = build_leaderboard([root / "runs"], metrics=["auroc"], replicates=50,
                              comparisons=Comparisons("heartbeit"))  # fmt: skip
    path = root / "LEADERBOARD.md"
    path.write_text("# header\n\n" + board.markdown())
    return path, json.loads(board.render("json")), records


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Board:
    """A board of three models × three fractions × three seeds."""
    return _publish(tmp_path_factory.mktemp("budget"), seeds=(0, 1, 2))


def _failures(board: Board, data: dict[str, Any], markdown: Path | None = None) -> list[str]:
    path, _, records = board
    checks = verify_budget(markdown or path, data, _records_of(records))
    return [c.message for c in checks if c.status == FAIL]


def test_every_caption_and_limit_count_is_recomputed_and_agrees(published: Board) -> None:
    path, data, records = published
    checks = verify_budget(path, data, _records_of(records))
    assert [(c.status, c.message) for c in checks] == [
        (PASS, "2 captions and the limits' counts agree")
    ]
    caption = data["tables"][0]["caption"]
    assert "kept their first evaluation: 6 of 9 at 1 %" in caption
    assert "early stopping ended" in caption
    assert any(
        line.startswith("First evaluation kept at 1 %: stemi 6 of 9 ") for line in data["limits"]
    )


def test_a_changed_step_is_caught(published: Board) -> None:
    data = json.loads(json.dumps(published[1]))
    caption = data["tables"][0]["caption"]
    data["tables"][0]["caption"] = caption.replace(
        "Steps per cell: 1 %: ", "Steps per cell: 1 %: 1", 1
    )
    assert any(p.startswith("printed ['Steps per cell: 1 %: 1") for p in _failures(published, data))


def test_a_changed_or_missing_limit_count_is_caught(published: Board) -> None:
    data = json.loads(json.dumps(published[1]))
    at = next(i for i, line in enumerate(data["limits"]) if line.startswith("First evaluation"))
    changed = data["limits"][at].replace("stemi 6 of 9", "stemi 5 of 9")
    data["limits"][at] = changed
    problems = _failures(published, data)
    assert f"not recomputed: {changed!r}" in problems
    assert any(
        p.startswith("missing 'First evaluation kept at 1 %: stemi 6 of 9") for p in problems
    )
    del data["limits"][at]
    assert len(_failures(published, data)) == 1


def test_a_caption_the_markdown_does_not_print_is_caught(published: Board, tmp_path: Path) -> None:
    path, data, _ = published
    caption = data["tables"][1]["caption"]
    changed = tmp_path / "LEADERBOARD.md"
    changed.write_text(path.read_text().replace(caption, caption.replace("at 1 %", "at 10 %"), 1))
    assert _failures(published, data, changed) == ["caption not printed"]


def test_a_limit_is_printed_when_exactly_half_the_runs_kept_their_first_evaluation(
    tmp_path: Path,
) -> None:
    """At 1 % heartbeit's two seed runs keep their first evaluation and resnet152's do not:
    2 of 4 is half, which the board and the verifier both count as a limit."""
    models = {"heartbeit": ("mim", 2.0), "resnet152": ("random", 0.3)}
    path, data, records = _publish(tmp_path, seeds=(0, 1), models=models)
    assert any(x.startswith("First evaluation kept at 1 %: stemi 2 of 4 ") for x in data["limits"])
    checks = verify_budget(path, data, _records_of(records))
    assert [c.status for c in checks] == [PASS]
