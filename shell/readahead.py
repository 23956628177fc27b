"""Asks the kernel to start reading the files a thread is about to read, one by one.

A thread reading many small files that are not in the page cache waits for the disk
at each: the disk idles between its requests. A :class:`ReadAhead` has the same
thread, before each read, open the file ``READAHEAD_LEAD`` places further on
(:mod:`cogw.core.plan.workers`) and ask for its pages with ``posix_fadvise(WILLNEED)``,
which returns at once: the disk works on those while the thread hashes. Done on the
reading thread itself, it costs one open and close of an inode the walk has just
cached, and no thread queueing for the GIL (a read-ahead thread cost 0.2 s more on a
warm 10 000-file inventory). It never fails the reader: a file it cannot open is
the reader's to report.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from cogw.core.plan.workers import READAHEAD_LEAD

#: Non-blocking: a path that became a fifo since the walk must not hang the reader.
_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC


def readahead_available() -> bool:
    return hasattr(os, "posix_fadvise")


class ReadAhead:
    """Read-ahead of ``paths``, which the caller reads in this order: the first
    ``lead`` are asked for at once, and the next one each time the caller says, with
    :meth:`reached`, how many it has read."""

    def __init__(self, paths: Sequence[Path | str], lead: int = READAHEAD_LEAD) -> None:
        self._paths = paths
        self._lead = lead
        for path in paths[:lead]:
            advise(path)

    def reached(self, count: int) -> None:
        ahead = count + self._lead - 1
        if ahead < len(self._paths):
            advise(self._paths[ahead])


def advise(path: Path | str) -> None:
    """Ask the kernel to start reading ``path``, a regular file; anything else is left."""
    try:
        fd = os.open(path, _FLAGS)
    except OSError:
        return
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    except OSError:
        pass
    finally:
        os.close(fd)
