"""Quantitative Grad-CAM saliency: localisation in the clinically relevant ECG segment,
focus (entropy, Gini) and ROAD faithfulness, plus overlays (``bench saliency``).

The metrics plugin calls :func:`register_saliency` from ``bench_register_metrics`` and
:func:`add_saliency_command` from ``bench_register_commands``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click

    from bench.specs import MetricSpec


def register_saliency(register: Callable[[MetricSpec], None]) -> None:
    """Register the saliency metrics (kind ``"saliency"``) with ``register``."""
    from bench.plugins.metrics.saliency.metrics import saliency_metric_specs

    for spec in saliency_metric_specs():
        register(spec)


def add_saliency_command(cli: click.Group) -> None:
    """Attach ``bench saliency`` to ``cli``."""
    from bench.plugins.metrics.saliency.command import saliency_command

    cli.add_command(saliency_command)


def explain_run(run_dir: Path) -> list[Path]:
    """Saliency for a finished ``bench run`` that asked for ``saliency_*`` metrics.

    Explains the largest-fraction, lowest-seed cell of every model × task in the run's
    config (``run.json``) with Grad-CAM and stores the records in
    ``<run_dir>/saliency/results.jsonl`` beside the overlay PNGs; returns the PNG paths.
    """
    import json

    from bench.plugins.metrics.saliency.pipeline import run_saliency

    from bench.plugin_manager import get_host

    config = json.loads((run_dir / "run.json").read_text())["config"]
    if not any(name.startswith("saliency_") for name in config.get("metrics", ())):
        return []
    grids = []
    for model in config["models"]:
        for task in config["tasks"]:
            _, grid = run_saliency(
                get_host(), model=model, task=task, run_dir=run_dir, output=run_dir,
                source=config["sources"].get(task) or config["source"], method="gradcam",
                n_images=16, fraction=None, seed=None, profile=None, checkpoint=None,
                no_faithfulness=False,
            )  # fmt: skip
            grids.append(grid)
    return grids
