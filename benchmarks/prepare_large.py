"""Full-size preparation figures (issue 30): a MIMIC-IV-ECG tree of N records, prepared as
a run prepares it for one signal model, at several sizes; then an interruption and resume.

1. Writes ``ROOT/full``: N records in MIMIC-IV-ECG's published layout, through the test
   fixture's writer (:mod:`tests.data.fixtures_physionet`), two processes; a finished tree
   (``ROOT/full/.complete`` holding N) is reused. Each smaller size is ``ROOT/size-n``: the
   first n rows of both CSVs and a ``files`` link to the full tree.
2. For each size, a child process (``--child``) loads the ``mimic-iv-ecg-af`` cohort and runs
   :func:`bench.run.task_data.prepare_task` for the model (it builds the model's signal cache
   into a fresh folder, checks usability, splits), then again on the finished cache (what a
   later run or an executor's worker pays), and checks 16 cached rows against the recipe.
   The parent samples the proportional set size (PSS, /proc/PID/smaps_rollup) of the child
   and its forked cache workers, summed, every 0.2 s.
3. ``--resume-at SIZE``: a fresh build of that size is killed (SIGKILL of its process group)
   once half its rows are in the index, then run again: the figures say how many rows the
   second run still built.

``python benchmarks/prepare_large.py --records 100000 --sizes 10000,30000,100000 --root
/tmp/prepare-large`` (add ``--clean`` to delete the trees and caches afterwards). Prints
one JSON object per measurement and writes them all to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the fixture writer lives in tests/

TASK = "mimic-iv-ecg-af"
#: Distinct synthetic signals; record k is signal k % POOL rolled by a k-dependent shift.
POOL = 64
#: Records written per generation job.
GEN_CHUNK = 1000
_SIGNALS: list[np.ndarray] = []


def _study(k: int) -> tuple[int, int, bool | None]:
    """Subject, study and AF flag of record k: two studies per subject, every third AF,
    every 50th without a report statement (left out by the task)."""
    return 10000032 + 1000 * (k // 2), 40000000 + k, None if k % 50 == 49 else k % 3 == 0


def _write_chunk(bounds: tuple[Path, int, int]) -> None:
    from tests.data.fixtures_physionet import MIMIC_ORDER, mimic_record_path, write_mimic_record

    root, start, stop = bounds
    for k in range(start, stop):
        subject, study, _ = _study(k)
        data = np.roll(_SIGNALS[k % POOL], (k * 37) % 5000, axis=1)
        write_mimic_record(root / mimic_record_path(subject, study), data, MIMIC_ORDER)


def generate(root: Path, n: int, processes: int = 2) -> float:
    """Write an n-record MIMIC-IV-ECG tree at ``root`` (skipped when ``.complete`` says n);
    returns the seconds it took (0 when reused)."""
    from bench.data.signal import STANDARD_LEADS
    from tests.data.fixtures import synthetic_ecg
    from tests.data.fixtures_physionet import (
        FS,
        MIMIC_ORDER,
        mimic_record_path,
        mimic_reports,
        write_mimic_tables,
    )

    marker = root / ".complete"
    if marker.is_file() and marker.read_text().strip() == str(n):
        return 0.0
    started = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    _SIGNALS.clear()
    for seed in range(POOL):
        standard = synthetic_ecg(seed, fs=FS, seconds=10, rr=0.6 + 0.01 * seed).data
        _SIGNALS.append(np.stack([standard[STANDARD_LEADS.index(name)] for name in MIMIC_ORDER]))
    jobs = [(root, s, min(s + GEN_CHUNK, n)) for s in range(0, n, GEN_CHUNK)]
    with get_context("fork").Pool(processes) as pool:
        for done, _ in enumerate(pool.imap_unordered(_write_chunk, jobs), 1):
            print(f"generated {min(done * GEN_CHUNK, n):,}/{n:,}", file=sys.stderr, flush=True)
    records, measurements = [], []
    for k in range(n):
        subject, study, af = _study(k)
        when = f"2180-07-{10 + k % 18:02d} 08:{k % 60:02d}:00"
        records.append([subject, study, study, when, mimic_record_path(subject, study)])
        rr = "" if af is None else str(600 + 10 * (k % POOL))
        measurements.append(
            [subject, study, 6 + k % 3, when, *mimic_reports(af), "<not specified>",
             "60 Hz notch Baseline filter", rr, 40, 140, 180, 280, 560, 60, 45, 50]
        )  # fmt: skip
    write_mimic_tables(root, records, measurements, [])
    marker.write_text(str(n))
    return time.perf_counter() - started


def subset(full: Path, root: Path, n: int) -> Path:
    """``root``: the first n records of ``full`` (both CSVs cut, ``files`` linked)."""
    import pandas as pd

    root.mkdir(parents=True, exist_ok=True)
    for name in ("record_list.csv", "machine_measurements.csv"):
        pd.read_csv(full / name, dtype=str, keep_default_na=False).head(n).to_csv(
            root / name, index=False
        )
    if not (root / "files").exists():
        (root / "files").symlink_to(full / "files")
    return root


def child(root: Path, cache_dir: Path, model: str) -> dict[str, Any]:
    """Prepare ``TASK`` on ``root`` for ``model`` as a run does; timings and checks."""
    from bench.data.image_cache import ImageCache
    from bench.data.preprocess import PreprocessConfig
    from bench.data.render import RenderConfig
    from bench.data.signal_recipe import apply_recipe
    from bench.host.manager import get_host
    from bench.run.preparation import load_cohort, split_for
    from bench.run.scoring import BootstrapRecipe
    from bench.run.task_data import Inputs, prepare_task

    registries = get_host().registries
    task, spec = registries.tasks.get(TASK), registries.models.get(model)
    out: dict[str, Any] = {}
    clock = time.perf_counter()
    cohort = load_cohort(task, "mimic-iv-ecg", {"path": str(root)})
    out["load_cohort_s"] = time.perf_counter() - clock
    inputs = Inputs(PreprocessConfig(), RenderConfig())
    recipe = BootstrapRecipe(replicates=1000, seed=0, unit="patient")
    cache = ImageCache(cache_dir)

    def prepare() -> Any:
        return prepare_task(task, "mimic-iv-ecg", cohort, True, [spec], cache, inputs, recipe)

    clock = time.perf_counter()
    prepared = prepare()
    out["prepare_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    prepared = prepare()
    out["prepare_warm_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    split = split_for(task, cohort, prepared.manifest)
    out["split_s"] = time.perf_counter() - clock
    out["records"] = len(cohort.manifest)
    out["usable"] = len(prepared.manifest)
    out["failed"] = len(prepared.bad_records)
    out["sets"] = {name: len(ids) for name, ids in split.sets.items()}
    (cached,) = prepared.arrays.values()
    rng = np.random.default_rng(0)
    worst = 0.0
    for record_id in rng.choice(prepared.manifest["record_id"].to_numpy(), 16, replace=False):
        expected = apply_recipe(cohort.load_signal(record_id), spec.input.recipe)
        worst = max(worst, float(np.abs(cached.array[cached.row(record_id)] - expected).max()))
    out["check_max_abs_diff"] = worst
    folder = Path(cached.array.filename).parent
    out["cache_folder"] = str(folder)
    out["data_bytes"] = (folder / "data.bin").stat().st_size
    out["index_bytes"] = (folder / "index.npz").stat().st_size
    out["item_shape"] = list(cached.array.shape[1:])
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    out["maxrss_self_mib"], out["maxrss_workers_mib"] = (u.ru_maxrss / 1024 for u in usage)
    out["cpu_s"] = sum(u.ru_utime + u.ru_stime for u in usage)  # whole child, workers included
    return out


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def _pss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def run_child(
    root: Path, cache_dir: Path, model: str, kill_at: int | None = None
) -> dict[str, Any]:
    """Run :func:`child` in a subprocess, sampling its tree's PSS; with ``kill_at``, SIGKILL
    its process group once the cache index holds that many rows."""
    command = [sys.executable, __file__, "--child", "--root", str(root), "--cache", str(cache_dir)]
    command += ["--model", model]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, start_new_session=True)
    peak, killed = 0, False
    while proc.poll() is None:
        peak = max(peak, _pss_kib(_tree(proc.pid)))
        if kill_at is not None and _rows_done(cache_dir) >= kill_at:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
            proc.wait()
            break
        time.sleep(0.2)
    stdout = proc.stdout.read() if proc.stdout else b""
    wall = time.perf_counter() - started
    if killed:
        return {"killed_at_rows": _rows_done(cache_dir), "wall_s": wall}
    if proc.returncode != 0:
        raise SystemExit(f"preparation of {root} failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    result.update(wall_s=wall, peak_pss_tree_mib=peak / 1024)
    return result


def _rows_done(cache_dir: Path) -> int:
    """Rows the cache index under ``cache_dir`` marks done (0 while there is none)."""
    for index in cache_dir.glob("*/index.npz"):
        try:
            with np.load(index, allow_pickle=False) as stored:
                return int(json.loads(stored["header"].tobytes())["n_rows"])
        except (OSError, ValueError, KeyError):
            return 0
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--sizes", default="10000,30000,100000")
    parser.add_argument("--root", type=Path, default=Path("/tmp/prepare-large"))
    parser.add_argument("--model", default="resnet1d")
    parser.add_argument("--resume-at", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--clean", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.root, args.cache, args.model)))
        return
    full = args.root / "full"
    results: list[dict[str, Any]] = []

    def report(entry: dict[str, Any]) -> None:
        print(json.dumps(entry), flush=True)
        results.append(entry)
        if args.out:
            args.out.write_text(json.dumps(results, indent=1))

    report({"generate_s": generate(full, args.records), "records": args.records})
    for n in (int(s) for s in args.sizes.split(",") if s):
        root = full if n == args.records else subset(full, args.root / f"size-{n}", n)
        cache_dir = args.root / f"cache-{n}"
        shutil.rmtree(cache_dir, ignore_errors=True)
        result = run_child(root, cache_dir, args.model)
        result.update(size=n, records_per_s=result["usable"] / result["prepare_s"])
        result["bytes_per_record"] = result["data_bytes"] / result["usable"]
        report(result)
        shutil.rmtree(cache_dir, ignore_errors=True)
    if args.resume_at:
        n = args.resume_at
        root = full if n == args.records else subset(full, args.root / f"size-{n}", n)
        cache_dir = args.root / f"cache-resume-{n}"
        shutil.rmtree(cache_dir, ignore_errors=True)
        killed = run_child(root, cache_dir, args.model, kill_at=n // 2)
        resumed = run_child(root, cache_dir, args.model)
        report({"resume_size": n, "killed": killed, "resumed": resumed})
        shutil.rmtree(cache_dir, ignore_errors=True)
    if args.clean:
        shutil.rmtree(args.root, ignore_errors=True)


if __name__ == "__main__":
    main()
