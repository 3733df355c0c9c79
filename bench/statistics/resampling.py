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

- patients are indexed once (``np.unique``); one compiled pass per row (numba) counts the
  row's draws per patient and writes each record's count straight into the record layout,
  so no second ``(replicates, n)`` matrix exists;
- the matrix is ``uint8`` whenever every multiplicity fits (the pass reports a count above
  255, and the matrix then widens to ``int32``);
- draws come in blocks of about :data:`BLOCK_DRAWS`; a worker thread draws the next block
  while the caller counts the current one (NumPy releases the GIL while drawing, the
  compiled pass runs without it), and at most two blocks of draws exist at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numba
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


@numba.njit(nogil=True, cache=True)
def _count_into(draws: np.ndarray, unit_of: np.ndarray, limit: int, out: np.ndarray) -> bool:
    """``out[r, i]`` = occurrences of ``unit_of[i]`` in ``draws[r]``; False if one exceeds ``limit``.

    ``unit_of`` maps each column of ``out`` (record) to its unit; ``limit`` is the largest
    value ``out``'s dtype holds. Rows written before an overflow are valid.
    """
    counts = np.zeros(draws.shape[1], dtype=np.int64)
    for r in range(draws.shape[0]):
        counts[:] = 0
        for unit in draws[r]:
            counts[unit] += 1
        for unit in range(counts.shape[0]):
            if counts[unit] > limit:
                return False
        for i in range(unit_of.shape[0]):
            out[r, i] = counts[unit_of[i]]
    return True


def _multiplicities(seed: int, replicates: int, unit_of: np.ndarray) -> np.ndarray:
    """``(replicates, n)`` multiplicities: draw every unit's count per replicate, in record layout.

    ``unit_of`` maps each record to its unit (``0 … units−1``; the identity when records
    are the units); each replicate draws ``units`` units with replacement.
    """
    units = int(unit_of.max()) + 1
    out = np.empty((replicates, len(unit_of)), dtype=np.uint8)
    for start, draws in _draw_blocks(np.random.default_rng(seed), replicates, units):
        rows = out[start : start + len(draws)]
        if not _count_into(draws, unit_of, np.iinfo(out.dtype).max, rows):
            out = out.astype(np.int32)  # a multiplicity above 255: widen, count again
            rows = out[start : start + len(draws)]
            _count_into(draws, unit_of, np.iinfo(out.dtype).max, rows)
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
        return _multiplicities(seed, replicates, np.arange(len(g), dtype=np.intp))
    if unit == "patient":
        _, patient_of = np.unique(g, return_inverse=True)
        return _multiplicities(seed, replicates, patient_of.astype(np.intp, copy=False))
    raise ValueError(f"unit must be 'record' or 'patient', got {unit!r}")
