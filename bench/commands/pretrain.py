"""``bench pretrain --model NAME [OPTIONS]``: run the pretraining objective a model declares.

A model declares its pretraining command in :attr:`bench.host.specs.ModelSpec.pretrain` (a lazy
``"package.module:command"`` reference); this command looks the model up and hands every
other option to it, so each objective keeps its own options and ``--help``.
"""

from __future__ import annotations

import click
from click.core import ParameterSource

from bench.host.lazy import import_object


@click.command(
    "pretrain",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.option("--model", default="heartbeit", show_default=True,
              help="Model to pretrain with its own objective.")  # fmt: skip
@click.option("--help", "show_help", is_flag=True,
              help="Show this message; with --model, that model's pretraining options.")  # fmt: skip
@click.pass_context
def pretrain_command(ctx: click.Context, model: str, show_help: bool) -> None:
    """Pretrain a model on unlabelled ECGs with the objective it declares.

    HeartBEiT: masked image modelling on rendered ECGs; ECG-FM: wav2vec 2.0 + CMSC + random
    lead masking on raw signals. Every other option belongs to the model's objective:
    `bench pretrain --model NAME --help` lists them.

    \b
    Examples:
      bench pretrain --model heartbeit --steps 400
      bench pretrain --model ecg-fm --profile quick --steps 300 --as-default
    """
    if show_help and ctx.get_parameter_source("model") != ParameterSource.COMMANDLINE:
        click.echo(ctx.get_help())
        return
    host = ctx.find_root().obj
    spec = host.registries.models.get(model)
    if spec.pretrain is None:
        able = sorted(m.name for m in host.registries.models if m.pretrain is not None)
        raise click.BadParameter(
            f"{model!r} declares no pretraining objective; models with one: {', '.join(able)}",
            param_hint="--model",
        )
    command = import_object(spec.pretrain)
    args = [*ctx.args, *(["--help"] if show_help else [])]
    with command.make_context(f"--model {model}", args, parent=ctx) as sub:
        command.invoke(sub)
