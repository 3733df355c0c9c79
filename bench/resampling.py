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
- draws come in blocks of about :data:`BLOCK_DRAWS`; a worker thread draws the next block
  while the caller counts the current one (NumPy releases the GIL while drawing;
  ``bincount`` holds it), and at most two blocks of draws exist at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np

Unit = Literal["record", "patient"]

#: Draws per block (rows × units, int32): a block is drawn while the previous one is counted.
BLOCK_DRAWS = 1_000_000


def _draw_blocks(
    rng: np.random.Generator, replicates: int, units: int
) -> Iterator[tuple[int, np.ndarray]]:
    """``(first row, draws)`` blocks of ``rng.integers(0, units, (replicates, units))``.

    Successive draws from one generator equal a single large draw, so blocking does not
    change the matrix; it bounds the draws held in memory to two blocks. While the caller
    counts a block, a worker thread draws the next (the caller first waits until the worker
    runs, so that the worker does not sit out a GIL switch interval).
    """
    rows = max(1, BLOCK_DRAWS // units)
    starts = range(0, replicates, rows)

    def draw(start: int, started: threading.Event | None = None) -> np.ndarray:
        if started is not None:
            started.set()
        size = (min(rows, replicates - start), units)
        return rng.integers(0, units, size=size, dtype=np.int32)

    block = draw(0)
    if len(starts) == 1:
        yield 0, block
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        for start, following in zip(starts, [*starts[1:], None], strict=True):
            if following is not None:  # the generator is used by one thread at a time
                started = threading.Event()
                pending = pool.submit(draw, following, started)
                started.wait()
            yield start, block
            if following is not None:
                block = pending.result()


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
