"""Bootstrap resamples, created once per test set and shared by every model (paired).

Representation: a resample is a row of **multiplicities** — ``counts[r, i]`` is how many
times record ``i`` appears in replicate ``r`` — so :func:`bootstrap_indices` returns an int
``(replicates, n)`` matrix. This keeps one fixed shape for both units (a patient-level
cluster bootstrap gives replicates of different lengths), makes every metric a weighted
computation over the same sorted scores, and materialises losslessly:
``np.repeat(np.arange(n), counts[r])`` is replicate ``r`` as an index array.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Unit = Literal["record", "patient"]


def _counts(draws: np.ndarray, size: int) -> np.ndarray:
    """Per-row occurrence counts (int32) of the values in ``draws`` (R, k) over ``range(size)``.

    One small ``bincount`` per row stays in cache and beats one flat ``bincount``.
    """
    out = np.empty((draws.shape[0], size), dtype=np.int32)
    for row, values in zip(out, draws, strict=True):
        row[:] = np.bincount(values, minlength=size)
    return out


def bootstrap_indices(
    groups: np.ndarray,
    replicates: int = 500,
    seed: int = 0,
    unit: Unit = "patient",
) -> np.ndarray:
    """Bootstrap multiplicity matrix ``(replicates, n)`` (int32) for the records of one test set.

    ``groups`` holds each record's patient id. With ``unit="patient"`` (cluster bootstrap)
    patients are drawn with replacement and each draw brings all of that patient's
    records; with ``unit="record"`` records are drawn independently. Deterministic in
    ``seed``.
    """
    g = np.asarray(groups)
    if g.ndim != 1 or len(g) == 0:
        raise ValueError(f"groups must be a non-empty 1-D array of patient ids, got {g.shape}")
    if replicates < 1:
        raise ValueError(f"replicates must be >= 1, got {replicates}")
    rng = np.random.default_rng(seed)
    if unit == "record":
        draws = rng.integers(0, len(g), size=(replicates, len(g)), dtype=np.int32)
        return _counts(draws, len(g))
    if unit == "patient":
        _, patient_of = np.unique(g, return_inverse=True)
        n_patients = int(patient_of.max()) + 1
        draws = rng.integers(0, n_patients, size=(replicates, n_patients), dtype=np.int32)
        return np.take(_counts(draws, n_patients), patient_of, axis=1)
    raise ValueError(f"unit must be 'record' or 'patient', got {unit!r}")
