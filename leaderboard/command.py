"""``bench leaderboard``: tables (and figures) generated from result records.

Imported only when the command runs (see :mod:`bench.leaderboard.plugin`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from bench.leaderboard.aggregate import MixedRecordsError
from bench.leaderboard.calibration_cell import PLOTS, write_cell_figure
from bench.leaderboard.html import board_html
from bench.leaderboard.paired import parse_contrast
from bench.leaderboard.report import DEFAULT_METRICS, build_leaderboard
from bench.leaderboard.settings import COMPARISONS_FILE, Comparisons, load_comparisons
from bench.leaderboard.submissions import read_submissions
from bench.leaderboard.tables import RENDERERS

FORMATS = (*RENDERERS, "html")
EXTENSIONS = {"md": "md", "csv": "csv", "latex": "tex", "json": "json", "html": "html"}


def _target(output: Path, fmt: str) -> Path:
    """``output`` itself, or ``output/leaderboard.<ext>`` (``index.html``) for a directory."""
    if output.is_dir() or not output.suffix:
        name = "index.html" if fmt == "html" else f"leaderboard.{EXTENSIONS[fmt]}"
        return output / name
    return output


@click.command("leaderboard")
@click.argument("results_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@click.option("--task", "tasks", multiple=True, help="Only these tasks (repeatable).")
@click.option(
    "--metric", "metrics", multiple=True, default=DEFAULT_METRICS, show_default=True,
    help="Metrics to tabulate (repeatable).",
)  # fmt: skip
@click.option("--split", "splits", multiple=True, type=click.Choice(["internal", "external"]))
@click.option(
    "--comparisons", "comparisons_file", type=click.Path(path_type=Path),
    help=f"YAML file with the default reference and contrasts (default: {COMPARISONS_FILE} "
    "in the working directory, if there is one).",
)  # fmt: skip
@click.option("--reference", default=None, metavar="MODEL[:INIT]",
              help="Reference model for the relative differences (default: the comparisons "
              "file's).")  # fmt: skip
@click.option(
    "--contrast", "contrasts", multiple=True, metavar="FIRST:SECOND",
    help="Compare model FIRST against model SECOND in every table (repeatable; replaces the "
    "comparisons file's contrasts).",
)  # fmt: skip
@click.option("--allow-mixed", is_flag=True, help="Tabulate records of differing versions.")
@click.option(
    "--submissions", "submissions_dir", type=click.Path(path_type=Path, file_okay=False),
    help="Also tabulate the submission bundles (*.zip) in DIR that pass `bench verify`, as "
    "rows marked submitted (⁺); a failing bundle is listed with its failures and left out.",
)  # fmt: skip
@click.option("--replicates", default=500, show_default=True, help="Paired bootstrap replicates.")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write to FILE, or into DIR (html: DIR/index.html + DIR/plots).")  # fmt: skip
@click.option("--plots", "plots_dir", type=click.Path(path_type=Path),
              help="Also write the figures (PNG + SVG) into this directory.")  # fmt: skip
@click.option("--cell", "cell_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Instead of a board: draw one finished cell's --plot from its saved "
              "predictions into --output (FILE.png or FILE.svg).")  # fmt: skip
@click.option("--plot", type=click.Choice(list(PLOTS)), default="reliability",
              show_default=True, help="With --cell: the figure to draw.")  # fmt: skip
def leaderboard_command(
    results_dirs: tuple[Path, ...],
    fmt: str,
    tasks: tuple[str, ...],
    metrics: tuple[str, ...],
    splits: tuple[str, ...],
    comparisons_file: Path | None,
    reference: str | None,
    contrasts: tuple[str, ...],
    allow_mixed: bool,
    replicates: int,
    submissions_dir: Path | None,
    output: Path | None,
    plots_dir: Path | None,
    cell_dir: Path | None,
    plot: str,
) -> None:
    """Tables (and figures) generated from the result records in RESULTS_DIRS (default: runs/).

    Keeps the latest record per cell, summarises seeds (mean ±sd, CI pooled over the seeds'
    bootstrap replicates), compares rows with a paired bootstrap (the reference against
    every row, pretrained against random init, the contrasts), and refuses (exit 2) to mix
    records of different task/source versions or render configs. Markdown and JSON also
    hold the generated Findings and every row's identity. With --cell, draws one cell's
    reliability diagram or decision curve instead (bench leaderboard --cell CELL_DIR
    --plot reliability -o FILE.png).
    """
    if cell_dir is not None:
        if output is None or results_dirs:
            raise click.UsageError("--cell draws into --output FILE and takes no RESULTS_DIRS")
        try:
            click.echo(f"wrote {write_cell_figure(cell_dir, plot, output)}", err=True)
        except ValueError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from None
        return
    try:
        configured = load_comparisons(comparisons_file)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--comparisons") from None
    try:
        pairs = tuple(parse_contrast(c) for c in contrasts) if contrasts else configured.contrasts
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--contrast") from None
    comparisons = Comparisons(reference or configured.reference, pairs)
    with tempfile.TemporaryDirectory() as scratch:
        submitted = read_submissions(submissions_dir, Path(scratch)) if submissions_dir else None
        for line in submitted.refused if submitted else []:
            click.echo(line, err=True)
        try:
            board = build_leaderboard(
                results_dirs or (Path("runs"),), tasks=tasks, metrics=metrics, splits=splits,
                comparisons=comparisons, allow_mixed=allow_mixed, replicates=replicates,
                submissions=submitted.directories if submitted else (),
            )  # fmt: skip
        except (MixedRecordsError, ValueError, FileNotFoundError) as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from None
    if fmt == "html" and output is not None and (output.is_dir() or not output.suffix):
        plots_dir = plots_dir or output / "plots"
    with tempfile.TemporaryDirectory() as scratch:
        figures = board.plot(plots_dir or Path(scratch)) if plots_dir or fmt == "html" else []
        text = board_html(board, figures) if fmt == "html" else board.render(fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    target = _target(output, fmt)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {target}", err=True)
