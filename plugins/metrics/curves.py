"""Curves in a metric's details: a value per point with its percentile CI over the shared
bootstrap replicates, as JSON-ready lists (``None`` where a point is undefined)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.api import DEFAULT_LEVEL, percentile_ci


def json_floats(values: np.ndarray) -> list[float | None]:
    """``values`` as a list of floats, ``None`` for NaN (JSON has no NaN)."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=np.float64)]


def pointwise(
    point: np.ndarray, replicates: np.ndarray, level: float = DEFAULT_LEVEL
) -> dict[str, Any]:
    """A curve of ``T`` points: ``point`` ``(T,)`` on the whole set and ``replicates``
    ``(R, T)`` on each resample → ``{"value", "ci_low", "ci_high", "valid_replicates"}``,
    each a list of ``T`` entries (the CI over the replicates where the point is finite)."""
    intervals = [percentile_ci(column, level) for column in np.asarray(replicates).T]
    return {
        "value": json_floats(point),
        "ci_low": json_floats(np.array([low for low, _ in intervals])),
        "ci_high": json_floats(np.array([high for _, high in intervals])),
        "valid_replicates": [int(v) for v in np.isfinite(replicates).sum(axis=0)],
    }
