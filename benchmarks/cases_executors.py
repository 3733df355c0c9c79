"""Executors (issue #15): a tiny-profile grid of 8 cells on ``--workers 2`` and on Ray
with 2 CPUs against ``--workers 1``, and Ray's per-cell scheduling overhead.

The grid is HeartBEiT (random init, the quick model config at the tiny profile's 64 px)
× stemi × fractions 0.5, 1 × seeds 0–3, each cell on 1 CPU (1 intra-op thread on every
executor, so the runs compute bitwise-equal predictions). Each repeat runs the executors
one after another into fresh run directories (the image cache is built once, before
timing) and the ratios are per repeat; the rows also list every repeat's ratio.

The baseline runs in this process, whose imports the untimed warm-up grid already paid.
The parallel executors pay their one-time start-up inside the timed repeats: the local
executor's forkserver (which imports torch, timm and the worker stack once per driver
process) starts in the first ``--workers 2`` repeat. Ray is started once for the case
(``ray.init(num_cpus=2)``); its workers, reused from grid to grid as workers of one driver
process are, import them in the first Ray repeat. So repeat 1 shows a cold start and the
later repeats the warm steady state.
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
FRESH = ["--executor-option", "cells_per_worker=1"]
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
    """Seconds of the grid per repeat on --workers 1, --workers 2 (workers kept for the
    grid, the default, and a fresh process per cell) and Ray (None without ray), timed
    together so the rows share repeats."""
    try:
        ray = _start_ray()
    except ImportError:
        ray = None
    root = Path(tempfile.mkdtemp(prefix="bench-executors-"))
    one: list[float] = []
    two: list[float] = []
    fresh: list[float] = []
    on_ray: list[float] = []
    try:
        _grid(root, "warm", [])  # builds the image cache once; not timed
        with Load() as load:
            for i in range(harness.repeats()):
                one.append(_grid(root, f"w1-{i}", []))
                two.append(_grid(root, f"w2-{i}", ["--workers", "2"]))
                fresh.append(_grid(root, f"w2f-{i}", [*FRESH, "--workers", "2"]))
                if ray is not None:
                    on_ray.append(_grid(root, f"ray-{i}", ["--executor", "ray"]))
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if ray is not None:
            ray.shutdown()
    return one, two, fresh, (on_ray if ray is not None else None), load


NOTE = f"{N_CELLS} tiny-profile HeartBEiT cells, 1 CPU each, on {os.cpu_count()} cores"


def _speedup(
    name: str, ours: list[float], baseline: list[float], load: Load, notes: str
) -> dict[str, Any]:
    """A row of ``ours`` against --workers 1, with every repeat's ratio."""
    ratios = tuple(b / a for a, b in zip(ours, baseline, strict=True))
    return result(
        name,
        Paired(Stats(tuple(ours)), Stats(tuple(baseline)), Stats(ratios)),
        load,
        baseline_name="--workers 1 (in process)",
        target="about 1.8x on 2 cores",
        ok=None,
        notes=f"{NOTE}; {notes}; ratio per repeat: " + ", ".join(f"{r:.2f}" for r in ratios),
        ratios=list(ratios),
    )


def workers_speedup() -> dict[str, Any]:
    """Wall time of the 8-cell grid: --workers 2 (the default: workers kept for the grid,
    forked from the forkserver) vs --workers 1."""
    one, two, _, _, load = _grids()
    return _speedup(
        "grid of 8 cells: --workers 2 vs --workers 1",
        two,
        one,
        load,
        "2 workers for the whole grid; repeat 1 starts the forkserver",
    )


def fresh_workers_speedup() -> dict[str, Any]:
    """The same with a fresh worker process per cell (cells_per_worker=1, what GPU cells get)."""
    one, _, fresh, _, load = _grids()
    return _speedup(
        "grid of 8 cells: --workers 2, cells_per_worker=1 vs --workers 1",
        fresh,
        one,
        load,
        "a fresh worker per cell, forked from the warm forkserver",
    )


def ray_speedup() -> dict[str, Any]:
    """Wall time of the 8-cell grid: --executor ray (2 CPUs) vs --workers 1."""
    one, _, _, on_ray, load = _grids()
    if on_ray is None:
        return unavailable("grid of 8 cells: --executor ray vs --workers 1", "ray not installed")
    return _speedup(
        "grid of 8 cells: --executor ray (2 CPUs) vs --workers 1",
        on_ray,
        one,
        load,
        "Ray started once before timing, workers reused (repeat 1 imports torch/timm in them)",
    )


def ray_overhead() -> dict[str, Any]:
    """Seconds per empty cell on Ray: a task reusing a warm worker (what CPU cells get),
    and one in a fresh worker (``max_calls=1``, what GPU cells get). The two are timed in
    separate rounds: a fresh task's worker exits, so alternating them would make the
    reused tasks start workers too."""
    try:
        ray = _start_ray()
    except ImportError:
        return unavailable("Ray per-cell scheduling overhead", "ray is not installed")

    def empty() -> None:
        return None

    fresh = ray.remote(max_calls=1, num_cpus=1)(empty)
    reused = ray.remote(num_cpus=1)(empty)
    try:
        # The load check covers the row's figure (reused workers) only: a fresh worker exits
        # after its task, and the CPU of Ray's exited workers is not always counted as this
        # process's own (they can be reaped outside its process tree): it read as competing
        # load (1.8 of 2 cores) on an idle machine.
        with Load() as load:
            warm = harness.measure(lambda: ray.get([reused.remote() for _ in range(N_EMPTY)]))
        cold = harness.measure(lambda: ray.get([fresh.remote() for _ in range(N_EMPTY)]))
    finally:
        ray.shutdown()
    per_cell = Stats(tuple(v / N_EMPTY for v in warm.values))
    fresh_cell = Stats(tuple(v / N_EMPTY for v in cold.values))
    return result(
        "Ray per-cell overhead: empty task in a reused worker (CPU cells)",
        per_cell,
        load,
        unit="s/cell",
        notes=f"{N_EMPTY} empty tasks per repeat on ray.init(num_cpus=2); in a fresh worker "
        f"(max_calls=1, GPU cells) {fresh_cell.median:.2f} s/cell "
        f"({fresh_cell.min:.2f}–{fresh_cell.max:.2f}), timed outside the load check",
        fresh_s_per_cell=list(fresh_cell.values),
    )


CASES = [workers_speedup, fresh_workers_speedup, ray_speedup, ray_overhead]
