"""Render the command reference (docs/cli.md) from the commands' own ``--help`` texts.

``python -m bench.commands.clidocs > docs/cli.md``; a test keeps the file in sync, so every
command — core or from a built-in plugin — is documented.
"""

from __future__ import annotations

import click

from bench.cli import make_cli

WIDTH = 100


def _sections(command: click.Command, path: list[str], parent: click.Context | None) -> list[str]:
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    ctx = click.Context(command, info_name=path[-1], parent=parent, **settings)  # fmt: skip
    out = [f"## `{' '.join(path)}`\n\n```text\n{command.get_help(ctx)}\n```\n"]
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None:
                out += _sections(sub, [*path, name], ctx)
    return out


def render() -> str:
    """The full Markdown document."""
    intro = (
        "# Command reference\n\n(Generated from the commands' `--help` by "
        "`python -m bench.commands.clidocs`; do not edit by hand.)\n"
    )
    return "\n".join([intro, *_sections(make_cli(), ["bench"], None)])


if __name__ == "__main__":
    print(render(), end="")
