"""The prose about the published board (README.md, docs/leaderboard.md) states what the
checked-in board is: its board-facts blocks read as the board's summary generates them and
every sentence that speaks of the board agrees with it (models, fractions, steps, wall
time)."""

from __future__ import annotations

from pathlib import Path

from bench.leaderboard.claims_check import check_files

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_and_the_docs_state_the_published_board() -> None:
    board = ROOT / "leaderboard" / "leaderboard.json"
    assert check_files(board, [ROOT / "README.md", ROOT / "docs" / "leaderboard.md"]) == []
