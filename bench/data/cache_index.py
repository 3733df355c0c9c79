"""The index of an input cache (:mod:`bench.data.image_cache`): which row of ``data.bin``
holds each record, which records failed and why, each record's file fingerprint and the
digest of the signal it was made from.

It is kept compact for collections of 800,000 records (MIMIC-IV-ECG): one sorted array of
record ids (UTF-8 bytes), their rows (-1: not cached), the 64-bit hashes of their files'
sizes and modification times (where the cached row came from: a changed file is built
again) and the 64-bit digests of their decoded signals (:func:`bench.data.cohort.signal_digest`:
what the row was made of, whatever folder the file lies in; cell identities hash them),
plus dicts of the few records that failed or carry notes. On disk it is one ``index.npz``
(those arrays and a JSON header), replaced atomically. An index of the first layout
(``index.json``, dicts of every record) is read and rewritten; the records of an older index,
which lack digests, are read again for them (:meth:`CacheIndex.undigested`).

During a build it is committed at the end, when the build stops on an error, and in between
at most every :data:`COMMIT_SECONDS`, or less often so that rewriting it takes at most
:data:`COMMIT_SHARE` of the build (see :class:`IndexCommits`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.data.signal import ECGFormatError

if TYPE_CHECKING:
    from bench.data.cohort import Cohort

INDEX_VERSION = 3
INDEX_FILE = "index.npz"
#: The first layout's index (version 1), converted when read.
JSON_INDEX_FILE = "index.json"
#: Seconds of building between two commits of the index (see the module docstring) ...
COMMIT_SECONDS = 30.0
#: ... or more, so that rewriting the index takes at most this share of the build.
COMMIT_SHARE = 0.05
#: What an index keeps per usable record beside its row, each record id → a list of names or
#: messages: ``missing`` (leads a signal recipe zero-filled), ``dropped`` (extra channels
#: the reader left out) and ``notices`` (what the reader reported, see
#: :attr:`bench.data.signal.ECGSignal.notices`).
NOTE_KINDS: tuple[str, ...] = ("missing", "dropped", "notices")


def _clock() -> float:
    """Seconds for the commit schedule (a function, so tests can step it)."""
    return time.monotonic()


def id_array(record_ids: Sequence[str] | np.ndarray) -> np.ndarray:
    """Record ids as a fixed-width array of their UTF-8 bytes (what indexes are keyed by)."""
    return np.array([str(r).encode() for r in record_ids], dtype=np.bytes_)


def fingerprint_hash(fingerprint: str) -> int:
    """A record's file fingerprint (see :func:`bench.data.image_cache.record_fingerprints`)
    as a nonzero 64-bit number (0 stands for "none known")."""
    digest = hashlib.blake2b(fingerprint.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1


class RowIndex(Mapping[str, int]):
    """Record id → row, over sorted arrays (no Python object per record)."""

    def __init__(self, ids: np.ndarray, rows: np.ndarray) -> None:
        self.ids, self.row_array = ids, rows

    def positions(self, record_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """Position of each id in :attr:`ids`, -1 where it is absent."""
        keys = record_ids if isinstance(record_ids, np.ndarray) else id_array(record_ids)
        at = np.searchsorted(self.ids, keys).clip(max=max(len(self.ids) - 1, 0))
        found = (self.ids[at] == keys) if len(self.ids) else np.zeros(len(keys), dtype=bool)
        return np.where(found, at, -1)

    def __getitem__(self, record_id: str) -> int:
        (at,) = self.positions([record_id])
        if at < 0:
            raise KeyError(record_id)
        return int(self.row_array[at])

    def __contains__(self, record_id: object) -> bool:
        return isinstance(record_id, str) and bool(self.positions([record_id])[0] >= 0)

    def __iter__(self) -> Iterator[str]:
        return (raw.decode() for raw in self.ids)

    def __len__(self) -> int:
        return len(self.ids)


def record_fingerprints(cohort: Cohort, record_ids: Sequence[str]) -> np.ndarray | None:
    """Size and modification time of each record's file(s), from the manifest's ``path``
    column (a WFDB record name stands for its ``.hea``/``.dat``/``.mat`` files), hashed
    (:func:`fingerprint_hash`): one uint64 per id; None for cohorts without files
    (synthetic). An edited file changes its fingerprint."""
    manifest = cohort.manifest
    if "path" not in manifest.columns:
        return None
    paths = manifest.set_index("record_id")["path"]
    paths = paths[~paths.index.duplicated()].reindex([str(r) for r in record_ids])
    out = np.zeros(len(paths), dtype=np.uint64)
    for at, path in enumerate(paths.fillna("").astype(str)):
        parts = []
        for candidate in (path, f"{path}.hea", f"{path}.dat", f"{path}.mat"):
            try:
                stat = os.stat(candidate)
            except OSError:
                continue
            if not os.path.isdir(candidate):
                parts.append(f"{candidate[len(path) :] or '.'}:{stat.st_size}:{stat.st_mtime_ns}")
        out[at] = fingerprint_hash("|".join(parts))
    return out


class CacheIndex:
    """A cache's index in memory: ``ids`` (sorted), ``rows`` (-1: not cached),
    ``fingerprints`` and ``digests`` (0: none known) aligned with them, ``failed`` and
    ``notes`` (kind of :data:`NOTE_KINDS` → record id → values) for the records that have
    them."""

    def __init__(self, header: dict[str, Any], ids: np.ndarray, rows: np.ndarray,
                 fingerprints: np.ndarray, digests: np.ndarray) -> None:  # fmt: skip
        self.header, self.ids, self.rows = header, ids, rows
        self.fingerprints, self.digests = fingerprints, digests
        self.failed: dict[str, str] = header.pop("failed")
        self.notes: dict[str, dict[str, list[str]]] = header.pop("notes")

    @property
    def n_rows(self) -> int:
        """Rows of ``data.bin`` in use."""
        return int(self.header["n_rows"])

    def _drop(self, positions: np.ndarray) -> None:
        """Forget the rows, failures and notes of the records at ``positions``."""
        self.rows[positions] = -1
        self.digests[positions] = 0
        for raw in self.ids[positions]:
            record_id = raw.decode()
            self.failed.pop(record_id, None)
            for found in self.notes.values():
                found.pop(record_id, None)

    def include(self, record_ids: Sequence[str], fingerprints: np.ndarray | None) -> np.ndarray:
        """Make room for ``record_ids``; with their current ``fingerprints`` (None for cohorts
        without files), forget what was cached of a record whose files changed and keep the
        new fingerprints (committed with the next write). Returns the ids' positions."""
        keys = id_array(record_ids)
        new = np.setdiff1d(keys, self.ids)
        if len(new):
            order = np.argsort(np.concatenate([self.ids, new]), kind="stable")
            self.ids = np.concatenate([self.ids, new])[order]
            self.rows = np.concatenate([self.rows, np.full(len(new), -1, np.int64)])[order]
            none = np.zeros(len(new), np.uint64)
            self.fingerprints = np.concatenate([self.fingerprints, none])[order]
            self.digests = np.concatenate([self.digests, none])[order]
        positions = RowIndex(self.ids, self.rows).positions(keys)
        if fingerprints is not None:
            changed = positions[self.fingerprints[positions] != fingerprints]
            self._drop(changed)
            self.fingerprints[positions] = fingerprints
        return positions

    def todo(self, record_ids: Sequence[str], positions: np.ndarray) -> list[str]:
        """The ids of ``record_ids`` (at ``positions``) neither cached nor failed, once each."""
        pending = (self.rows[positions] < 0).tolist()
        wanted = (str(r) for r, p in zip(record_ids, pending, strict=True) if p)
        return list(dict.fromkeys(r for r in wanted if r not in self.failed))

    def undigested(self, record_ids: Sequence[str], positions: np.ndarray) -> list[str]:
        """The ids of ``record_ids`` (at ``positions``) cached without the digest of their
        signal (by an index of version 2 or 1), once each: they are read again for it."""
        lacking = ((self.rows[positions] >= 0) & (self.digests[positions] == 0)).tolist()
        return list(dict.fromkeys(str(r) for r, x in zip(record_ids, lacking, strict=True) if x))

    def add(self, good: list[str], failed: dict[str, str],
            notes: dict[str, dict[str, list[str]]], digests: Sequence[int]) -> None:  # fmt: skip
        """Record a produced chunk whose rows (``good``, in order, after the rows in use)
        are written and flushed, with the ``digests`` of their signals."""
        self.failed.update(failed)
        for kind, values in notes.items():
            self.notes.setdefault(kind, {}).update(values)
        if good:
            positions = RowIndex(self.ids, self.rows).positions(good)
            self.rows[positions] = np.arange(self.n_rows, self.n_rows + len(good))
            self.digests[positions] = np.asarray(digests, dtype=np.uint64)
            self.header["n_rows"] = self.n_rows + len(good)

    def redigest(self, good: list[str], failed: dict[str, str], digests: Sequence[int]) -> None:
        """Record the ``digests`` of cached records read again (:meth:`undigested`); one that
        fails now is no longer cached, and its failure is recorded."""
        if good:
            positions = RowIndex(self.ids, self.rows).positions(good)
            self.digests[positions] = np.asarray(digests, dtype=np.uint64)
        if failed:
            self._drop(RowIndex(self.ids, self.rows).positions(list(failed)))
            self.failed.update(failed)

    def cached(self, positions: np.ndarray) -> tuple[RowIndex, RowIndex]:
        """The cached records among those at ``positions``: their rows, and their signals'
        digests (over the same ids)."""
        built = np.unique(positions[self.rows[positions] >= 0])
        ids = self.ids[built]
        return RowIndex(ids, self.rows[built]), RowIndex(ids, self.digests[built])

    def save(self, path: Path) -> None:
        """Replace the index at ``path`` (an ``index.npz``) atomically."""
        header = {**self.header, "failed": self.failed, "notes": self.notes}
        tmp = path.with_name(f"{path.name}.tmp")
        with tmp.open("wb") as handle:
            np.savez(
                handle,
                header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
                ids=self.ids,
                rows=self.rows,
                fingerprints=self.fingerprints,
                digests=self.digests,
            )
        os.replace(tmp, path)


def _from_json(path: Path) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A version-1 ``index.json`` (dicts of every record) as the arrays of version 2 (ids,
    rows and fingerprints)."""
    state = json.loads(path.read_text())
    rows, prints = state.pop("rows"), state.pop("fingerprints", {})
    ids = id_array(sorted({*rows, *prints}, key=str.encode))
    decoded = [raw.decode() for raw in ids]
    header = {k: state.get(k) for k in ("key", "item_shape", "dtype", "n_rows", "failed")}
    header["notes"] = {kind: state[kind] for kind in NOTE_KINDS if kind in state}
    return header, (
        ids,
        np.array([rows.get(r, -1) for r in decoded], dtype=np.int64),
        np.array([fingerprint_hash(prints[r]) if r in prints else 0 for r in decoded], np.uint64),
    )


def read_index(
    folder: Path, key: str, item_shape: tuple[int, ...], dtype: np.dtype[Any]
) -> CacheIndex:
    """The index of the cache ``folder``, a new empty one when there is none; an index of
    another cache (``key``, ``item_shape``) is an :class:`ECGFormatError`."""
    path, legacy = folder / INDEX_FILE, folder / JSON_INDEX_FILE
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            header = json.loads(stored["header"].tobytes())
            arrays = stored["ids"], stored["rows"], stored["fingerprints"]
            digests = stored.get("digests")  # None in an index of version 2
    elif legacy.exists():
        header, arrays = _from_json(legacy)
        digests = None
    else:
        header = {"key": key, "item_shape": list(item_shape), "dtype": dtype.str, "n_rows": 0,
                  "failed": {}, "notes": {}}  # fmt: skip
        arrays = np.array([], dtype=np.bytes_), np.array([], np.int64), np.array([], np.uint64)
        digests = None
    if header.get("key") != key or header.get("item_shape") != list(item_shape):
        raise ECGFormatError(
            f"{path if path.exists() else legacy}: cache index is for {header.get('key')!r} "
            f"{header.get('item_shape')}, expected {key!r} {list(item_shape)}"
        )
    header["version"] = INDEX_VERSION
    ids, rows, prints = arrays
    digests = np.zeros(len(ids), np.uint64) if digests is None else digests.copy()
    return CacheIndex(header, ids, rows.copy(), prints.copy(), digests)


def write_index(path: Path, index: CacheIndex) -> None:
    """Replace the index at ``path`` by ``index`` atomically (see :meth:`CacheIndex.save`)."""
    index.save(path)


class IndexCommits:
    """Commits a build's index (see the module docstring): :meth:`maybe_commit` after each
    chunk, and on leaving the ``with`` block what is not committed yet, error or not (the
    rows it marks done were flushed before they entered ``index``)."""

    def __init__(self, path: Path, index: CacheIndex) -> None:
        self.path, self.index = path, index
        self.committed_at = _clock()
        self.write_s = 0.0
        self.pending = False

    def commit(self) -> None:
        """Write the index now (and drop a version-1 index beside it)."""
        start = _clock()
        write_index(self.path, self.index)
        self.path.with_name(JSON_INDEX_FILE).unlink(missing_ok=True)
        self.committed_at = _clock()
        self.write_s = self.committed_at - start
        self.pending = False

    def maybe_commit(self) -> None:
        """After a chunk entered ``index``: write it when enough building has passed since
        the last commit."""
        self.pending = True
        if _clock() - self.committed_at >= max(COMMIT_SECONDS, self.write_s / COMMIT_SHARE):
            self.commit()

    def __enter__(self) -> IndexCommits:
        return self

    def __exit__(self, *_: object) -> None:
        if self.pending:
            self.commit()
