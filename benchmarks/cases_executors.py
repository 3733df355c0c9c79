"""Executors (issue #15): a tiny-profile grid of 8 cells on ``--workers 2`` and on Ray
with 2 CPUs against ``--workers 1``, and Ray's per-cell scheduling overhead.

The grid is HeartBEiT (random init, the quick model config at the tiny profile's 64 px)
× stemi × fractions 0.5, 1 × seeds 0–3, each cell on 1 CPU (1 intra-op thread on every
executor, so the three runs compute bitwise-equal predictions). Each repeat runs the three
executors one after another into fresh run directories (the image cache is built once,
before timing) and the ratios are per repeat. Ray is started once for the case
(``ray.init(num_cpus=2)``), as a long-lived cluster would be; every cell still gets a
fresh worker process (``max_calls=1``), like a local worker, so both parallel executors
pay one interpreter start-up (torch import, plugin host, cohort) per cell.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import harness
from harness import Load, Paired, Stats, result, timed, unavailable

GRID = ["-m", "heartbeit", "--weights", "random", "-t", "stemi", "--profile", "tiny",
        "-f", "0.5", "-f", "1.0", "-s", "0", "-s", "1", "-s", "2", "-s", "3"]  # fmt: skip
N_CELLS = 8
REUSE = ["--executor-option", "cells_per_worker=0"]
#: Empty Ray tasks per repeat of the overhead case.
N_EMPTY = 16


def _grid(root: Path, name: str, extra: list[str]) -> float:
    """Seconds of one fresh 8-cell grid run with ``extra`` executor flags."""
    from click.testing import CliRunner

    from bench.cli import make_cli

    args = ["run", *GRID, "--output", str(root / "runs"), "--run-name", name,
            "--cache-dir", str(root / "cache"), *extra]  # fmt: skip
    shutil.rmtree(root / "runs" / name, ignore_errors=True)

    def run() -> None:
        outcome = CliRunner().invoke(make_cli(), args, catch_exceptions=False)
        if outcome.exit_code != 0:
            raise RuntimeError(f"bench {' '.join(args)} failed:\n{outcome.output}")

    return timed(run)


def _start_ray() -> Any:
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    return ray


@functools.cache
def _grids() -> tuple[list[float], list[float], list[float], list[float] | None, Load]:
    """Seconds of the grid per repeat on --workers 1, --workers 2 (fresh and reused worker
    processes) and Ray (None without ray), timed together so the rows share repeats."""
    try:
        ray = _start_ray()
    except ImportError:
        ray = None
    root = Path(tempfile.mkdtemp(prefix="bench-executors-"))
    one: list[float] = []
    two: list[float] = []
    reused: list[float] = []
    on_ray: list[float] = []
    try:
        _grid(root, "warm", [])  # builds the image cache once; not timed
        with Load() as load:
            for i in range(harness.repeats()):
                one.append(_grid(root, f"w1-{i}", []))
                two.append(_grid(root, f"w2-{i}", ["--workers", "2"]))
                reused.append(_grid(root, f"w2r-{i}", [*REUSE, "--workers", "2"]))
                if ray is not None:
                    on_ray.append(_grid(root, f"ray-{i}", ["--executor", "ray"]))
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if ray is not None:
            ray.shutdown()
    return one, two, reused, (on_ray if ray is not None else None), load


NOTE = f"{N_CELLS} tiny-profile HeartBEiT cells, 1 CPU each"


def workers_speedup() -> dict[str, Any]:
    """Wall time of the 8-cell grid: --workers 2 (a fresh process per cell) vs --workers 1."""
    one, two, _, _, load = _grids()
    return result(
        "grid of 8 cells: --workers 2 vs --workers 1",
        _paired(two, one),
        load,
        baseline_name="--workers 1 (in process)",
        target="about 1.8x on 2 cores",
        ok=None,
        notes=f"{NOTE}, a fresh worker process per cell, on {os.cpu_count()} cores",
    )


def reused_workers_speedup() -> dict[str, Any]:
    """The same with workers kept for the grid (cells_per_worker=0)."""
    one, _, reused, _, load = _grids()
    return result(
        "grid of 8 cells: --workers 2, cells_per_worker=0 vs --workers 1",
        _paired(reused, one),
        load,
        baseline_name="--workers 1 (in process)",
        target="about 1.8x on 2 cores",
        ok=None,
        notes=f"{NOTE}, 2 worker processes for the whole grid",
    )


def ray_speedup() -> dict[str, Any]:
    """Wall time of the 8-cell grid: --executor ray (2 CPUs) vs --workers 1."""
    one, _, _, on_ray, load = _grids()
    if on_ray is None:
        return unavailable("grid of 8 cells: --executor ray vs --workers 1", "ray not installed")
    return result(
        "grid of 8 cells: --executor ray (2 CPUs) vs --workers 1",
        _paired(on_ray, one),
        load,
        baseline_name="--workers 1 (in process)",
        target="about 1.8x on 2 cores",
        ok=None,
        notes=f"{NOTE}; Ray started once before timing",
    )


def _paired(ours: list[float], baseline: list[float]) -> Paired:
    ratios = tuple(b / a for a, b in zip(ours, baseline, strict=True))
    return Paired(Stats(tuple(ours)), Stats(tuple(baseline)), Stats(ratios))


def ray_overhead() -> dict[str, Any]:
    """Seconds per empty cell on Ray: a task in a fresh worker (``max_calls=1``, what the
    executor submits), against one reusing warm workers."""
    try:
        ray = _start_ray()
    except ImportError:
        return unavailable("Ray per-cell scheduling overhead", "ray is not installed")

    def empty() -> None:
        return None

    fresh = ray.remote(max_calls=1, num_cpus=1)(empty)
    reused = ray.remote(num_cpus=1)(empty)
    try:
        with Load() as load:
            ray.get([reused.remote() for _ in range(N_EMPTY)])  # warm the worker pool
            timing = harness.paired(
                ours=lambda: ray.get([reused.remote() for _ in range(N_EMPTY)]),
                baseline=lambda: ray.get([fresh.remote() for _ in range(N_EMPTY)]),
                warmup=False,
            )
    finally:
        ray.shutdown()
    per_cell = Stats(tuple(v / N_EMPTY for v in timing.baseline.values))
    return result(
        "Ray per-cell overhead: empty task in a fresh worker (max_calls=1)",
        per_cell,
        load,
        unit="s/cell",
        notes=f"{N_EMPTY} empty tasks per repeat on ray.init(num_cpus=2); a task reusing a "
        f"warm worker costs {timing.ours.median / N_EMPTY * 1e3:.1f} ms "
        f"({timing.ratio.median:.0f}x less)",
    )


CASES = [workers_speedup, reused_workers_speedup, ray_speedup, ray_overhead]
