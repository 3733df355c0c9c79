"""Calibration: Brier score and expected calibration error (ECE), per bootstrap replicate.

Scores are read as predicted probabilities of the positive class and must lie in [0, 1].
ECE uses ``bins`` equal-width bins: bin ``k`` holds ``[k/bins, (k+1)/bins)`` and the last bin
also holds 1.0; ECE = Σ_k (n_k / n) · |mean(y in k) − mean(score in k)|.
Both accept a ``(replicates, n)`` multiplicity matrix (see
:func:`bench.statistics.resampling.bootstrap_indices`); a single row of ones is the plain
estimate on the full set.
"""

from __future__ import annotations

import numpy as np

from bench.api import check_binary_inputs

DEFAULT_BINS = 15


def check_probabilities(y_true: np.ndarray, y_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate binary labels and probability scores in [0, 1]; return float arrays."""
    y, p = check_binary_inputs(y_true, y_prob)
    if len(p) and (p.min() < 0 or p.max() > 1):
        raise ValueError(
            f"calibration metrics need y_score as probabilities in [0, 1], got range "
            f"[{p.min():.4g}, {p.max():.4g}]; apply a sigmoid/softmax to logits first"
        )
    return y.astype(np.float64), p


def _check_weights(weights: np.ndarray, n: int) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != n:
        raise ValueError(f"weights must be a (replicates, n={n}) matrix, got shape {w.shape}")
    return w


def brier_replicates(y_true: np.ndarray, y_prob: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean squared error between probability and label, per replicate row."""
    y, p = check_probabilities(y_true, y_prob)
    w = _check_weights(weights, len(y))
    return (w @ (p - y) ** 2) / w.sum(axis=1)


def bin_indicators(p: np.ndarray, bins: int = DEFAULT_BINS) -> np.ndarray:
    """``(n, bins)`` 0/1 matrix: row ``i`` marks the equal-width bin of probability ``p[i]``
    (bin ``k`` holds ``[k/bins, (k+1)/bins)``, the last also 1.0)."""
    if bins < 1:
        raise ValueError(f"calibration bins must be >= 1, got {bins}")
    onehot = np.zeros((len(p), bins))
    onehot[np.arange(len(p)), np.minimum((p * bins).astype(np.int64), bins - 1)] = 1.0
    return onehot


def ece_replicates(
    y_true: np.ndarray, y_prob: np.ndarray, weights: np.ndarray, bins: int = DEFAULT_BINS
) -> np.ndarray:
    """Expected calibration error with ``bins`` equal-width bins, per replicate row."""
    y, p = check_probabilities(y_true, y_prob)
    w = _check_weights(weights, len(y))
    onehot = bin_indicators(p, bins)
    gap = w @ (onehot * (y - p)[:, None])  # (replicates, bins): Σ_k w (y − p)
    return np.abs(gap).sum(axis=1) / w.sum(axis=1)
