"""Bootstrap resamples, created once per test set and shared by every model (paired).

Representation: a resample is a row of **multiplicities** — ``counts[r, i]`` is how many
times record ``i`` appears in replicate ``r`` — so :func:`bootstrap_indices` returns an
integer ``(replicates, n)`` matrix. This keeps one fixed shape for both units (a
patient-level cluster bootstrap gives replicates of different lengths), makes every metric
a weighted computation over the same sorted scores, and materialises losslessly:
``np.repeat(np.arange(n), counts[r])`` is replicate ``r`` as an index array.

The draws are ``rng.integers(0, units, size=(replicates, units), dtype=int32)`` from
``np.random.default_rng(seed)`` — one stream, so a seed always gives the same matrix, for
every model and across versions. A stratified bootstrap (``stratify=labels``) draws the
positive units (sorted, numbered first) and the negative units from two streams spawned
from ``seed``, each stratum ``integers(0, size, (replicates, size))``. How the matrix is
built (and only that) is tuned:

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
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numba
import numpy as np

Unit = Literal["record", "patient"]

#: Draws per block (rows × units, int32): a block is drawn while the previous one is counted.
BLOCK_DRAWS = 1_000_000


def _draw_blocks(
    rngs: Sequence[np.random.Generator], replicates: int, strata: Sequence[int]
) -> Iterator[tuple[int, np.ndarray]]:
    """``(first row, draws)`` blocks of the ``(replicates, units)`` draws, stratum by stratum.

    Units are numbered stratum after stratum (``strata`` holds each stratum's unit count);
    the columns of stratum ``k`` are ``rngs[k].integers(0, strata[k], …)`` shifted to its
    unit numbers, so a unit is only ever replaced by one of its stratum. With one stratum
    this is ``rngs[0].integers(0, units, (replicates, units))``. Successive draws from one
    generator equal a single large draw, so blocking does not change the matrix; it bounds
    the draws held in memory to two blocks. While the caller counts a block, a worker
    thread draws the next (the caller first waits until the worker runs, so that the
    worker does not sit out a GIL switch interval).
    """
    units = sum(strata)
    rows = max(1, BLOCK_DRAWS // units)
    starts = range(0, replicates, rows)
    offsets = np.cumsum([0, *strata[:-1]])

    def draw(start: int, started: threading.Event | None = None) -> np.ndarray:
        if started is not None:
            started.set()
        n_rows = min(rows, replicates - start)
        parts = []
        for rng, size, offset in zip(rngs, strata, offsets, strict=True):
            part = rng.integers(0, size, size=(n_rows, size), dtype=np.int32)
            part += np.int32(offset)  # in place: the first stratum's offset is 0
            parts.append(part)
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

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


def _multiplicities(
    rngs: Sequence[np.random.Generator], replicates: int, unit_of: np.ndarray, strata: Sequence[int]
) -> np.ndarray:
    """``(replicates, n)`` multiplicities: draw every unit's count per replicate, in record layout.

    ``unit_of`` maps each record to its unit (``0 … units−1``, numbered stratum after
    stratum; the identity when records are the units); each replicate draws, per stratum,
    as many units as the stratum has, with replacement, from ``rngs[k]``.
    """
    out = np.empty((replicates, len(unit_of)), dtype=np.uint8)
    for start, draws in _draw_blocks(rngs, replicates, strata):
        rows = out[start : start + len(draws)]
        if not _count_into(draws, unit_of, np.iinfo(out.dtype).max, rows):
            out = out.astype(np.int32)  # a multiplicity above 255: widen, count again
            rows = out[start : start + len(draws)]
            _count_into(draws, unit_of, np.iinfo(out.dtype).max, rows)
    return out


def _stratified(unit_of: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Renumber units positives first (a unit is positive when any of its records is):
    ``(unit of each record, [positive units, negative units])`` without empty strata."""
    units = int(unit_of.max()) + 1
    positive = np.zeros(units, dtype=bool)
    np.logical_or.at(positive, unit_of, labels)
    order = np.r_[np.flatnonzero(positive), np.flatnonzero(~positive)]
    rank = np.empty(units, dtype=np.intp)
    rank[order] = np.arange(units)
    sizes = [int(positive.sum()), int((~positive).sum())]
    return rank[unit_of], [size for size in sizes if size]


def bootstrap_indices(
    groups: np.ndarray,
    replicates: int = 500,
    seed: int = 0,
    unit: Unit = "patient",
    stratify: np.ndarray | None = None,
) -> np.ndarray:
    """Bootstrap multiplicity matrix ``(replicates, n)`` for the records of one test set.

    ``groups`` holds each record's patient id. With ``unit="patient"`` (cluster bootstrap)
    patients are drawn with replacement and each draw brings all of that patient's
    records; with ``unit="record"`` records are drawn independently. Deterministic in
    ``seed``. The dtype is ``uint8`` when every multiplicity fits, else ``int32``.

    ``stratify`` (binary labels per record, default None) makes it a *stratified*
    bootstrap: positive units (a patient with any positive record) and negative units are
    resampled separately, each stratum keeping its unit count, so every replicate has the
    test set's number of positive and negative patients (records) and never lacks a
    class. It is a separate argument rather than a ``unit`` value because it is
    orthogonal to the unit (either unit can be stratified) and needs the labels, which
    the unit does not. The strata draw from independent streams spawned from ``seed``
    (``np.random.SeedSequence(seed).spawn(2)``, positives first); without ``stratify``
    the matrix is the one this function has always returned for ``seed``.
    """
    g = np.asarray(groups)
    if g.ndim != 1 or len(g) == 0:
        raise ValueError(f"groups must be a non-empty 1-D array of patient ids, got {g.shape}")
    if replicates < 1:
        raise ValueError(f"replicates must be >= 1, got {replicates}")
    if unit == "record":
        unit_of = np.arange(len(g), dtype=np.intp)
    elif unit == "patient":
        _, patient_of = np.unique(g, return_inverse=True)
        unit_of = patient_of.astype(np.intp, copy=False)
    else:
        raise ValueError(f"unit must be 'record' or 'patient', got {unit!r}")
    if stratify is None:
        units = int(unit_of.max()) + 1
        return _multiplicities([np.random.default_rng(seed)], replicates, unit_of, [units])
    labels = np.asarray(stratify)
    if labels.shape != g.shape or not np.isin(labels, (0, 1)).all():
        raise ValueError(
            f"stratify must hold a binary label (0/1) per record, shape {g.shape}; "
            f"got shape {labels.shape}"
        )
    unit_of, strata = _stratified(unit_of, labels.astype(bool))
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(strata))]
    return _multiplicities(rngs, replicates, unit_of, strata)
