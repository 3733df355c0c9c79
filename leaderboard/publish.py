"""Regenerate the committed leaderboard (``leaderboard/LEADERBOARD.md``, its CSV/JSON data,
its HTML page and its plots)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.leaderboard.aggregate import SUBMITTED_MARK
from bench.leaderboard.calibration_plots import write_calibration
from bench.leaderboard.claims_check import replace_facts
from bench.leaderboard.html import write_html
from bench.leaderboard.report import build_leaderboard
from bench.leaderboard.saliency_figures import copy_overlays
from bench.leaderboard.settings import COMPARISONS_FILE, Comparisons, load_comparisons
from bench.leaderboard.submissions import read_submissions

#: The board folder's sub-folder of run bundles (records and predictions behind the board).
RECORDS_DIR = "records"
#: The board folder's sub-folder of third-party submission bundles (pull requests add them).
SUBMISSIONS_DIR = "submissions"


def run_directories(results_dirs: Sequence[Path | str]) -> list[Path]:
    """Every run directory (a ``run.json`` beside a ``results.jsonl``) at or below
    ``results_dirs``, sorted."""
    found = set()
    for path in map(Path, results_dirs):
        for results in [path / "results.jsonl", *path.rglob("results.jsonl")]:
            if results.is_file() and (results.parent / "run.json").is_file():
                found.add(results.parent)
    return sorted(found)


def write_records(results_dirs: Sequence[Path | str], out_dir: Path) -> dict[str, Any]:
    """One submission bundle (:func:`bench.api.write_bundle`) per run directory into
    ``out_dir/records/<run>.zip`` (stale bundles removed first); the JSON's ``records``:
    each bundle's path and size, and their total."""
    from bench.api import get_host, write_bundle

    folder = out_dir / RECORDS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.zip"):
        old.unlink()
    bundles = []
    for run in run_directories(results_dirs):
        name = run.name
        while (folder / f"{name}.zip").exists():
            name += "_"
        target = folder / f"{name}.zip"
        write_bundle(run, target, get_host())
        bundles.append({"bundle": f"{RECORDS_DIR}/{target.name}", "bytes": target.stat().st_size})
    return {"bundles": bundles, "total_bytes": sum(b["bytes"] for b in bundles)}


def write_leaderboard(
    results_dirs: Sequence[Path | str],
    out_dir: Path | str = "leaderboard",
    header: str = "",
    minutes: float | None = None,
    comparisons: Comparisons | None = None,
) -> Path:
    """Write ``out_dir/LEADERBOARD.md``, ``out_dir/leaderboard.csv|json|html`` and
    ``out_dir/plots/*.png|svg``; return the .md path.

    ``header`` (the command and environment that produced the records) goes at the top,
    verbatim; then the generated Findings, the rows' identities and the tables. Figures are
    linked from the Markdown by relative path; stale figures from an earlier generation are
    removed first so the directory matches the records; each model with saliency records
    gets one of its overlay grids copied into the plots and linked from the Saliency section
    (:mod:`bench.leaderboard.saliency_figures`). ``minutes``, the grid's wall
    time, goes into the JSON's ``summary`` (what :mod:`bench.leaderboard.claims_check`
    checks prose against). ``comparisons``: the board's paired comparisons (None: those of
    ``configs/comparisons.yaml`` in the working directory, if any). The records and
    predictions behind the board go beside it,
    one bundle per run directory (:func:`write_records`), their total size stated in the
    Markdown and the JSON's ``records``: ``bench verify out_dir`` recomputes the board
    from them.
    """
    out = Path(out_dir)
    plots = out / "plots"
    with tempfile.TemporaryDirectory() as scratch:
        submitted = read_submissions(out / SUBMISSIONS_DIR, Path(scratch))
        board = build_leaderboard(
            results_dirs, submissions=submitted.directories, comparisons=comparisons
        )
    records = write_records(results_dirs, out)
    records["bundles"] += [
        {"bundle": f"{SUBMISSIONS_DIR}/{p.name}", "bytes": p.stat().st_size, "submitted": True}
        for p in submitted.accepted
    ]
    records["total_bytes"] = sum(b["bytes"] for b in records["bundles"])
    records["refused_submissions"] = submitted.refused
    board.wall_minutes = minutes
    for old in [*plots.glob("*.png"), *plots.glob("*.svg")] if plots.is_dir() else []:
        old.unlink()
    figures = [p for p in board.plot(plots) if p.suffix == ".png"]
    calibration = write_calibration(results_dirs, board.cells, plots)
    board.saliency_figures = copy_overlays(board.saliency, plots)
    data = {**json.loads(board.render("json")), "records": records}
    lines = ["# ECG Bench leaderboard", ""]
    if header:
        lines += [header.rstrip(), ""]
    lines += ["Generated from result records by `leaderboard.publish.write_leaderboard`; "
              "do not edit by hand.", "", evidence_sentence(records),
              "", provenance_sentence(data["summary"]), "", board.markdown()]  # fmt: skip
    if figures:
        lines += ["## Figures", ""]
        lines += [f"![{p.stem}](plots/{p.name})\n" for p in figures]
    lines += [calibration.markdown]
    (out / "leaderboard.csv").write_text(board.render("csv"), encoding="utf-8")
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    (out / "leaderboard.json").write_text(text, encoding="utf-8")
    write_html(board, out / "leaderboard.html", header, figures=[*figures, *calibration.figures])
    path = out / "LEADERBOARD.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path


def evidence_sentence(records: dict[str, Any]) -> str:
    """The board's sentence on the records published beside it."""
    n, size = len(records["bundles"]), records["total_bytes"]
    text = (
        f"The records and predictions behind every number are published beside the board: "
        f"`{RECORDS_DIR}/` and `{SUBMISSIONS_DIR}/` ({n} bundle{'s' * (n != 1)}, "
        f"{size / 1e6:,.2f} MB compressed); `bench verify` on this folder recomputes the "
        "board from them."
    )
    refused = records.get("refused_submissions", [])
    return text + "".join(f"\n\n- Submission left out: {line}" for line in refused)


def provenance_sentence(summary: dict[str, Any]) -> str:
    """Which harness commits trained the board's cells and their summed training time, from
    the board's ``summary`` (:func:`bench.leaderboard.claims_check.board_summary`)."""

    def origin(commits: dict[str, int]) -> str:
        listed = ", ".join(f"`{sha}` ({n})" for sha, n in commits.items())
        return f"commit{'s' * (len(commits) > 1)} {listed}"

    text = (
        f"Its {summary['cells']} cells (distinct cell identities) were trained by harness "
        f"{origin(summary['harness_commits'])}, {summary['train_hours']:.1f} h of "
        "training summed over the cells (measured, not re-derivable)."
    )
    if summary.get("submitted_cells"):
        text += (
            f" The {summary['submitted_cells']} cells of submitted rows ({SUBMITTED_MARK}) "
            f"were trained by their submitters, with harness "
            f"{origin(summary['submitted_commits'])}, and are not in that count or time."
        )
    return text


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m bench.leaderboard.publish RUN_DIR… --minutes M`` (what ``nox -s leaderboard`` runs)."""
    import argparse
    import os
    import platform

    import torch

    from bench.api import git_sha

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("results_dirs", nargs="+", type=Path)
    parser.add_argument("--minutes", type=float, required=True, help="wall time of the runs")
    parser.add_argument("--out-dir", type=Path, default=Path("leaderboard"))
    parser.add_argument(
        "--comparisons", type=Path, default=COMPARISONS_FILE,
        help="the board's paired comparisons (reference model, contrasts); must exist, so "
        "that a publish from another folder cannot drop them silently",
    )  # fmt: skip
    parser.add_argument(
        "--facts", type=Path, nargs="*", default=[Path("README.md"), Path("docs/leaderboard.md")],
        help="prose whose <!-- board-facts --> block is rewritten from the new board (files "
        "that do not exist are skipped)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not args.comparisons.is_file():
        parser.error(f"--comparisons {args.comparisons}: no such file (run from the repository "
                     "root, or name the comparisons file)")  # fmt: skip
    command = os.environ.get("BENCH_LEADERBOARD_COMMAND", "nox -s leaderboard")
    header = (
        f"Generated by `{command}` (configs/leaderboard*.yaml, quick profile) in "
        f"{args.minutes:.0f} min on {platform.platform()}, {os.cpu_count()} CPU cores, "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"CUDA: {torch.cuda.is_available()}; harness commit {git_sha()}."
    )
    note = os.environ.get("BENCH_LEADERBOARD_NOTE")
    if note:
        header += f" {note}"
    comparisons = load_comparisons(args.comparisons)
    print(write_leaderboard(args.results_dirs, args.out_dir, header, args.minutes, comparisons))
    summary = json.loads((args.out_dir / "leaderboard.json").read_text(encoding="utf-8"))["summary"]
    for prose in args.facts:
        text = prose.read_text(encoding="utf-8") if prose.is_file() else None
        if text is not None and replace_facts(text, summary) != text:
            prose.write_text(replace_facts(text, summary), encoding="utf-8")
            print(f"{prose}: board-facts block rewritten")


if __name__ == "__main__":
    main()
