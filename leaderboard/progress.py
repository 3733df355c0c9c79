"""A leaderboard grid's progress, kept in git so that the grid survives its machine.

The v3 grid runs for many hours over several sittings, and the machine of one sitting may
not be there for the next. :func:`save` copies what ``bench run`` needs to count a cell as
done into a folder the repository commits (``leaderboard/progress``): each finished cell's
``identity.json``, ``records.jsonl`` and ``predictions.csv``, the run's ``run.json``,
split files and wall-time ledger, and the pretrained checkpoints in the cache whose
SHA-256 a saved cell's identity names, up to :data:`WEIGHTS_LIMIT` each, under their path
in the cache: ECG-FM's default (1.2 MB at the quick profile, 1.7 h of pretraining).
Larger ones stay out of git (HeartBEiT's default MIM checkpoint is 11.7 MB): their model
recreates them on first use from a seeded recipe (HeartBEiT's: 5 minutes; two creations
on one machine hash the same), and a recreation that differs makes the cells that
started from it stale, so they are re-run rather than served. :func:`restore`
puts them back into the run directories and the cache, only where they are missing, so
``bench run`` skips those cells and trains the rest. Resume stays identity-checked: a
restored cell whose inputs changed is stale and re-run, its changed fields named.

Not saved: each cell's ``checkpoint/`` (megabytes a cell; the trained weights are not a
number of the board) and the overlay PNGs of run-level saliency (megabytes each; its
records are saved). ``bench run`` recomputes a run's run-level metrics (saliency) every
time it runs the config, from the checkpoints of the cells each metric's ``run_cells``
names (saliency: each model × task's cell at the config's largest fraction, of the lowest
seed or, with ``metric_options.saliency.seeds: all``, of every seed), so :func:`restore`
holds those cells back and
``bench run`` trains them again (cells are bitwise reproducible from their identity, so
the retrained cell's ``predictions.csv`` equals the saved one, which ``git diff`` shows
after the next :func:`save`; its records differ only in their timings, creation time and
commit).

    python -m bench.leaderboard.progress save runs/leaderboard-stemi …
    python -m bench.leaderboard.progress restore runs/leaderboard-stemi …
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from bench.api import default_cache_dir, file_sha256, get_host, read_json_object

#: Where the repository keeps the progress of its leaderboard grids.
PROGRESS_DIR = Path("leaderboard") / "progress"
#: What makes a finished cell (``bench.run.store``), without its checkpoint.
CELL_FILES = ("identity.json", "records.jsonl", "predictions.csv")
#: A run's own files besides its cells.
RUN_FILES = ("run.json", "leaderboard_wall_time.json")
#: A run's own folders and what of each is saved: split membership, and the records of
#: its run-level metrics (not their figures).
RUN_FOLDERS = {"splits": "*", "saliency": "*.jsonl"}
#: The largest pretrained checkpoint saved (weights over a few MB stay out of git).
WEIGHTS_LIMIT = 4 * 2**20


def save(run_dir: Path, progress: Path = PROGRESS_DIR, cache: Path | None = None) -> int:
    """Copy ``run_dir``'s finished cells (and its run files and the checkpoints their
    identities name) into ``progress``; the number of cells not saved before."""
    saved_run = progress / "runs" / run_dir.name
    new = 0
    for cell in sorted((run_dir / "cells").glob("*/records.jsonl")):
        target = saved_run / "cells" / cell.parent.name
        new += not (target / "records.jsonl").is_file()
        _copy_files(cell.parent, target, CELL_FILES)
    _copy_files(run_dir, saved_run, RUN_FILES)
    for name, pattern in RUN_FOLDERS.items():
        files = [p.name for p in (run_dir / name).glob(pattern) if p.is_file()]
        _copy_files(run_dir / name, saved_run / name, files)
    _save_weights(_weights_hashes(saved_run), cache or default_cache_dir(), progress / "weights")
    return new


def restore(run_dir: Path, progress: Path = PROGRESS_DIR, cache: Path | None = None) -> int:
    """Copy the saved cells and files of ``run_dir`` back where they are missing (and the
    saved checkpoints into the cache); the number of cells restored."""
    saved_run = progress / "runs" / run_dir.name
    held_back = _explained_cells(saved_run)
    restored = 0
    for cell in sorted((saved_run / "cells").glob("*/records.jsonl")):
        target = run_dir / "cells" / cell.parent.name
        if not (target / "records.jsonl").is_file() and cell.parent.name not in held_back:
            shutil.rmtree(target, ignore_errors=True)  # an interrupted try: the saved one wins
            _copy_files(cell.parent, target, CELL_FILES)
            restored += 1
    for name in RUN_FILES:
        if (saved_run / name).is_file() and not (run_dir / name).is_file():
            _copy_files(saved_run, run_dir, (name,))
    for name in RUN_FOLDERS:
        if (saved_run / name).is_dir() and not (run_dir / name).is_dir():
            shutil.copytree(saved_run / name, run_dir / name)  # recomputed by the next run
    weights = progress / "weights"
    for path in sorted(weights.rglob("*")) if weights.is_dir() else []:
        target = (cache or default_cache_dir()) / path.relative_to(weights)
        if path.is_file() and not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return restored


def _explained_cells(saved_run: Path) -> set[str]:
    """The saved cells whose checkpoints the run's run-level metrics need whenever
    ``bench run`` runs the config: those each metric's ``run_cells`` names (by default each
    model × task's cell at the config's largest fraction and lowest seed)."""
    run_json = saved_run / "run.json"
    if not run_json.is_file():
        return set()
    config = read_json_object(run_json, ProgressError).get("config") or {}
    specs = {spec.name: spec for spec in get_host().registries.metrics}
    run_level = [specs[n] for n in config.get("metrics") or [] if n in specs and specs[n].run]
    default = [(max(config["fractions"]), min(config["seeds"]))]
    explained = {
        cell for spec in run_level for cell in (spec.run_cells or (lambda _: default))(config)
    }
    held_back = set()
    for identity_file in saved_run.glob("cells/*/identity.json"):
        identity = read_json_object(identity_file, ProgressError)
        if (identity.get("fraction"), identity.get("seed")) in explained:
            held_back.add(identity_file.parent.name)
    return held_back


class ProgressError(ValueError):
    """A saved file of the progress folder cannot be read (the message names it)."""


def _copy_files(source: Path, target: Path, names: Iterable[str]) -> None:
    """Copy each named file that exists in ``source`` and differs from ``target``'s copy
    (by size and modification time, which :func:`shutil.copy2` keeps)."""
    for name in names:
        if (source / name).is_file() and not _same(source / name, target / name):
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target / name)


def _same(a: Path, b: Path) -> bool:
    if not b.is_file():
        return False
    first, second = a.stat(), b.stat()
    return (first.st_size, first.st_mtime_ns) == (second.st_size, second.st_mtime_ns)


def _weights_hashes(saved_run: Path) -> set[str]:
    """The SHA-256 of every weights file and sidecar that a saved cell's identity names."""
    hashes: set[str] = set()
    for identity in saved_run.glob("cells/*/identity.json"):
        weights = read_json_object(identity, ProgressError).get("weights", {})
        hashes.update(
            h for h in [weights.get("sha256"), *weights.get("sidecars", {}).values()] if h
        )
    return hashes


def _save_weights(hashes: set[str], cache: Path, into: Path) -> None:
    """Copy the files in ``cache`` whose content hash is one of ``hashes`` into ``into``."""
    for path in _checkpoint_files(cache) if hashes else []:
        target = into / path.relative_to(cache)
        if not target.is_file() and file_sha256(path) in hashes:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def _checkpoint_files(cache: Path) -> Iterator[Path]:
    """Candidate checkpoint files in the cache: every file up to :data:`WEIGHTS_LIMIT`."""
    for path in sorted(cache.rglob("*")) if cache.is_dir() else []:
        if path.is_file() and path.stat().st_size <= WEIGHTS_LIMIT:
            yield path


def main(argv: list[str] | None = None) -> None:
    """``save`` or ``restore`` the progress of the named run directories."""
    parser = argparse.ArgumentParser(prog="python -m bench.leaderboard.progress")
    parser.add_argument("action", choices=["save", "restore"])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--progress", type=Path, default=PROGRESS_DIR)
    args = parser.parse_args(argv)
    for run_dir in args.run_dirs:
        try:
            count = (save if args.action == "save" else restore)(run_dir, args.progress)
        except ProgressError as error:
            raise SystemExit(f"error: {error}") from None
        verb = "newly saved" if args.action == "save" else "restored"
        print(f"{run_dir}: {count} cell(s) {verb} ({args.progress})")


if __name__ == "__main__":
    main()
