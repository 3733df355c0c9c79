"""The ``bench`` command line. Plugins add commands through ``bench_register_commands``.

Start-up is kept cheap: plugin modules hold metadata only, sub-commands whose modules are
heavy are registered lazily (:mod:`bench.host.lazy`), and listings are plain aligned text.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from bench import __version__
from bench.host.lazy import LazyGroup
from bench.host.manager import STRICT_PLUGINS_ENV, PluginError, PluginHost, get_host
from bench.host.specs import TaskSpec

LIST_KINDS = ("models", "tasks", "metrics", "tokenizers")
#: Exit code of a command stopped by ``--strict-plugins``.
STRICT_EXIT = 2

#: Errors reported as one line: (module, class, label, exit code). A class is looked up
#: only when its module is already imported (no exception of it can exist otherwise), so
#: the mapping costs no import at start-up.
USER_ERRORS: tuple[tuple[str, str, str, int], ...] = (
    ("bench.host.registry", "UnknownNameError", "error", 2),
    ("bench.run.config", "ConfigError", "config error", 2),
    ("bench.executors", "ExecutorError", "error", 2),
    ("bench.errors", "RunError", "error", 1),
    ("bench.data.cohort", "CohortError", "error", 1),
    ("bench.data.splits", "SplitError", "error", 1),
    ("bench.data.signal", "ECGFormatError", "error", 1),
    ("bench.weights.checkpoints", "CheckpointError", "error", 1),
    ("builtins", "FileNotFoundError", "error", 1),
)


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Plain aligned columns (cheaper to import and print than a rich table)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _host(ctx: click.Context) -> PluginHost:
    host: PluginHost = ctx.find_root().obj
    return host


def _classify(exc: BaseException) -> tuple[str, int] | None:
    """``(label, exit code)`` for an error the CLI reports as one line, else None."""
    for module_name, class_name, label, code in USER_ERRORS:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return label, code
    return None


def _warn(error: PluginError, verbose: bool) -> None:
    click.secho(f"warning: {error.one_line()}", fg="yellow", err=True)
    if verbose and error.traceback:
        click.echo(error.traceback.rstrip(), err=True)


def _task_kind(task: TaskSpec) -> str:
    """A task's kind as ``bench list tasks`` shows it: binary, multi-label (K), regression
    (K targets) or survival."""
    if task.kind == "classification":
        return f"multi-label ({len(task.labels)})" if task.labels else "binary"
    if task.kind == "regression" and task.labels:
        return f"regression ({len(task.labels)})"
    return task.kind


def _list_rows(host: PluginHost, kind: str) -> tuple[list[str], list[list[str]]]:
    regs = host.registries
    if kind == "models":
        header = ["name", "input", "family", "params (paper, M)", "pretrained on", "licence"]
        return [*header, "plugin"], [
            [
                m.name,
                m.input.kind,
                m.meta.family,
                f"{m.meta.paper_params_m or ''}",
                ", ".join(m.meta.pretrained_on) or "-",
                m.meta.licence or "-",
                m.plugin,
            ]
            for m in regs.models
        ]
    if kind == "tasks":
        header = ["name", "kind", "positive class", "version", "default source", "sources"]
        return [*header, "plugin"], [
            [
                t.name,
                _task_kind(t),
                t.positive_class,
                t.version,
                t.default_source,
                ", ".join(sorted(t.loaders)),
                t.plugin,
            ]
            for t in regs.tasks
        ]
    if kind == "metrics":
        return ["name", "kind", "tasks", "default", "description", "plugin"], [
            [
                m.name,
                m.kind,
                ", ".join(m.task_kinds) if m.kind == "scores" else "-",
                "yes" if m.default else "",
                m.description,
                m.plugin,
            ]
            for m in regs.metrics
        ]
    return ["name", "trainable", "description", "plugin"], [
        [t.name, "yes" if t.trainable else "", t.description, t.plugin] for t in regs.tokenizers
    ]


class BenchGroup(LazyGroup):
    """The root group: one-line errors with exit codes, and ``--strict-plugins``.

    Unknown names and configuration errors exit 2 with a suggestion; data and run errors
    exit 1. Under ``--strict-plugins`` a plugin error raised while the command runs (a
    logger's ``bench_result``, say) also turns its exit code into 2.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
        except Exception as exc:
            classified = _classify(exc)
            if classified is None:
                raise
            label, code = classified
            click.secho(f"{label}: ", fg="red", err=True, nl=False)
            click.echo(str(exc), err=True)
            ctx.exit(code)
        if ctx.meta.get("bench.strict") and len(_host(ctx).errors) > ctx.meta["bench.errors"]:
            click.secho("error: a plugin failed and --strict-plugins is set", fg="red", err=True)
            ctx.exit(STRICT_EXIT)
        return result


def make_cli(host: PluginHost | None = None) -> click.Group:
    """Build the root command with every plugin's commands attached."""
    host = host or get_host()

    @click.group(cls=BenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, prog_name="ecg-bench")
    @click.option(
        "--strict-plugins",
        is_flag=True,
        envvar=STRICT_PLUGINS_ENV,
        help=f"Exit 2 if any plugin fails to load, register or run a hook (CI; env "
        f"{STRICT_PLUGINS_ENV}=1).",
    )
    @click.option("--verbose", "-v", is_flag=True, help="Show plugin error tracebacks.")
    @click.pass_context
    def cli(ctx: click.Context, strict_plugins: bool, verbose: bool) -> None:
        """ECG Bench: benchmark ECG models (HeartBEiT, ImageNet baselines, your own) on
        STEMI, low LVEF and HCM with patient-grouped label-fraction splits.

        \b
        Start here:
          bench list models              what can be benchmarked
          bench run --model heartbeit --task stemi
          bench leaderboard --format md  tables from the results
        """
        ctx.obj = host
        host.registries  # noqa: B018 - run the register hooks now, so their errors show here
        if ctx.invoked_subcommand != "plugins":
            for error in host.errors:
                _warn(error, verbose)
        if strict_plugins and host.errors:
            click.secho(
                f"error: {len(host.errors)} plugin error(s) and --strict-plugins is set "
                "(see `bench plugins`)",
                fg="red",
                err=True,
            )
            ctx.exit(STRICT_EXIT)
        ctx.meta["bench.strict"] = strict_plugins
        ctx.meta["bench.errors"] = len(host.errors)
        host.on_hook_error = lambda error: _warn(error, verbose)

    @cli.command("list")
    @click.argument("kind", type=click.Choice(LIST_KINDS), required=False)
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.pass_context
    def list_command(ctx: click.Context, kind: str | None, as_json: bool) -> None:
        """List registered models, tasks, metrics and tokenizers (all kinds by default)."""
        kinds = [kind] if kind else list(LIST_KINDS)
        tables = {k: _list_rows(_host(ctx), k) for k in kinds}
        if as_json:
            result = {
                k: [dict(zip(header, row, strict=True)) for row in rows]
                for k, (header, rows) in tables.items()
            }
            click.echo(json.dumps(result, indent=2))
            return
        for k, (header, rows) in tables.items():
            click.echo(f"{k}\n{format_table(header, rows)}\n")

    @cli.command("plugins")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.pass_context
    def plugins_command(ctx: click.Context, as_json: bool) -> None:
        """List plugins with their version, the hooks they implement and their errors.

        Built-in plugins load unless BENCH_LOAD_PLUGINS (comma-separated names) restricts
        them; third-party plugins come from the ``bench`` entry-point group. A plugin that
        failed to import, used an unknown hook or raised in a hook is listed with status
        ``error`` and the reason (``bench --verbose plugins`` adds the tracebacks).
        """
        host = _host(ctx)
        info = host.plugin_info()
        if as_json:
            errors = [vars(e) for e in host.errors]
            click.echo(json.dumps({"plugins": info, "errors": errors}, indent=2))
            return
        rows = [
            [item["name"], item["version"], item["status"], ", ".join(item["hooks"])]
            for item in info
        ]
        click.echo(format_table(["name", "version", "status", "hooks"], rows))
        verbose = ctx.find_root().params.get("verbose", False)
        for error in host.errors:
            click.secho("error: ", fg="red", nl=False)
            click.echo(error.one_line())
            if verbose and error.traceback:
                click.echo(error.traceback.rstrip())

    from bench.commands import add_core_commands

    add_core_commands(cli)
    host.pm.hook.bench_register_commands(cli=cli)
    return cli


def main() -> None:
    """Console-script entry point."""
    make_cli()(prog_name="bench")
