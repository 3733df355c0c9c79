"""The index of an input cache (:mod:`bench.data.image_cache`): reading and checking it,
and committing it during a build — atomically, at the end of the build, on an error, and
at most every :data:`COMMIT_SECONDS` in between (see that module's docstring)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.signal import ECGFormatError

INDEX_VERSION = 1
#: Seconds of building between two commits of the index (see the module docstring) ...
COMMIT_SECONDS = 30.0
#: ... or more, so that rewriting the index takes at most this share of the build.
COMMIT_SHARE = 0.05


def _clock() -> float:
    """Seconds for the commit schedule (a function, so tests can step it)."""
    return time.monotonic()


def read_index(
    path: Path, key: str, item_shape: tuple[int, ...], dtype: np.dtype[Any]
) -> dict[str, Any]:
    """The index at ``path``, a new empty one when there is none; an index of another cache
    (``key``, ``item_shape``) is an :class:`ECGFormatError`."""
    if not path.exists():
        return {"version": INDEX_VERSION, "key": key, "item_shape": list(item_shape),
                "dtype": dtype.str, "n_rows": 0, "rows": {}, "failed": {}}  # fmt: skip
    state: dict[str, Any] = json.loads(path.read_text())
    if state.get("key") != key or state.get("item_shape") != list(item_shape):
        raise ECGFormatError(
            f"{path}: cache index is for {state.get('key')!r} {state.get('item_shape')}, "
            f"expected {key!r} {list(item_shape)}"
        )
    return state


def write_index(path: Path, state: dict[str, Any]) -> None:
    """Replace the index at ``path`` by ``state`` atomically."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


class IndexCommits:
    """Commits a build's index (see the module docstring): :meth:`maybe_commit` after each
    chunk, and on leaving the ``with`` block what is not committed yet, error or not (the
    rows it marks done were flushed before they entered ``state``)."""

    def __init__(self, path: Path, state: dict[str, Any]) -> None:
        self.path, self.state = path, state
        self.committed_at = _clock()
        self.write_s = 0.0
        self.pending = False

    def commit(self) -> None:
        """Write the index now."""
        start = _clock()
        write_index(self.path, self.state)
        self.committed_at = _clock()
        self.write_s = self.committed_at - start
        self.pending = False

    def maybe_commit(self) -> None:
        """After a chunk entered ``state``: write the index when enough building has passed
        since the last commit."""
        self.pending = True
        if _clock() - self.committed_at >= max(COMMIT_SECONDS, self.write_s / COMMIT_SHARE):
            self.commit()

    def __enter__(self) -> IndexCommits:
        return self

    def __exit__(self, *_: object) -> None:
        if self.pending:
            self.commit()
