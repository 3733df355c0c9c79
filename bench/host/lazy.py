"""Lazy references: implementations named by ``"package.module:attribute"`` and imported
on first use, so that loading every plugin (``bench --help``, ``bench list``) stays cheap.

:class:`LazyGroup` is the root ``bench`` command group: a sub-command registered with
:func:`add_lazy_command` is listed in ``bench --help`` from its one-line help and imported
only when it runs (or its own ``--help`` is shown), in the manner of click's documented
lazy-loading pattern.
"""

from __future__ import annotations

import importlib
from typing import Any

import click


def import_object(target: str) -> Any:
    """The object named by ``"package.module:attribute"`` (dots allowed after the colon).

    Raises :class:`ValueError` for a malformed target and the import's own exception when
    the module is missing.
    """
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"lazy reference {target!r}: expected 'package.module:attribute'")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(
                f"lazy reference {target!r}: {module_name} has no {attribute}"
            ) from None
    return obj


class LazyFunction:
    """A callable standing for ``"package.module:function"``, imported on its first call.

    Spec fields that hold implementations (``ModelSpec.build``, ``MetricSpec.compute``,
    ``TaskSpec.loaders`` values, …) can take one, so that a plugin module stays metadata
    only. It pickles as its target string.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self._function: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._function is None:
            function = import_object(self.target)
            if not callable(function):
                raise TypeError(f"lazy reference {self.target!r} is not callable")
            self._function = function
        return self._function(*args, **kwargs)

    def __reduce__(self) -> tuple[type[LazyFunction], tuple[str]]:
        return LazyFunction, (self.target,)

    def __repr__(self) -> str:
        return f"LazyFunction({self.target!r})"


class LazyGroup(click.Group):
    """A click group whose lazily registered commands are imported on first use."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, tuple[str, str]] = {}

    def add_lazy_command(self, name: str, target: str, short_help: str) -> None:
        """List ``name`` with ``short_help``; import ``target`` (a click command) when used."""
        if name in self.commands or name in self.lazy_commands:
            raise ValueError(f"command {name!r} is already registered")
        self.lazy_commands[name] = (target, short_help)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            target, _ = self.lazy_commands[cmd_name]
            command = import_object(target)
            if not isinstance(command, click.Command):
                raise TypeError(f"{target} is {type(command).__name__}, not a click command")
            self.commands[cmd_name] = command
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, but takes the help of a not-yet-imported command from its registration."""
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        rows = []
        for name in self.list_commands(ctx):
            command = self.commands.get(name)
            if command is None:  # a stand-in shortens the help exactly as click would
                command = click.Command(name, help=self.lazy_commands[name][1])
            if not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def add_lazy_command(cli: click.Group, name: str, target: str, short_help: str) -> None:
    """Register ``target`` (``"pkg.module:command"``) as sub-command ``name`` of ``cli``.

    On the ``bench`` root group the command module is imported only when the command is
    used; on any other group (a plugin's own tests) it is imported and added at once.
    """
    if isinstance(cli, LazyGroup):
        cli.add_lazy_command(name, target, short_help)
    else:
        cli.add_command(import_object(target), name)
