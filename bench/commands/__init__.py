"""Core ``bench`` sub-commands (plugins add theirs through ``bench_register_commands``).

They are registered lazily: their modules (configuration, splits, numpy, pandas) are
imported only when the command runs or shows its own ``--help``.
"""

from __future__ import annotations

import click

from bench.host.lazy import add_lazy_command


def add_core_commands(cli: click.Group) -> None:
    """Attach the core commands to the root group."""
    add_lazy_command(
        cli,
        "run",
        "bench.commands.run:run_command",
        "Fine-tune and evaluate every cell of a model × task × fraction × seed grid.",
    )
    add_lazy_command(
        cli,
        "rescore",
        "bench.commands.rescore:rescore_command",
        "Recompute the metrics of every finished cell of RUN_DIR from its saved predictions.",
    )
    add_lazy_command(
        cli,
        "robustness",
        "bench.commands.robustness:robustness_command",
        "Re-run every finished cell's selected model of RUN_DIR on perturbed evaluation sets.",
    )
    add_lazy_command(
        cli,
        "cost",
        "bench.commands.cost:cost_command",
        "Re-time the inference latency of each RUN's model configurations on a quiet machine.",
    )
    add_lazy_command(cli, "data", "bench.commands.data:data_group", "Inspect cohorts and splits.")
    add_lazy_command(
        cli,
        "embed",
        "bench.commands.embed:embed_command",
        "Write one embedding per record (the linear probe's features) for a task or an array.",
    )
    add_lazy_command(
        cli,
        "predict",
        "bench.commands.predict:predict_command",
        "Write a released fine-tuned head's per-label probabilities for each record.",
    )
    add_lazy_command(
        cli,
        "convert-weights",
        "bench.commands.convert:convert_weights_command",
        "Convert MODEL's released checkpoint SRC into DST (.safetensors) plus a manifest.",
    )
    add_lazy_command(
        cli,
        "pretrain",
        "bench.commands.pretrain:pretrain_command",
        "Pretrain a model on unlabelled ECGs with the objective it declares.",
    )
    add_lazy_command(
        cli,
        "submit",
        "bench.commands.submit:submit_command",
        "Pack RUN_DIR's records, predictions and splits into one bundle for the leaderboard.",
    )
    add_lazy_command(
        cli,
        "verify",
        "bench.commands.verify:verify_command",
        "Re-derive every number of BUNDLE, a run directory or a plugin's folder.",
    )
