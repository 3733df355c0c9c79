"""CLI start-up: ``bench --help`` and ``bench list`` against ``python -c "import click"``.

Each command runs in a fresh interpreter (as a user types it), alternating with bare click
within every repeat; the ratio of a repeat is click's time / bench's time (the harness's
higher-is-better convention), so the issue's target "within 3× of bare click" is a
median ratio of at least 1/3. All built-in plugins load in both commands.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import Load, paired, repeats, result

REPO = Path(__file__).resolve().parents[1]
#: At least this many repeats, even under ``--quick`` (a start-up costs well under 1 s).
MIN_REPEATS = 7
TARGET_SLOWDOWN = 3.0


def _command(*argv: str) -> Callable[[], None]:
    def run() -> None:
        subprocess.run([sys.executable, *argv], cwd=REPO, check=True, stdout=subprocess.DEVNULL)

    return run


def _startup(args: tuple[str, ...]) -> dict[str, Any]:
    bare_click = _command("-c", "import click")
    with Load() as load:
        timing = paired(
            ours=_command("-m", "bench", *args),
            baseline=bare_click,
            n=max(MIN_REPEATS, repeats()),
        )
    slowdown = 1 / timing.ratio.median
    return result(
        f"bench {' '.join(args)} start-up",
        timing,
        load,
        unit="s",
        baseline_name='python -c "import click"',
        target=f"ratio >= {1 / TARGET_SLOWDOWN:.2f} (within {TARGET_SLOWDOWN:.0f}x of click)",
        ok=slowdown <= TARGET_SLOWDOWN,
        notes=f"{slowdown:.2f}x bare click (median of per-repeat ratios), built-ins loaded",
        slowdown=slowdown,
    )


def help_startup() -> dict[str, Any]:
    """``bench --help``: plugins load, no command module is imported."""
    return _startup(("--help",))


def list_startup() -> dict[str, Any]:
    """``bench list``: every register hook runs (specs are metadata only)."""
    return _startup(("list",))


CASES = [help_startup, list_startup]
