"""``bench rescore``: recompute a run's metrics from its saved predictions, never training."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from bench.commands.options import scoring_options
from bench.host.manager import PluginHost
from bench.run.config import ConfigError, RunConfig
from bench.run.json_files import read_json_object

err_console = Console(stderr=True)


def run_config_of(run_dir: Path) -> RunConfig:
    """The resolved configuration a run directory was made with (its ``run.json``)."""
    path = run_dir / "run.json"
    if not path.is_file():
        raise ConfigError(f"{path}: not a bench run directory (no run.json)")
    stored = read_json_object(path, ConfigError).get("config")
    if not isinstance(stored, dict):
        raise ConfigError(f"{path}: field 'config': expected the run's configuration object")
    known = {f.name for f in fields(RunConfig)}
    config = RunConfig.from_dict({k: v for k, v in stored.items() if k in known})
    return replace(config, output=str(run_dir.parent), run_name=run_dir.name)


@click.command("rescore")
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    help="Metric to add to the defaults (repeatable); replaces the run's extra metrics.",
)
@click.option("--replicates", type=int, default=None, help="Bootstrap replicates.")
@click.option("--bootstrap-seed", type=int, default=None, help="Seed of the shared resamples.")
@click.option(
    "--bootstrap-unit",
    type=click.Choice(["patient", "record"]),
    default=None,
    help="Resample patients (cluster bootstrap, default) or records.",
)
@scoring_options
@click.pass_context
def rescore_command(ctx: click.Context, run_dir: Path, **options: Any) -> None:
    """Recompute the metrics of every finished cell of RUN_DIR from its saved predictions.

    Nothing is trained: a cell that is not done under its current identity is reported
    and skipped. Records are rewritten with the requested metrics and bootstrap recipe.

    \b
    Examples:
      bench rescore runs/quick-1a2b3c4d --metric brier --metric ece
      bench rescore runs/leaderboard --replicates 2000
    """
    from bench.run.grid import Runner

    host: PluginHost = ctx.find_root().obj
    config = run_config_of(run_dir)
    changes = {
        "metrics": options["metrics"] or None,
        "bootstrap_replicates": options["replicates"],
        "bootstrap_seed": options["bootstrap_seed"],
        "bootstrap_unit": options["bootstrap_unit"],
        "bootstrap_stratified": options["bootstrap_stratified"],
        "min_label_positives": options["min_label_positives"],
    }
    config = replace(config, **{k: v for k, v in changes.items() if v is not None})
    summary = Runner(config, host, console=err_console, score_only=True).run()
    err_console.print(
        f"re-scored {summary.rescored} of {summary.resumed} finished cell(s); "
        f"{len(summary.skipped)} not finished (skipped); results: {run_dir / 'results.jsonl'}"
    )
