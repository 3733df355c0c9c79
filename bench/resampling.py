"""Bootstrap resamples, created once per test set and shared by every model (paired).

Representation: a resample is a row of **multiplicities** — ``counts[r, i]`` is how many
times record ``i`` appears in replicate ``r`` — so :func:`bootstrap_indices` returns an
integer ``(replicates, n)`` matrix. This keeps one fixed shape for both units (a
patient-level cluster bootstrap gives replicates of different lengths), makes every metric
a weighted computation over the same sorted scores, and materialises losslessly:
``np.repeat(np.arange(n), counts[r])`` is replicate ``r`` as an index array.

The draws are ``rng.integers(0, units, size=(replicates, units), dtype=int32)`` from
``np.random.default_rng(seed)`` — one stream, so a seed always gives the same matrix, for
every model and across versions. How the matrix is built (and only that) is tuned:

- patients are indexed once (``np.unique``) and counted in patient space, then gathered
  into the record layout block by block, so no second ``(replicates, n)`` matrix exists;
- the matrix is ``uint8`` whenever every multiplicity fits (a row's counts always sum to
  the number of draws, so an overflow shows as a short row sum and widens to ``int32``);
- a worker thread draws the next block while the caller counts the current one
  (NumPy releases the GIL while drawing; ``bincount`` holds it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np

Unit = Literal["record", "patient"]

#: Below this many draws everything happens in the calling thread.
THREADED_DRAWS = 1_000_000
#: Share of the rows drawn before the worker thread starts on the rest.
FIRST_SHARE = 0.4


def _draw_blocks(
    rng: np.random.Generator, replicates: int, units: int
) -> Iterator[tuple[int, np.ndarray]]:
    """``(first row, draws)`` blocks of ``rng.integers(0, units, (replicates, units))``.

    Successive draws from one generator equal a single large draw, so blocking does not
    change the matrix. While the caller counts the first block, a worker thread draws the
    second (the caller waits until the worker runs, so that it does not sit out a GIL
    switch interval).
    """
    threaded = replicates >= 2 and replicates * units >= THREADED_DRAWS
    split = max(1, int(replicates * FIRST_SHARE)) if threaded else replicates
    first = rng.integers(0, units, size=(split, units), dtype=np.int32)
    if not threaded:
        yield 0, first
        return
    started = threading.Event()

    def rest() -> np.ndarray:
        started.set()
        return rng.integers(0, units, size=(replicates - split, units), dtype=np.int32)

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(rest)
        started.wait()
        yield 0, first
        yield split, pending.result()


def _count_rows(draws: np.ndarray, size: int, out: np.ndarray) -> bool:
    """Write per-row counts of ``draws`` over ``range(size)`` into ``out``; False on overflow.

    Every row of ``draws`` holds ``draws.shape[1]`` values, so its counts sum to that unless
    a count did not fit ``out``'s dtype.
    """
    for row, values in zip(out, draws, strict=True):
        row[:] = np.bincount(values, minlength=size)
    return bool((out.sum(axis=1, dtype=np.int64) == draws.shape[1]).all())


def _multiplicities(
    seed: int, replicates: int, units: int, unit_of: np.ndarray | None
) -> np.ndarray:
    """``(replicates, n)`` multiplicities: draw ``units`` units per replicate, count, gather.

    ``unit_of`` maps each record to its unit (patient); ``None`` means records are units.
    """
    out = np.empty((replicates, units if unit_of is None else len(unit_of)), dtype=np.uint8)
    for start, draws in _draw_blocks(np.random.default_rng(seed), replicates, units):
        rows = slice(start, start + len(draws))
        for _ in range(2):
            counts = out[rows] if unit_of is None else np.empty(draws.shape, dtype=out.dtype)
            if _count_rows(draws, units, counts):
                break
            out = out.astype(np.int32)  # a multiplicity above 255: widen, count again
        if unit_of is not None:
            np.take(counts, unit_of, axis=1, out=out[rows])
    return out


def bootstrap_indices(
    groups: np.ndarray,
    replicates: int = 500,
    seed: int = 0,
    unit: Unit = "patient",
) -> np.ndarray:
    """Bootstrap multiplicity matrix ``(replicates, n)`` for the records of one test set.

    ``groups`` holds each record's patient id. With ``unit="patient"`` (cluster bootstrap)
    patients are drawn with replacement and each draw brings all of that patient's
    records; with ``unit="record"`` records are drawn independently. Deterministic in
    ``seed``. The dtype is ``uint8`` when every multiplicity fits, else ``int32``.
    """
    g = np.asarray(groups)
    if g.ndim != 1 or len(g) == 0:
        raise ValueError(f"groups must be a non-empty 1-D array of patient ids, got {g.shape}")
    if replicates < 1:
        raise ValueError(f"replicates must be >= 1, got {replicates}")
    if unit == "record":
        return _multiplicities(seed, replicates, len(g), None)
    if unit == "patient":
        _, patient_of = np.unique(g, return_inverse=True)
        return _multiplicities(seed, replicates, int(patient_of.max()) + 1, patient_of)
    raise ValueError(f"unit must be 'record' or 'patient', got {unit!r}")
