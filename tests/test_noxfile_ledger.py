"""The leaderboard session's wall-time ledger (noxfile.py) keeps a killed invocation's time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("nox")

NOXFILE = Path(__file__).resolve().parents[1] / "noxfile.py"

KILLED_INSIDE_THE_LEDGER = """
import importlib.util, os, signal, sys, time
from pathlib import Path
spec = importlib.util.spec_from_file_location("noxfile", sys.argv[1])
noxfile = importlib.util.module_from_spec(spec)
spec.loader.exec_module(noxfile)
with noxfile.WallTimeLedger(Path(sys.argv[2]), flush_every=0.05):
    time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _ledger(run_dir: Path) -> dict:
    return json.loads((run_dir / "leaderboard_wall_time.json").read_text())


def test_an_invocation_killed_without_cleanup_keeps_its_wall_time(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "grid"
    for invocation in (1, 2):
        killed = subprocess.run(
            [sys.executable, "-c", KILLED_INSIDE_THE_LEDGER, str(NOXFILE), str(run_dir)],
            cwd=NOXFILE.parent,  # the noxfile reads pyproject.toml from the working directory
        )
        assert killed.returncode == -9
        ledger = _ledger(run_dir)
        assert ledger["invocations"] == invocation
        # each killed invocation slept 1 s inside the ledger, flushed every 0.05 s
        assert 0.8 * invocation <= ledger["seconds"] < 60 * invocation
    assert not list(run_dir.glob("*.partial"))
