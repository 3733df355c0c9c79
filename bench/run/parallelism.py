"""How many threads or worker processes a parallel step uses."""

from __future__ import annotations

import os

#: The most threads or processes a step uses by default, however many CPUs there are.
MAX_DEFAULT_WORKERS = 8


def worker_count(env: str) -> int:
    """The count set in environment variable ``env`` (at least 1), else the CPU count
    capped at :data:`MAX_DEFAULT_WORKERS`."""
    value = os.environ.get(env)
    return max(1, int(value)) if value else min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS)
