"""Errors the command line reports as a one-line message (exit code 1)."""

from __future__ import annotations


class RunError(RuntimeError):
    """A run cannot start or must stop (bad task/source combination, --strict failures)."""
