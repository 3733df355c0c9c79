"""The ``bench`` command line. Plugins add commands through ``bench_register_commands``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bench import __version__
from bench.cohort import CohortError
from bench.config import ConfigError
from bench.errors import RunError
from bench.plugin_manager import PluginHost, get_host
from bench.registry import UnknownNameError
from bench.signal import ECGFormatError
from bench.splits import SplitError

console = Console()
err_console = Console(stderr=True)

LIST_KINDS = ("models", "tasks", "metrics", "tokenizers")


def _host(ctx: click.Context) -> PluginHost:
    host: PluginHost = ctx.find_root().obj
    return host


def _report_plugin_errors(host: PluginHost) -> None:
    for error in host.errors:
        err_console.print(
            f"[red]error:[/] plugin [bold]{error.plugin}[/] failed ({error.stage}): {error.message}"
        )


def _list_rows(host: PluginHost, kind: str) -> tuple[list[str], list[list[str]]]:
    regs = host.registries
    if kind == "models":
        return ["name", "input", "family", "params (paper, M)", "pretrained on", "plugin"], [
            [
                m.name,
                m.input_kind,
                m.family,
                f"{m.paper_params_m or ''}",
                ", ".join(m.pretrained_on) or "-",
                m.plugin,
            ]
            for m in regs.models
        ]
    if kind == "tasks":
        return ["name", "positive class", "version", "sources", "plugin"], [
            [t.name, t.positive_class, t.version, ", ".join(sorted(t.loaders)), t.plugin]
            for t in regs.tasks
        ]
    if kind == "metrics":
        return ["name", "kind", "default", "description", "plugin"], [
            [m.name, m.kind, "yes" if m.default else "", m.description, m.plugin]
            for m in regs.metrics
        ]
    return ["name", "trainable", "description", "plugin"], [
        [t.name, "yes" if t.trainable else "", t.description, t.plugin] for t in regs.tokenizers
    ]


class BenchGroup(click.Group):
    """Turns unknown-name errors anywhere below into exit code 2 with a suggestion."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UnknownNameError as exc:
            err_console.print(f"[red]error:[/] {exc}")
            ctx.exit(2)
        except ConfigError as exc:
            err_console.print(f"[red]config error:[/] {exc}")
            ctx.exit(2)
        except (RunError, CohortError, SplitError, ECGFormatError, FileNotFoundError) as exc:
            err_console.print(f"[red]error:[/] {exc}")
            ctx.exit(1)


def make_cli(host: PluginHost | None = None) -> click.Group:
    """Build the root command with every plugin's commands attached."""
    host = host or get_host()

    @click.group(cls=BenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, prog_name="ecg-bench")
    @click.pass_context
    def cli(ctx: click.Context) -> None:
        """ECG Bench: benchmark ECG models (HeartBEiT, ImageNet baselines, your own) on
        STEMI, low LVEF and HCM with patient-grouped label-fraction splits.

        \b
        Start here:
          bench list models              what can be benchmarked
          bench run --model heartbeit --task stemi
          bench leaderboard --format md  tables from the results
        """
        ctx.obj = host
        _report_plugin_errors(host)

    @cli.command("list")
    @click.argument("kind", type=click.Choice(LIST_KINDS), required=False)
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.pass_context
    def list_command(ctx: click.Context, kind: str | None, as_json: bool) -> None:
        """List registered models, tasks, metrics and tokenizers (all kinds by default)."""
        kinds = [kind] if kind else list(LIST_KINDS)
        result = {}
        for k in kinds:
            header, rows = _list_rows(_host(ctx), k)
            result[k] = [dict(zip(header, row, strict=True)) for row in rows]
            if not as_json:
                table = Table(title=k, title_justify="left")
                for column in header:
                    table.add_column(column)
                for row in rows:
                    table.add_row(*row)
                console.print(table)
        if as_json:
            click.echo(json.dumps(result, indent=2))

    @cli.command("plugins")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.pass_context
    def plugins_command(ctx: click.Context, as_json: bool) -> None:
        """List loaded plugins with their version and the hooks they implement.

        Built-in plugins load unless BENCH_LOAD_PLUGINS (comma-separated names) restricts
        them; third-party plugins come from the ``bench`` entry-point group.
        """
        host = _host(ctx)
        info = host.plugin_info()
        errors = [vars(e) for e in host.errors]
        if as_json:
            click.echo(json.dumps({"plugins": info, "errors": errors}, indent=2))
            return
        table = Table("name", "version", "hooks")
        for item in info:
            table.add_row(item["name"], item["version"], ", ".join(item["hooks"]))
        console.print(table)

    from bench.commands import add_core_commands

    add_core_commands(cli)
    host.pm.hook.bench_register_commands(cli=cli)
    return cli


def main() -> None:
    """Console-script entry point."""
    try:
        cli = make_cli()
    except Exception as exc:  # pragma: no cover - last-resort message
        err_console.print(f"[red]error:[/] could not start: {exc}")
        sys.exit(1)
    cli(prog_name="bench")
