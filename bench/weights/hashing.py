"""Content hashes of weights files, read once per file version.

A file that both enters a cell identity and is converted (``--trust-checkpoint``) is
hashed by one memoised pass (per path, size and mtime). Safetensors files hash their
header canonically: the safetensors writer orders the header's metadata differently from
one process to the next, so two byte-different files of the same tensors and metadata
get the same hash.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import BinaryIO


@functools.cache
def _sha256(path: str, size: int, mtime_ns: int, canonical: bool) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        if canonical:
            digest.update(_canonical_safetensors_header(handle, size))
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_sha256(path: str | Path, canonical_safetensors: bool = True) -> str:
    """The full SHA-256 of a file's content, memoised per path, size and mtime, so a file
    that both enters an identity and is converted is read once. With
    ``canonical_safetensors`` a ``.safetensors`` file hashes its header canonically (see
    :func:`_canonical_safetensors_header`); without it every file hashes its raw bytes."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    canonical = canonical_safetensors and resolved.name.endswith(".safetensors")
    return _sha256(str(resolved), stat.st_size, stat.st_mtime_ns, canonical)


def _canonical_safetensors_header(handle: BinaryIO, size: int) -> bytes:
    """A safetensors file's JSON header re-serialised with sorted keys (the handle is left
    at the start of the tensor bytes). The writer's header order varies between
    processes, so two byte-different files of the same tensors and metadata get the same
    hash. A file that is not valid safetensors is hashed as raw bytes."""
    prefix = handle.read(8)
    length = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
    if not 0 < length <= size - 8:
        handle.seek(0)
        return b""
    raw = handle.read(length)
    try:
        header = json.loads(raw)
    except ValueError:
        return prefix + raw
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
