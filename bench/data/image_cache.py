"""Memory-mapped per-record cache of rendered images (or preprocessed signals).

Layout under ``root``: one folder per (kind, cohort.cache_key, preprocess hash, render
hash) holding ``data.bin`` — a raw C-order array ``(capacity, *item_shape)`` opened with
:class:`numpy.memmap` — and its index (:mod:`bench.data.cache_index`: record id → row as
sorted arrays, failed records with their error message, the number of rows in use).
Building appends only records that are not yet in the index (a cache opened with
``build=False`` only reads, and a record it lacks is a :class:`CacheMissError`); rows are
flushed to disk *before* the index that marks them done is atomically replaced, so an
interrupted build never leaves a half-written row marked done. The index is committed at
the end of a build, when a build stops on an error, and during it at most every
:data:`bench.data.cache_index.COMMIT_SECONDS` (less often once one rewrite takes longer
than :data:`~bench.data.cache_index.COMMIT_SHARE` of that time): rewriting it after every
chunk made a build quadratic in its records (4.9 s per rewrite of the first layout's JSON at
800k records). A killed build loses at most that much work; its rows past the committed
ones are written again. Forked workers produce the chunks, at most :data:`AHEAD` per worker
ahead of the one being written, so a slow disk cannot queue finished chunks in memory.
One cache folder must not be built by two processes at once.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import re
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from bench.data.cache_index import (
    INDEX_FILE,
    NOTE_KINDS,
    CacheIndex,
    IndexCommits,
    RowIndex,
    id_array,
    read_index,
    record_fingerprints,
)
from bench.data.cohort import Cohort, signal_digest
from bench.data.disk import grow_file
from bench.data.preprocess import PreprocessConfig, finish, prepare
from bench.data.render import RenderConfig, render_batch
from bench.data.signal import RECORD_ERRORS, ECGSignal, failure_reason
from bench.data.signal_recipe import SignalRecipe, apply_recipe, missing_leads
from bench.run.parallelism import worker_count

#: Records loaded, preprocessed and rendered together before rows are written.
CHUNK = 256
#: Chunks handed to each cache worker ahead of the one being written (bounds the produced
#: chunks waiting in the main process).
AHEAD = 2


class CacheMissError(RuntimeError):
    """A cache opened without building lacks records (a cell reads caches built by the
    run's preparation; it never builds one)."""


@dataclass
class CachedImages:
    """Cached arrays of a set of records: ``array[row(record_id)]`` is one record.

    ``array`` is a read-only memmap ``(n_rows, *item_shape)``; ``failed`` maps each record
    that could not be loaded or preprocessed to its error message.
    """

    array: np.ndarray
    index: Mapping[str, int]  # a RowIndex: arrays, not a dict of every record
    failed: dict[str, str] = field(default_factory=dict)
    #: record id → leads the record lacked (zero-filled by a signal recipe)
    missing_leads: dict[str, list[str]] = field(default_factory=dict)
    #: record id → extra channels its reader left out (:attr:`bench.data.signal.ECGSignal.dropped`)
    dropped: dict[str, list[str]] = field(default_factory=dict)
    #: record id → what its reader reported (:attr:`bench.data.signal.ECGSignal.notices`)
    notices: dict[str, list[str]] = field(default_factory=dict)
    #: record id → digest of the signal its row was made of (:func:`bench.data.cohort.signal_digest`)
    signal_digests: RowIndex = field(default_factory=lambda: RowIndex(id_array([]), np.array([])))

    def row(self, record_id: str) -> int:
        """Row of ``record_id``; :class:`KeyError` says whether it failed or is absent."""
        try:
            return self.index[record_id]
        except KeyError:
            if record_id in self.failed:
                raise KeyError(f"record {record_id!r} failed: {self.failed[record_id]}") from None
            raise KeyError(f"record {record_id!r} is not in the cache") from None

    def rows(self, record_ids: Sequence[str]) -> np.ndarray:
        """Rows of several records, in order, as an int64 array."""
        if not isinstance(self.index, RowIndex):
            return np.array([self.row(r) for r in record_ids], dtype=np.int64)
        positions = self.index.positions(list(record_ids))
        for record_id in np.asarray(record_ids, dtype=object)[positions < 0][:1]:
            self.row(record_id)  # raises the KeyError that says why
        return self.index.row_array[positions].astype(np.int64)

    def digests(self, record_ids: Sequence[str]) -> np.ndarray:
        """The signal digests of cached records, in order, as a uint64 array."""
        positions = self.signal_digests.positions(list(record_ids))
        for record_id in np.asarray(record_ids, dtype=object)[positions < 0][:1]:
            self.row(record_id)  # raises the KeyError that says why
        return self.signal_digests.row_array[positions].astype(np.uint64)


@dataclass(frozen=True)
class _Layout:
    """What one cache folder holds: ``prepare`` turns one record into an intermediate
    array, ``produce`` a list of those into a batch of items; ``missing`` names the leads a
    record lacks (recorded in the index) when the recipe zero-fills them."""

    key: str
    item_shape: tuple[int, ...]
    dtype: np.dtype
    prepare: Callable[[ECGSignal], Any]
    produce: Callable[[list[Any]], np.ndarray | None]
    missing: Callable[[ECGSignal], list[str]] | None = None


class ImageCache:
    """Per-record cache of model inputs under ``root`` (see the module docstring)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def images(
        self,
        cohort: Cohort,
        record_ids: Sequence[str],
        preprocess: PreprocessConfig,
        render: RenderConfig,
        progress: bool = True,
        build: bool = True,
    ) -> CachedImages:
        """Rendered ``(size, size, 3)`` uint8 images of ``record_ids``, building missing ones."""
        layout = _Layout(
            key=f"images-{cohort.cache_key}-{preprocess.hash()}-{render.hash()}",
            item_shape=(render.size, render.size, 3),
            dtype=np.dtype(np.uint8),
            prepare=lambda sig: prepare(sig, preprocess),
            produce=lambda prepared: render_batch(finish(prepared, preprocess), render),
        )
        return self._build(layout, cohort, record_ids, progress, build)

    def signals(
        self,
        cohort: Cohort,
        record_ids: Sequence[str],
        preprocess: PreprocessConfig,
        progress: bool = True,
        build: bool = True,
    ) -> CachedImages:
        """Preprocessed ``(leads, n_samples)`` float32 mV signals (for signal models)."""
        layout = _Layout(
            key=f"signals-{cohort.cache_key}-{preprocess.hash()}",
            item_shape=(len(preprocess.plot_leads), preprocess.n_samples),
            dtype=np.dtype(np.float32),
            prepare=lambda sig: prepare(sig, preprocess),
            produce=lambda prepared: finish(prepared, preprocess),
        )
        return self._build(layout, cohort, record_ids, progress, build)

    def recipe_signals(
        self,
        cohort: Cohort,
        record_ids: Sequence[str],
        recipe: SignalRecipe,
        progress: bool = True,
        build: bool = True,
    ) -> CachedImages:
        """``(leads, n_samples)`` float32 signals through a model's own :class:`SignalRecipe`.

        Leads a record lacks are zero-filled and listed in ``missing_leads``.
        """
        layout = _Layout(
            key=f"recipe-signals-{cohort.cache_key}-{recipe.hash()}",
            item_shape=(len(recipe.leads), recipe.n_samples),
            dtype=np.dtype(np.float32),
            prepare=lambda sig: apply_recipe(sig, recipe),
            produce=np.stack,
            missing=lambda sig: missing_leads(sig, recipe),
        )
        return self._build(layout, cohort, record_ids, progress, build)

    def _folder(self, key: str) -> Path:
        readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)[:80]
        return self.root / f"{readable}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"

    def _build(
        self,
        layout: _Layout,
        cohort: Cohort,
        record_ids: Sequence[str],
        progress: bool,
        build: bool,
    ) -> CachedImages:
        folder = self._folder(layout.key)
        if build:
            folder.mkdir(parents=True, exist_ok=True)
        index = read_index(folder, layout.key, layout.item_shape, layout.dtype)
        positions = index.include(record_ids, record_fingerprints(cohort, record_ids))
        todo = index.todo(record_ids, positions)
        stale = index.undigested(record_ids, positions)
        if (todo or stale) and not build:
            raise CacheMissError(
                f"{folder}: {len(todo) + len(stale)} record(s) of {cohort.name} are not cached "
                f"(or changed since, or lack their signal digest), e.g. {(todo or stale)[0]!r}; "
                "caches are built when a run prepares its tasks, before any cell runs"
            )
        if todo or stale:
            commits = IndexCommits(folder / INDEX_FILE, index)
            with Progress(disable=not progress) as bar, commits:
                digest_only = replace(layout, prepare=_nothing, produce=_nothing), cohort
                for _, good, failed, _, digests in _chunks(bar, "digesting", digest_only, stale):
                    index.redigest(good, failed, digests)
                    commits.maybe_commit()
                for produced in _chunks(bar, "caching", (layout, cohort), todo):
                    _append(folder, index, layout, *produced)
                    commits.maybe_commit()
        return _cached(folder, index, layout, positions)


def _nothing(_: Any) -> None:
    """What a pass that only reads signals for their digests makes of them."""


def _chunks(
    bar: Progress, verb: str, work: tuple[_Layout, Cohort], ids: list[str]
) -> Iterator[_Produced]:
    """The chunks of ``ids`` produced by ``work``, in order, counted on ``bar``."""
    if not ids:
        return
    task = bar.add_task(f"{verb} {work[1].name} ({len(ids)} records)", total=len(ids))
    chunks = [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]
    for produced in _produce_all(*work, chunks):
        yield produced
        bar.advance(task, len(produced[1]) + len(produced[2]))


def _cached(
    folder: Path, index: CacheIndex, layout: _Layout, positions: np.ndarray
) -> CachedImages:
    """What :meth:`ImageCache._build` returns: the rows of the records at ``positions``."""
    n_rows = index.n_rows
    array = np.memmap(folder / "data.bin", dtype=layout.dtype, mode="r",
                      shape=(n_rows, *layout.item_shape)) if n_rows else np.empty(
                          (0, *layout.item_shape), dtype=layout.dtype)  # fmt: skip
    requested = np.unique(index.ids[positions])
    wanted = RowIndex(requested, np.zeros(len(requested), np.int64))
    notes = {
        kind: {r: m for r, m in index.notes.get(kind, {}).items() if r in wanted}
        for kind in NOTE_KINDS
    }
    rows, digests = index.cached(positions)
    return CachedImages(
        array=array,
        index=rows,
        failed={r: m for r, m in index.failed.items() if r in wanted},
        missing_leads=notes["missing"],
        dropped=notes["dropped"],
        notices=notes["notices"],
        signal_digests=digests,
    )


@dataclass(frozen=True)
class RecordRead:
    """One record loaded and prepared by :func:`read_record`: ``item`` (None when it
    failed), ``failure`` (why, as :func:`bench.data.signal.failure_reason` says it; ``""`` when
    usable), ``notes`` (the non-empty :data:`NOTE_KINDS` of a usable record) and ``digest``
    (:func:`bench.data.cohort.signal_digest` of what the reader returned; 0 when it failed)."""

    item: Any
    failure: str = ""
    notes: dict[str, list[str]] = field(default_factory=dict)
    digest: int = 0


def read_record(
    cohort: Cohort,
    record_id: str,
    prepare: Callable[[ECGSignal], Any],
    missing: Callable[[ECGSignal], list[str]] | None = None,
) -> RecordRead:
    """Load ``record_id`` and ``prepare`` it; a bad or unreadable input
    (:data:`bench.data.signal.RECORD_ERRORS`, never our bugs) is a failure, not an exception.
    ``missing`` names the leads a signal recipe zero-fills. The one per-record step of the
    image cache and of :func:`bench.run.preparation.signal_check`."""
    signal = None
    try:
        signal = cohort.load_signal(record_id)
        item = prepare(signal)
    except RECORD_ERRORS as err:
        return RecordRead(None, failure_reason(err, signal.notices if signal else ()))
    notes = {
        "missing": missing(signal) if missing else [],
        "dropped": list(signal.dropped),
        "notices": list(signal.notices),
    }
    notes = {kind: values for kind, values in notes.items() if values}
    return RecordRead(item, notes=notes, digest=signal_digest(signal))


#: A produced chunk: its items, the usable ids (in row order), the failures, the notes
#: (kind of :data:`NOTE_KINDS` → record id → values) and the usable ids' signal digests.
_Produced = tuple[
    np.ndarray | None, list[str], dict[str, str], dict[str, dict[str, list[str]]], list[int]
]
#: What forked cache workers produce from (inherited, never pickled: cohorts may hold lambdas).
_WORK: tuple[_Layout, Cohort] | None = None


def cache_workers() -> int:
    """Worker processes for building caches: ``BENCH_CACHE_WORKERS`` or the CPU count (≤ 8)."""
    return worker_count("BENCH_CACHE_WORKERS")


def _produce(chunk: list[str]) -> _Produced:
    """Load, preprocess and render one chunk; bad records are returned with their error."""
    assert _WORK is not None
    layout, cohort = _WORK
    prepared, good, failed, digests = [], [], {}, []
    notes: dict[str, dict[str, list[str]]] = {kind: {} for kind in NOTE_KINDS}
    for record_id in chunk:
        read = read_record(cohort, record_id, layout.prepare, layout.missing)
        if read.failure:
            failed[record_id] = read.failure
            continue
        prepared.append(read.item)
        good.append(record_id)
        digests.append(read.digest)
        for kind, values in read.notes.items():
            notes[kind][record_id] = values
    return (layout.produce(prepared) if good else None), good, failed, notes, digests


def _produce_all(layout: _Layout, cohort: Cohort, chunks: list[list[str]]) -> Iterator[_Produced]:
    """Chunks in order, produced by forked worker processes when there is enough work."""
    global _WORK
    _WORK = (layout, cohort)
    workers = min(cache_workers(), len(chunks))
    try:
        if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
            yield from map(_produce, chunks)
            return
        context = multiprocessing.get_context("fork")
        gc.freeze()  # the workers inherit the heap: a collection there would copy its pages
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            pending: deque[Any] = deque()
            for chunk in chunks:  # at most AHEAD chunks per worker in flight or waiting
                pending.append(pool.submit(_produce, chunk))
                if len(pending) >= AHEAD * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
    finally:
        _WORK = None
        gc.unfreeze()


def _append(
    folder: Path,
    index: CacheIndex,
    layout: _Layout,
    items: np.ndarray | None,
    good: list[str],
    failed: dict[str, str],
    notes: dict[str, dict[str, list[str]]],
    digests: list[int],
) -> None:
    """Write one produced chunk's rows and flush them, then record them in ``index`` (in
    memory; :class:`~bench.data.cache_index.IndexCommits` writes it)."""
    if items is not None:
        first = index.n_rows
        data = _open_for_rows(folder / "data.bin", layout, first + len(good))
        data[first : first + len(good)] = items
        data.flush()
        del data
    index.add(good if items is not None else [], failed, notes, digests)


def _open_for_rows(path: Path, layout: _Layout, n_rows: int) -> np.memmap:
    """Writable memmap of ``path`` with room for ``n_rows`` items (grows the file, its disk
    blocks reserved: see :func:`bench.data.disk.grow_file`)."""
    item_bytes = int(np.prod(layout.item_shape)) * layout.dtype.itemsize
    with open(path, "ab") as handle:
        if handle.tell() < n_rows * item_bytes:
            grow_file(handle.fileno(), path, handle.tell(), n_rows * item_bytes)
    return np.memmap(path, dtype=layout.dtype, mode="r+", shape=(n_rows, *layout.item_shape))
