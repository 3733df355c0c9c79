"""ECG-FM's ``pretrain`` command (``ModelSpec.pretrain``)."""

from __future__ import annotations

from typing import Any

import click


@click.command("pretrain")
@click.option("--data", default="synthetic", show_default=True,
              help="'synthetic' (the built-in stream, never an external site) or a folder of "
                   "WFDB records (*.hea).")  # fmt: skip
@click.option("--profile", type=click.Choice(["quick", "paper"]), default="quick",
              show_default=True,
              help="quick: CPU-size model; paper: the released ECG-FM architecture and recipe.")  # fmt: skip
@click.option("--steps", type=int, default=None, help="Optimiser steps [profile default].")
@click.option("--batch-size", type=int, default=None,
              help="Recordings per step per process (each gives two 5 s segments).")  # fmt: skip
@click.option("--lr", type=float, default=None, help="Peak learning rate [profile default].")
@click.option("--warmup-steps", type=int, default=None, help="Linear warm-up steps.")
@click.option("--checkpoint-every", type=int, default=0, help="Also checkpoint every N steps.")
@click.option("--output", type=click.Path(file_okay=False), default="runs/pretrain-ecgfm",
              show_default=True)  # fmt: skip
@click.option("--resume", is_flag=True, help="Continue from OUTPUT/train-state.pt.")
@click.option("--as-default", is_flag=True,
              help="Also install the result as the profile's default ECG-FM weights (used by "
                   "bench run without --weights).")  # fmt: skip
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model.")
@click.option("--seed", type=int, default=0, show_default=True)
def pretrain_command(
    data: str, profile: str, steps: int | None, batch_size: int | None, lr: float | None,
    warmup_steps: int | None, checkpoint_every: int, output: str, resume: bool,
    as_default: bool, device: str, compile_: bool, seed: int,
) -> None:  # fmt: skip
    """ECG-FM pretraining: wav2vec 2.0 + CMSC + random lead masking on raw 12-lead ECGs."""
    import dataclasses
    import os
    import shutil

    import torch.distributed as dist
    from bench.plugins.ecgfm.builder import default_checkpoint_path
    from bench.plugins.ecgfm.pretrain import recipe, run_pretraining

    from bench.api import init_distributed

    _, _, defaults = recipe(profile)
    overrides: dict[str, Any] = {
        "steps": steps, "batch_size": batch_size, "lr": lr, "warmup_steps": warmup_steps
    }  # fmt: skip
    try:
        config = dataclasses.replace(
            defaults, **{k: v for k, v in overrides.items() if v is not None},
            checkpoint_every=checkpoint_every, seed=seed, device=device, compile=compile_,
        )  # fmt: skip
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    started = init_distributed(device)
    try:
        try:
            result = run_pretraining(
                source=data, profile=profile, config=config, output_dir=output, resume=resume
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        if (dist.get_rank() if dist.is_initialized() else 0) != 0:
            return
        click.echo(
            f"done: {result.steps} steps, {result.items_per_s:.0f} segments/s; "
            f"checkpoint {result.checkpoint}"
        )
        if as_default and result.checkpoint is not None:
            target = default_checkpoint_path(profile)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            shutil.copyfile(result.checkpoint, tmp)
            os.replace(tmp, target)
            click.echo(f"installed as the default {profile} ECG-FM weights: {target}")
    finally:
        if started:
            dist.destroy_process_group()
