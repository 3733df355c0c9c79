"""Reproducibility check: one small two-model grid run three ways in fresh processes and
fresh directories — whole, in reversed order, and killed with SIGKILL mid-grid then
resumed — must give bitwise-identical predictions and metric values in every cell.

    python benchmarks/reproduce.py [--profile tiny] [--workdir DIR]

Prints "identical" (exit 0) or the first difference (exit 1).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.run.records import load_records

MODELS = ("resnet152", "vit-b16")
FRACTIONS = ("0.5", "1.0")
SEEDS = ("0", "1")


def bench_args(root: Path, profile: str, reverse: bool) -> list[str]:
    """A `bench run` of the grid into ``root`` (own output and cache directories)."""
    order = (lambda xs: tuple(reversed(xs))) if reverse else (lambda xs: tuple(xs))
    args = [sys.executable, "-m", "bench", "run", "--task", "stemi", "--profile", profile,
            "--output", str(root / "runs"), "--run-name", "grid",
            "--cache-dir", str(root / "cache")]  # fmt: skip
    for flag, values in (("-m", MODELS), ("-f", FRACTIONS), ("-s", SEEDS)):
        for value in order(values):
            args += [flag, value]
    return args


def run(root: Path, profile: str, reverse: bool = False) -> None:
    """Run the grid to completion."""
    subprocess.run(bench_args(root, profile, reverse), check=True, capture_output=True)


def run_killed_then_resumed(root: Path, profile: str) -> int:
    """SIGKILL the grid once a cell is done and another has started, then resume it;
    returns the number of cells finished before the kill."""
    proc = subprocess.Popen(
        bench_args(root, profile, False), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    cells = root / "runs" / "grid" / "cells"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        done = list(cells.glob("*/records.jsonl"))
        started = [
            p for p in cells.glob("*/identity.json") if not (p.parent / "records.jsonl").exists()
        ]
        if done and started:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(list(cells.glob("*/records.jsonl")))
    run(root, profile)
    return before


def cell_outputs(root: Path) -> dict[str, tuple[pd.DataFrame, dict[tuple[str, str], float]]]:
    """Per cell: its predictions and its metric values."""
    cells = root / "runs" / "grid" / "cells"
    values: dict[str, dict[tuple[str, str], float]] = {}
    for record in load_records([root / "runs" / "grid"]):
        cell = Path(record.details["predictions"]).parent.name
        values.setdefault(cell, {})[(record.split, record.metric)] = record.value
    return {
        path.parent.name: (pd.read_csv(path), values.get(path.parent.name, {}))
        for path in sorted(cells.glob("*/predictions.csv"))
    }


def first_difference(a: dict, b: dict, name: str) -> str | None:
    """The first cell where ``b`` differs from ``a`` (predictions or values), or None."""
    if sorted(a) != sorted(b):
        return f"{name}: cells differ: {sorted(set(a) ^ set(b))}"
    for cell in sorted(a):
        pa, va = a[cell]
        pb, vb = b[cell]
        if not pa.equals(pb):
            diff = (pa["score"] - pb["score"]).abs().max()
            return f"{name}: {cell}: predictions differ (max |Δscore| = {diff:.3g})"
        if va != vb:
            return f"{name}: {cell}: metric values differ: {va} vs {vb}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-reproduce-"))
    started = time.perf_counter()
    run(work / "whole", args.profile)
    run(work / "reversed", args.profile, reverse=True)
    killed_after = run_killed_then_resumed(work / "killed", args.profile)
    reference = cell_outputs(work / "whole")
    print(f"{len(reference)} cells; killed after {killed_after} finished cell(s); "
          f"{time.perf_counter() - started:.0f} s in {work}")  # fmt: skip
    for name in ("reversed", "killed"):
        problem = first_difference(reference, cell_outputs(work / name), name)
        if problem:
            print(problem)
            return 1
    print("identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
