"""Optional test dependencies: a test that needs one skips where it is missing, unless the
environment variable ``BENCH_REQUIRE`` names it (comma-separated, e.g.
``BENCH_REQUIRE=chromium,ray,mlflow,slurm``, set by ``.ci/run``; ``slurm`` requires
submitit and the SLURM daemons of :mod:`tests.executors.slurm_cluster`): then a missing dependency fails
the test, so CI never reports as tested what it skipped."""

from __future__ import annotations

import os
from types import ModuleType

import pytest

VARIABLE = "BENCH_REQUIRE"


def required(name: str) -> bool:
    """Whether ``BENCH_REQUIRE`` makes ``name`` mandatory here."""
    return name in {part.strip() for part in os.environ.get(VARIABLE, "").split(",")}


def missing(name: str, message: str) -> None:
    """Skip the test for a missing dependency ``name``, or fail it where it is required."""
    if required(name):
        pytest.fail(f"{message}; {VARIABLE} requires {name}")
    pytest.skip(message, allow_module_level=True)


def require_module(module: str, extra: str) -> ModuleType:
    """Import ``module`` (installed by ``pip install .[extra]``), else skip or fail."""
    try:
        return __import__(module)
    except ImportError:
        missing(extra, f"{module} not installed (pip install .[{extra}])")
        raise
