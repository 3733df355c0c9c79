"""``bench run``: fine-tune and evaluate a model × task × fraction × seed grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console

from bench.commands.options import (
    parse_dotted_options,
    parse_source_options,
    parse_weights,
    parse_yaml_options,
    scoring_options,
)
from bench.data.splits import DEFAULT_FRACTIONS
from bench.host.manager import PluginHost
from bench.run.config import PROFILES, PROTOCOL_NAMES, build_config

err_console = Console(stderr=True)


@click.command("run")
@click.option(
    "--model",
    "-m",
    "models",
    multiple=True,
    help="Model name (repeatable). Default: the models their plugins register as default.",
)
@click.option(
    "--task",
    "-t",
    "tasks",
    multiple=True,
    help="Task name (repeatable). Default: the tasks their plugins register as default.",
)
@click.option(
    "--fraction",
    "-f",
    "fractions",
    multiple=True,
    type=float,
    help=f"Training fraction (repeatable). Default: {' '.join(map(str, DEFAULT_FRACTIONS))}.",
)
@click.option(
    "--seed", "-s", "seeds", multiple=True, type=int, help="Seed (repeatable). Default: 0."
)
@click.option(
    "--profile",
    "-p",
    type=click.Choice(sorted(PROFILES)),
    default=None,
    help="Size profile: quick (CPU, default), paper (full protocol, GPU), tiny (smoke tests).",
)
@click.option("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps.")
@click.option("--output", "-o", default=None, help="Directory for runs (default: runs).")
@click.option(
    "--run-name",
    default=None,
    help="Run directory name (default: <profile>-<grid hash>; the same grid resumes).",
)
@click.option(
    "--config",
    "-c",
    "config_file",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML file with the whole grid; flags override its keys.",
)
@click.option(
    "--source",
    default=None,
    help="Data source for every task: synthetic, ptbxl, ludb, muse, manifest or wfdb (a "
    "folder of WFDB/CinC records; see docs/data.md). Default: each task's own default source "
    "(the 'default source' column of `bench list tasks`, e.g. synthetic for the paper's "
    "tasks, ludb for the LUDB ones).",
)
@click.option(
    "--source-option",
    "source_options",
    multiple=True,
    metavar="SOURCE.KEY=VALUE",
    help="Option for a data source, e.g. ludb.path=/data/ludb or synthetic.n_patients=2000.",
)
@click.option(
    "--protocol",
    type=click.Choice(list(PROTOCOL_NAMES)),
    default=None,
    help="Evaluation mode: finetune (full fine-tuning, linear head; default), finetune-attn "
    "(full fine-tuning, attention-pooling head), frozen-attn (frozen encoder, "
    "attention-pooling head) or linear-probe (logistic regression on mean-pooled features).",
)
@click.option(
    "--selection",
    type=click.Choice(["validation", "test", "last"]),
    default=None,
    help="Epoch selection: validation AUROC (default); 'test' is the paper's optimistic choice and is flagged.",
)
@click.option(
    "--validation-rule",
    type=click.Choice(["full", "scaled"]),
    default=None,
    help="Validation set for epoch selection: full (default; the paper's setting: a "
    "full-size held-out set at every fraction) or scaled to the training fraction "
    "(at least 5 positive patients).",
)
@click.option(
    "--weights",
    "weights",
    multiple=True,
    metavar="[MODEL=]PATH",
    help="Initial weights file (or 'random'); MODEL=PATH with several models.",
)
@click.option(
    "--trust-checkpoint",
    is_flag=True,
    help="Allow full unpickling of a released --weights checkpoint that stores Python "
    "objects (it can run code the file carries: only for a file whose origin you trust). "
    "The file is converted once into the cache as safetensors; each cell's identity and "
    "record say so. Better: convert it once with `bench convert-weights ... "
    "--trust-checkpoint`.",
)
@click.option(
    "--recipe",
    default=None,
    metavar="NAME",
    help="Fine-tuning recipe: 'model' (each model's declared recipe; default of the quick "
    "and tiny profiles) or 'paper' (Adam/AdamW, OneCycle 3e-4 → 1e-3 at batch 32; default "
    "of the paper profile). Part of every cell's identity.",
)
@click.option(
    "--recipe-option",
    "recipe_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Change one recipe setting, e.g. lr=5e-4, layer_decay=0.65, head_lr_scale=10 "
    "(VALUE read as YAML); the recipe's name records it.",
)
@click.option(
    "--patience",
    type=click.IntRange(min=1),
    default=None,
    help="Override the profile's early-stopping patience (evaluations without a better "
    "validation loss).",
)
@click.option("--epochs", type=int, default=None, help="Override the profile's epochs.")
@click.option(
    "--max-steps",
    type=int,
    default=None,
    help="Override the profile's optimiser-step cap per cell.",
)
@click.option("--batch-size", type=int, default=None, help="Override the profile's batch size.")
@click.option(
    "--pos-weight",
    is_flag=True,
    help="Multi-label tasks: weigh each label's positives in the BCE loss by "
    "negatives/positives of the training split (YAML: train: {pos_weight: true}). Binary "
    "tasks and the linear probe do not use it: their cells stay the same.",
)
@click.option(
    "--keep-weights",
    type=click.Choice(["none", "selected", "all"]),
    default=None,
    help="What a finished fine-tuned cell keeps of its checkpoint: selected (default: "
    "best.safetensors, what bench robustness re-runs), all (also the resumable training "
    "state, ~3x the weights) or none.",
)
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
    default=None,
    help="Precision of every forward pass: auto (bf16 autocast on CUDA, fp32 elsewhere; the "
    "default), fp32, bf16, or fp16 (linear probe only). Part of the cell identity when not "
    "auto (YAML: train: {precision: bf16}).",
)
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    help="Metric to compute besides the defaults (repeatable; defaults: auroc, auprc; "
    "--no-default-metrics replaces them). saliency_* metrics add Grad-CAM scores for each "
    "model × task at the end of the run.",
)
@click.option(
    "--metric-option",
    "metric_options",
    multiple=True,
    metavar="PLUGIN.KEY=VALUE",
    help="Setting of a metric plugin, e.g. saliency.images=64 (ECGs the saliency_* metrics "
    "explain per model × task; default 64) or saliency.seeds=all (explain every seed's cell "
    "at the largest fraction, not only the lowest seed's). Evaluation only: finished cells "
    "are rescored.",
)
@click.option(
    "--no-default-metrics",
    is_flag=True,
    help="Compute only the --metric metrics, not the defaults.",
)
@click.option("--replicates", type=int, default=None, help="Bootstrap replicates (default 500).")
@scoring_options
@click.option("--no-external", is_flag=True, help="Do not hold out an external-validation site.")
@click.option("--strict", is_flag=True, help="Fail on the first bad record or failed cell.")
@click.option(
    "--cache-dir", default=None, help="Image cache directory (default ~/.cache/ecg-bench)."
)
@click.option(
    "--executor",
    default=None,
    help="Where pending cells run: local (default; --workers processes), ray (one Ray task "
    "per cell), slurm (one submitit job array) or a plugin's executor.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Local executor: worker processes, one cell each (default 1: in this process).",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=None,
    help="Times a failed cell is retried before it is reported failed (default 2).",
)
@click.option(
    "--executor-option",
    "executor_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Executor setting, e.g. address=auto (ray), partition=gpu or max_parallel=16 "
    "(slurm); VALUE is read as YAML.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Plan the grid and print what the executor would run (for slurm the job script), "
    "running nothing: no input cache is built (their size is printed; identities planned "
    "on unchecked records are provisional) and no default weights are created.",
)
@click.option(
    "--log",
    "log",
    multiple=True,
    help="Enable a logger plugin for this run (repeatable), e.g. mlflow (tracking URI from "
    "MLFLOW_TRACKING_URI).",
)
@click.pass_context
def run_command(ctx: click.Context, **options: Any) -> None:
    """Fine-tune and evaluate every cell of a model × task × fraction × seed grid.

    Results go to OUTPUT/RUN_NAME/results.jsonl (one record per metric per cell), with
    per-record predictions beside them. Re-running the same command resumes: finished
    cells are skipped, an interrupted cell restarts from its last checkpoint.

    \b
    Examples:
      bench run --model heartbeit --task stemi
      bench run -m heartbeit -m resnet152 -t lvef -f 0.01 -f 0.1 --seed 0 --seed 1
      bench run --config configs/paper.yaml --device cuda
      bench run --config configs/paper.yaml --workers 4
      bench run --config configs/paper.yaml --executor slurm --executor-option partition=gpu
    """
    host: PluginHost = ctx.find_root().obj
    regs = host.registries
    default_models = tuple(spec.name for spec in regs.models if spec.default)
    default_tasks = tuple(spec.name for spec in regs.tasks if spec.default)
    models = options["models"]
    train_keys = ("epochs", "max_steps", "batch_size", "patience", "precision")
    train = {k: options[k] for k in train_keys if options[k] is not None}
    if options["pos_weight"]:
        train["pos_weight"] = True
    overrides = {
        "models": models,
        "tasks": options["tasks"],
        "fractions": options["fractions"],
        "seeds": options["seeds"],
        "profile": options["profile"],
        "device": options["device"],
        "output": options["output"],
        "run_name": options["run_name"],
        "source": options["source"],
        "source_options": parse_source_options(options["source_options"]),
        "protocol": options["protocol"],
        "selection": options["selection"],
        "validation_rule": options["validation_rule"],
        "weights": parse_weights(options["weights"], models or default_models),
        "trust_checkpoint": True if options["trust_checkpoint"] else None,
        "train": train,
        "recipe": options["recipe"],
        "recipe_options": parse_yaml_options(options["recipe_options"], "--recipe-option"),
        "bootstrap_replicates": options["replicates"],
        "bootstrap_stratified": options["bootstrap_stratified"],
        "min_label_positives": options["min_label_positives"],
        "metrics": options["metrics"],
        "metric_options": parse_dotted_options(
            options["metric_options"], "--metric-option", "PLUGIN"
        ),
        "default_metrics": False if options["no_default_metrics"] else None,
        "external": False if options["no_external"] else None,
        "strict": True if options["strict"] else None,
        "cache_dir": options["cache_dir"],
        "executor": options["executor"],
        "keep_weights": options["keep_weights"],
        "workers": options["workers"],
        "retries": options["retries"],
        "executor_options": parse_yaml_options(options["executor_options"], "--executor-option"),
        "log": options["log"],
    }
    config = build_config(options["config_file"], overrides).with_defaults(
        default_models, default_tasks
    )
    executors = host.registries.executors
    warm_up = executors.get(config.executor).warm_up if config.executor in executors else None
    if warm_up is not None and not options["dry_run"]:
        warm_up(config.workers)  # overlaps the runner's import below
    from bench.run.grid import Runner

    runner = Runner(config, host, console=err_console)
    err_console.print(
        f"[bold]bench run[/] {len(runner.models)} model(s) × {len(runner.tasks)} task(s) × "
        f"{len(config.fractions)} fraction(s) × {len(config.seeds)} seed(s), profile "
        f"[bold]{config.profile}[/] on {runner.device} → {runner.run_dir}"
    )
    summary = runner.run(dry_run=options["dry_run"])
    if options["dry_run"]:
        click.echo(runner.described or "nothing to run: every cell is done")
        return
    err_console.print(
        f"finished {summary.finished} cell(s) ({len(summary.rerun_stale)} re-run because "
        f"their identity changed), resumed {summary.resumed} ({summary.rescored} re-scored), "
        f"skipped {len(summary.skipped)}, failed {len(summary.failed)}; results: "
        f"{runner.run_dir / 'results.jsonl'}"
    )
    if summary.failed:
        ctx.exit(1)
