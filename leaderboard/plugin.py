"""Built-in plugin adding ``bench leaderboard`` to the command line and printing the
results table at the end of ``bench run``; both import their modules when used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bench.api import add_lazy_command, hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable

    import click

    from bench.api import Verdict


@hookimpl
def bench_register_commands(cli: click.Group) -> None:
    """Add ``bench leaderboard``."""
    add_lazy_command(
        cli,
        "leaderboard",
        "bench.leaderboard.command:leaderboard_command",
        "Tables (and figures) generated from the result records in RESULTS_DIRS (default: runs/).",
    )


@hookimpl
def bench_verify_folder(path: Path) -> Callable[[Path], Verdict] | None:
    """Claim a published board (a folder holding ``leaderboard.json``) for ``bench verify``."""
    if not (Path(path) / "leaderboard.json").is_file():
        return None
    from bench.leaderboard.verify import verify_board

    return verify_board


@hookimpl
def bench_run_finished(run_id: str, output_dir: str, summary: dict[str, object]) -> None:
    """Print the run's results as a rich table at the end of ``bench run``."""
    from bench.leaderboard.terminal import results_table
    from rich.console import Console

    from bench.api import RunStore

    records = RunStore(Path(output_dir)).records()
    if records:
        Console().print(results_table(records, title=f"Results of {run_id}"))
