"""Validation of the inputs every binary metric and test takes: labels and scores."""

from __future__ import annotations

import numpy as np


def check_binary_inputs(y_true: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate labels (0/1 or bool) and finite scores of equal length; return them as arrays."""
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1 or len(y) != len(s):
        raise ValueError(
            f"y_true and y_score must be 1-D of equal length, got shapes {y.shape} and {s.shape}"
        )
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"y_true must hold binary labels 0/1, got values {np.unique(y)[:10]}")
    if not np.isfinite(s).all():
        raise ValueError("y_score contains NaN or infinite values")
    return y.astype(bool), s
