"""The progress bar of a command's long loops: description, bar, done/total, elapsed time."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def counted_progress(console: Console) -> Progress:
    """A rich progress bar counting finished items (``done/total``) on ``console``."""
    return Progress(
        TextColumn("[bold blue]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
