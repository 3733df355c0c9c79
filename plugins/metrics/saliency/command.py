"""``bench saliency``: Grad-CAM maps of a trained cell, scored and drawn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from bench.plugins.metrics.saliency.cam import CAM_METHODS
from rich.console import Console
from rich.table import Table

from bench.api import PROFILES

console = Console()


def _print_table(records: list[Any], title: str) -> None:
    table = Table("metric", "value", "95 % CI", "better", title=title, title_justify="left")
    for r in records:
        ci = "-" if r.ci_low is None else f"{r.ci_low:.3f} – {r.ci_high:.3f}"
        table.add_row(r.metric, f"{r.value:.3f}", ci, "higher" if r.higher_is_better else "lower")
    console.print(table)


@click.command("saliency")
@click.option("--model", "-m", required=True, help="Model name (see `bench list models`).")
@click.option("--task", "-t", required=True, help="Task name (see `bench list tasks`).")
@click.option("--source", default=None, help="Data source (default: the task's default).")
@click.option(
    "--method",
    type=click.Choice([*CAM_METHODS, "integrated-gradients"]),
    default="gradcam",
    show_default=True,
    help="CAM method (image models); signal models: gradcam (over the temporal feature "
    "map) or integrated-gradients (over lead x time).",
)
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A fine-tuned model file (.safetensors).",
)
@click.option(
    "--run",
    "run_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A `bench run` directory: its cell's best checkpoint is used.",
)
@click.option("--fraction", type=float, default=None, help="With --run: the cell's fraction.")
@click.option("--seed", type=int, default=None, help="With --run: the cell's seed.")
@click.option("--n", "n_images", type=click.IntRange(min=1), default=16, show_default=True)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Writes OUTPUT/saliency/results.jsonl and PNG grids.",
)
@click.option(
    "--profile",
    "-p",
    type=click.Choice(sorted(PROFILES)),
    default=None,
    help="Size profile of the checkpoint (default: the run's, else quick).",
)
@click.option("--no-faithfulness", is_flag=True, help="Skip the ROAD faithfulness score.")
@click.pass_context
def saliency_command(ctx: click.Context, **options: Any) -> None:
    """Grad-CAM saliency of a trained model on test ECGs, measured and drawn.

    Image models are explained on the rendered ECG; signal models (ecg-fm, resnet1d) on
    their own input, drawn on the ECG trace.

    Scores the maps of the positive class on up to N internal-test records that have wave
    fiducials (positives first): localisation in the task's ECG region (ST segment for
    stemi, QRS for lvef/hcm; 1 = chance), pointing game, entropy and Gini (diffuse vs
    focused) and ROAD faithfulness. Writes result records (for `bench leaderboard`) and a
    PNG grid of overlays.

    \b
    Examples:
      bench saliency --model heartbeit --task stemi --run runs/quick-1a2b3c
      bench saliency -m resnet152 -t lvef --checkpoint best.safetensors --method gradcam++
    """
    from bench.plugins.metrics.saliency.pipeline import SaliencyError, run_saliency

    if (options["checkpoint"] is None) == (options["run_dir"] is None):
        raise click.UsageError("give exactly one of --checkpoint PATH or --run RUN_DIR")
    try:
        records, grid = run_saliency(ctx.find_root().obj, **options)
    except SaliencyError as exc:
        raise click.ClickException(str(exc)) from None
    _print_table(records, f"saliency: {options['model']} on {options['task']}")
    console.print(f"overlays: {grid}")
