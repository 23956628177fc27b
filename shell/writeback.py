"""Start writing a file's bytes to disk while the rest is still arriving.

A blob is made durable with one fsync before it becomes visible. Left alone, the kernel
keeps most of a fast download dirty in the page cache, and that fsync then writes
hundreds of megabytes while the pull waits. Asking for write-back of each range as soon
as it has been written and hashed (Linux ``sync_file_range`` with only
``SYNC_FILE_RANGE_WRITE``: start, do not wait) overlaps the disk with the network, and
the final fsync finds little left to do. It changes nothing about what is durable when:
the fsync before the rename still gives the guarantee. Where the call does not exist
(not Linux, no libc), this does nothing.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

_SYNC_FILE_RANGE_WRITE = 2

_Call = Callable[[int, int, int, int], int]


def _load() -> _Call | None:
    try:
        call = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call


_sync_file_range = _load()


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to begin writing ``length`` bytes at ``offset`` of ``fd`` to disk.
    A hint only: failures are ignored, since the fsync that follows decides durability."""
    if _sync_file_range is not None and length > 0:
        _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)
