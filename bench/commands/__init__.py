"""Core ``bench`` sub-commands (plugins add theirs through ``bench_register_commands``)."""

from __future__ import annotations

import click

from bench.commands.data import data_group
from bench.commands.run import run_command


def add_core_commands(cli: click.Group) -> None:
    """Attach the core commands to the root group."""
    cli.add_command(run_command)
    cli.add_command(data_group)
