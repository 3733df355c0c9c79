"""Regenerate the committed leaderboard (``leaderboard/LEADERBOARD.md`` and its plots)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from leaderboard.report import build_leaderboard
from leaderboard.tables import to_markdown


def write_leaderboard(
    results_dirs: Sequence[Path | str], out_dir: Path | str = "leaderboard", header: str = ""
) -> Path:
    """Write ``out_dir/LEADERBOARD.md`` and ``out_dir/plots/*.png|svg``; return the .md path.

    ``header`` (the command and environment that produced the records) goes at the top,
    verbatim. Figures are linked from the Markdown by relative path; stale figures from an
    earlier generation are removed first so the directory matches the records.
    """
    out = Path(out_dir)
    plots = out / "plots"
    board = build_leaderboard(results_dirs)
    for old in [*plots.glob("*.png"), *plots.glob("*.svg")] if plots.is_dir() else []:
        old.unlink()
    figures = [p for p in board.plot(plots) if p.suffix == ".png"]
    lines = ["# ECG Bench leaderboard", ""]
    if header:
        lines += [header.rstrip(), ""]
    lines += ["Generated from result records by `leaderboard.publish.write_leaderboard`; "
              "do not edit by hand.", "", "## Tables", "", to_markdown(board.tables)]  # fmt: skip
    if figures:
        lines += ["## Figures", ""]
        lines += [f"![{p.stem}](plots/{p.name})\n" for p in figures]
    path = out / "LEADERBOARD.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path
