"""Shared helpers of the executor tests: a host with the chaos test models, the CLI (in
process, or as a driver process), and comparisons of two run directories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

REPO = Path(__file__).resolve().parents[2]
#: The chaos grid: ``slow-cnn`` × 2 fractions × these seeds, :data:`CHAOS_CELLS` cells.
CHAOS_SEEDS = (0, 1)
CHAOS_CELLS = 4

#: Record fields that legitimately differ between two runs of the same cell.
#: ``compute`` holds measured latencies and peak memory (the rest of it is deterministic).
VOLATILE = ("run_id", "created", "timings", "git_sha", "compute")


def chaos_host():
    """Default plugins plus :class:`ChaosModels` (importable by worker processes)."""
    from bench.host.manager import PluginHost
    from tests.executors.chaos_plugin import ChaosModels

    host = PluginHost()
    host.load_default_plugins()
    host.register(ChaosModels(), "chaos-models")
    return host


def grid_args(root: Path, name: str, model: str = "tiny-cnn", seeds=(0,)) -> list[str]:
    """A tiny stemi grid of 2 fractions × ``seeds`` into ``root/runs/name``."""
    args = ["run", "-m", model, "-t", "stemi", "--profile", "tiny", "-f", "0.5", "-f", "1.0",
            "--output", str(root / "runs"), "--run-name", name,
            "--cache-dir", str(root / "cache")]  # fmt: skip
    for seed in seeds:
        args += ["--seed", str(seed)]
    return args


def chaos_grid_args(root: Path, name: str = "g") -> list[str]:
    """The chaos grid (see :data:`CHAOS_SEEDS`) into ``root/runs/name``."""
    return grid_args(root, name, model="slow-cnn", seeds=CHAOS_SEEDS)


def start_driver(args: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """``bench ARGS`` with the chaos models as a driver process (``tests.executors.driver``)
    in the repository, with ``env`` added to this environment; stdout and stderr together
    as text on ``stdout``."""
    command = [sys.executable, "-m", "tests.executors.driver", *args]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.Popen(command, cwd=REPO, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def invoke(host, args: list[str]) -> Result:
    """``bench ARGS`` through click's runner with ``host``."""
    from bench.cli import make_cli

    return CliRunner().invoke(make_cli(host), args, catch_exceptions=False)


def cell_files(run: Path) -> dict[str, bytes]:
    """Predictions of every cell of a run, by cell id (raw bytes)."""
    return {p.parent.name: p.read_bytes() for p in sorted(run.glob("cells/*/predictions.csv"))}


def stable_records(run: Path) -> list[dict[str, Any]]:
    """results.jsonl without the fields that differ between two runs of the same cells."""
    out = []
    for line in (run / "results.jsonl").read_text().splitlines():
        record = json.loads(line)
        for key in VOLATILE:
            record.pop(key, None)
        out.append(record)
    return sorted(out, key=lambda r: (r["identity"], r["split"], r["metric"]))


def assert_same_run(a: Path, b: Path) -> None:
    """Same cells, bitwise-equal predictions, equal records (volatile fields aside)."""
    pa, pb = cell_files(a), cell_files(b)
    assert pa and sorted(pa) == sorted(pb)
    for cell in pa:
        assert pa[cell] == pb[cell], f"{cell}: predictions differ"
    assert stable_records(a) == stable_records(b)


def assert_one_record_set(run: Path, n_cells: int) -> None:
    """Every cell done exactly once: no duplicated, lost or partial records."""
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    keys = [(r["model"], r["fraction"], r["seed"], r["split"], r["metric"]) for r in records]
    assert len(keys) == len(set(keys)), "duplicated records"
    cells = {(r["model"], r["fraction"], r["seed"]) for r in records}
    assert len(cells) == n_cells, f"expected {n_cells} cells with records, got {len(cells)}"
    per_cell = {c: sum(1 for k in keys if k[:3] == c) for c in cells}
    assert len(set(per_cell.values())) == 1, f"partial record sets: {per_cell}"
    done = list(run.glob("cells/*/records.jsonl"))
    assert len(done) == n_cells
    assert sum(len(p.read_text().splitlines()) for p in done) == len(records)
