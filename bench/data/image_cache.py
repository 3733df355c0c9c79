"""Memory-mapped per-record cache of rendered images (or preprocessed signals).

Layout under ``root``: one folder per (kind, cohort.cache_key, preprocess hash, render
hash) holding ``data.bin`` — a raw C-order array ``(capacity, *item_shape)`` opened with
:class:`numpy.memmap` — and ``index.json`` (record id → row, failed records with their
error message, the number of rows in use). Building appends only records that are not yet
in the index (a cache opened with ``build=False`` only reads, and a record it lacks is a
:class:`CacheMissError`); rows are flushed to disk *before* the index that marks them done is
atomically replaced, so an interrupted build never leaves a half-written row marked done.
The index is committed at the end of a build, when a build stops on an error, and during
it at most every :data:`bench.data.cache_index.COMMIT_SECONDS` (less often once one rewrite takes longer than
:data:`~bench.data.cache_index.COMMIT_SHARE` of that time): rewriting it after every chunk made a build quadratic
in its records (4.9 s per rewrite at 800k records). A killed build loses at most that much
work; its rows past the committed ones are written again.
One cache folder must not be built by two processes at once.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from bench.data.cache_index import IndexCommits, read_index
from bench.data.cohort import Cohort
from bench.data.preprocess import PreprocessConfig, finish, prepare
from bench.data.render import RenderConfig, render_batch
from bench.data.signal import RECORD_ERRORS, ECGSignal, failure_reason
from bench.data.signal_recipe import SignalRecipe, apply_recipe, missing_leads
from bench.run.parallelism import worker_count

#: Records loaded, preprocessed and rendered together before rows are written.
CHUNK = 256
#: What an index keeps per usable record beside its row, each record id → a list of names or
#: messages: ``missing`` (leads a signal recipe zero-filled), ``dropped`` (extra channels
#: the reader left out) and ``notices`` (what the reader reported, see
#: :attr:`bench.data.signal.ECGSignal.notices`).
NOTE_KINDS: tuple[str, ...] = ("missing", "dropped", "notices")


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
    index: dict[str, int]
    failed: dict[str, str] = field(default_factory=dict)
    #: record id → leads the record lacked (zero-filled by a signal recipe)
    missing_leads: dict[str, list[str]] = field(default_factory=dict)
    #: record id → extra channels its reader left out (:attr:`bench.data.signal.ECGSignal.dropped`)
    dropped: dict[str, list[str]] = field(default_factory=dict)
    #: record id → what its reader reported (:attr:`bench.data.signal.ECGSignal.notices`)
    notices: dict[str, list[str]] = field(default_factory=dict)

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
        return np.array([self.row(r) for r in record_ids], dtype=np.int64)


@dataclass(frozen=True)
class _Layout:
    """What one cache folder holds: ``prepare`` turns one record into an intermediate
    array, ``produce`` a list of those into a batch of items; ``missing`` names the leads a
    record lacks (recorded in the index) when the recipe zero-fills them."""

    key: str
    item_shape: tuple[int, ...]
    dtype: np.dtype
    prepare: Callable[[ECGSignal], np.ndarray]
    produce: Callable[[list[np.ndarray]], np.ndarray]
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
        state = read_index(folder / "index.json", layout.key, layout.item_shape, layout.dtype)
        _forget_changed_files(state, record_fingerprints(cohort, record_ids))
        todo = list(dict.fromkeys(
            str(r) for r in record_ids if str(r) not in state["rows"] and str(r) not in state["failed"]
        ))  # fmt: skip
        if todo and not build:
            raise CacheMissError(
                f"{folder}: {len(todo)} record(s) of {cohort.name} are not cached (or changed "
                f"since), e.g. {todo[0]!r}; caches are built when a run prepares its tasks, "
                "before any cell runs"
            )
        if todo:
            chunks = [todo[start : start + CHUNK] for start in range(0, len(todo), CHUNK)]
            index = IndexCommits(folder / "index.json", state)
            with Progress(disable=not progress) as bar, index:
                task = bar.add_task(f"caching {cohort.name} ({len(todo)} records)", total=len(todo))
                for chunk, (items, good, failed, notes) in zip(
                    chunks, _produce_all(layout, cohort, chunks), strict=True
                ):
                    _append(folder, state, layout, items, good, failed, notes)
                    index.maybe_commit()
                    bar.advance(task, len(chunk))
        n_rows = state["n_rows"]
        array = np.memmap(folder / "data.bin", dtype=layout.dtype, mode="r",
                          shape=(n_rows, *layout.item_shape)) if n_rows else np.empty(
                              (0, *layout.item_shape), dtype=layout.dtype)  # fmt: skip
        wanted = {str(r) for r in record_ids}
        notes = {
            kind: {r: m for r, m in state.get(kind, {}).items() if r in wanted}
            for kind in NOTE_KINDS
        }
        return CachedImages(
            array=array,
            index={r: i for r, i in state["rows"].items() if r in wanted},
            failed={r: m for r, m in state["failed"].items() if r in wanted},
            missing_leads=notes["missing"],
            dropped=notes["dropped"],
            notices=notes["notices"],
        )


def record_fingerprints(cohort: Cohort, record_ids: Sequence[str]) -> dict[str, str]:
    """Size and modification time of each record's file(s), from the manifest's ``path``
    column (a WFDB record name stands for its ``.hea``/``.dat``/``.mat`` files); empty for
    cohorts without files (synthetic). An edited file changes its fingerprint."""
    manifest = cohort.manifest
    if "path" not in manifest.columns:
        return {}
    paths = dict(zip(manifest["record_id"], manifest["path"], strict=True))
    out = {}
    for record_id in map(str, record_ids):
        base = str(paths.get(record_id, ""))
        parts = []
        for candidate in (base, f"{base}.hea", f"{base}.dat", f"{base}.mat"):
            try:
                stat = os.stat(candidate)
            except OSError:
                continue
            if not os.path.isdir(candidate):
                parts.append(f"{candidate[len(base) :] or '.'}:{stat.st_size}:{stat.st_mtime_ns}")
        out[record_id] = "|".join(parts)
    return out


def _forget_changed_files(state: dict[str, Any], fingerprints: dict[str, str]) -> None:
    """Drop cached rows, failures and notes whose file changed since they were cached;
    record the current fingerprints (committed with the next index write)."""
    stored: dict[str, str] = state.setdefault("fingerprints", {})
    for record_id, fingerprint in fingerprints.items():
        if stored.get(record_id) != fingerprint:
            for kind in ("rows", "failed", *NOTE_KINDS):
                state.get(kind, {}).pop(record_id, None)
            stored[record_id] = fingerprint


@dataclass(frozen=True)
class RecordRead:
    """One record loaded and prepared by :func:`read_record`: ``item`` (None when it
    failed), ``failure`` (why, as :func:`bench.data.signal.failure_reason` says it; ``""`` when
    usable) and ``notes`` (the non-empty :data:`NOTE_KINDS` of a usable record)."""

    item: Any
    failure: str = ""
    notes: dict[str, list[str]] = field(default_factory=dict)


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
    return RecordRead(item, notes={kind: values for kind, values in notes.items() if values})


#: A produced chunk: its items, the usable ids (in row order), the failures, and the notes
#: (kind of :data:`NOTE_KINDS` → record id → values).
_Produced = tuple[np.ndarray | None, list[str], dict[str, str], dict[str, dict[str, list[str]]]]
#: What forked cache workers produce from (inherited, never pickled: cohorts may hold lambdas).
_WORK: tuple[_Layout, Cohort] | None = None


def cache_workers() -> int:
    """Worker processes for building caches: ``BENCH_CACHE_WORKERS`` or the CPU count (≤ 8)."""
    return worker_count("BENCH_CACHE_WORKERS")


def _produce(chunk: list[str]) -> _Produced:
    """Load, preprocess and render one chunk; bad records are returned with their error."""
    assert _WORK is not None
    layout, cohort = _WORK
    prepared, good, failed = [], [], {}
    notes: dict[str, dict[str, list[str]]] = {kind: {} for kind in NOTE_KINDS}
    for record_id in chunk:
        read = read_record(cohort, record_id, layout.prepare, layout.missing)
        if read.failure:
            failed[record_id] = read.failure
            continue
        prepared.append(read.item)
        good.append(record_id)
        for kind, values in read.notes.items():
            notes[kind][record_id] = values
    return (layout.produce(prepared) if good else None), good, failed, notes


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
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            yield from pool.map(_produce, chunks)
    finally:
        _WORK = None


def _append(
    folder: Path,
    state: dict[str, Any],
    layout: _Layout,
    items: np.ndarray | None,
    good: list[str],
    failed: dict[str, str],
    notes: dict[str, dict[str, list[str]]],
) -> None:
    """Write one produced chunk's rows and flush them, then record them in ``state`` (the
    index in memory; :class:`~bench.data.cache_index.IndexCommits` writes it)."""
    state["failed"].update(failed)
    for kind, values in notes.items():
        if values:
            state.setdefault(kind, {}).update(values)
    if items is not None:
        first = state["n_rows"]
        data = _open_for_rows(folder / "data.bin", layout, first + len(good))
        data[first : first + len(good)] = items
        data.flush()
        del data
        state["rows"].update({r: first + i for i, r in enumerate(good)})
        state["n_rows"] = first + len(good)


def _open_for_rows(path: Path, layout: _Layout, n_rows: int) -> np.memmap:
    """Writable memmap of ``path`` with room for ``n_rows`` items (grows the file)."""
    item_bytes = int(np.prod(layout.item_shape)) * layout.dtype.itemsize
    with open(path, "ab") as handle:
        if handle.tell() < n_rows * item_bytes:
            handle.truncate(n_rows * item_bytes)
    return np.memmap(path, dtype=layout.dtype, mode="r+", shape=(n_rows, *layout.item_shape))
