"""Leaderboard speed: building the tables (with paired bootstrap tests) from a result store."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_tables_from_store() -> dict[str, Any]:
    """Seconds to build every table of 3 models × 3 fractions × 2 seeds × 2 splits."""
    from bench.leaderboard.report import build_leaderboard

    from tests.leaderboard.conftest import write_store

    with tempfile.TemporaryDirectory() as scratch:
        write_store(Path(scratch), seeds=(0, 1))
        start = time.perf_counter()
        board = build_leaderboard([scratch], replicates=500)
        seconds = time.perf_counter() - start
    return {
        "name": "leaderboard: build tables incl. paired bootstrap (500 replicates)",
        "value": seconds,
        "unit": "s",
        "notes": f"{len(board.cells)} cells, {len(board.differences)} paired differences, "
        "240 test records each",
    }


CASES = [build_tables_from_store]
