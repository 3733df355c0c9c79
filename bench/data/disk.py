"""Files that must really be on disk before they are written through a memory map."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from bench.errors import RunError


def grow_file(fd: int, path: Path, size: int, new_size: int) -> None:
    """Grow the file ``fd`` from ``size`` to ``new_size`` bytes with its blocks allocated.

    A memory map over a sparse file the disk cannot back kills the process with SIGBUS on
    the first write (no error, no message: a full disk looked like a hung build), so the
    blocks are reserved first (``posix_fallocate``) and a full disk is a :class:`RunError`
    naming the folder; the rows committed so far are kept. Where the file system cannot
    allocate ahead, the file is extended sparse as before."""
    try:
        os.posix_fallocate(fd, size, new_size - size)
        return
    except AttributeError:  # no posix_fallocate on this platform (macOS)
        pass
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            os.ftruncate(fd, size)  # give back what a failed allocation may have taken
            free = shutil.disk_usage(path.parent).free
            raise RunError(
                f"{path.parent}: no space left on the device for the input cache "
                f"({new_size - size:,} more bytes needed, {free:,} free); free some space or "
                "pass --cache-dir on a larger disk, then run again: the rows cached so far "
                "are kept"
            ) from None
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    os.ftruncate(fd, new_size)
