"""Fixtures shared by the executor tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.executors.helpers import chaos_grid_args, chaos_host, invoke


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The chaos grid undisturbed, in process (``--workers 1``): the run directory."""
    root = tmp_path_factory.mktemp("reference")
    result = invoke(chaos_host(), chaos_grid_args(root))
    assert result.exit_code == 0, result.output
    return root / "runs" / "g"
