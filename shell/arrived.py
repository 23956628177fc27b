"""Received buffers kept for the hashing thread of shell/pull_direct.py, so the bytes
it hashes next come from memory instead of being read back from the file.

A range's reader hands each buffer it has written to ``offer``; a buffer near where the
hasher is (within ``window`` bytes ahead of it) is kept, and the reader then reads into
a new buffer instead of reusing that one. Anything not kept (the hasher is far behind,
or enough is held already) is read back from the file as before, so the hasher never
waits for a buffer: it takes what is held at its position or reads the file up to the
next held one. Memory stays bounded: at most ``limit`` buffers are held.
"""

from __future__ import annotations

import threading


class Arrived:
    """Buffers of the file, by offset, that the hasher may take instead of a read."""

    def __init__(self, limit: int, window: int) -> None:
        self._held: dict[int, memoryview] = {}
        self._lock = threading.Lock()
        self._limit = limit
        self._window = window
        self._hashed = 0  # where the hasher is; only it moves this, forwards

    def offer(self, offset: int, view: memoryview) -> bool:
        """Keep ``view`` (bytes at ``offset``) for the hasher; False when it is not kept,
        and the caller may reuse its buffer."""
        with self._lock:
            if len(self._held) >= self._limit or not (
                self._hashed <= offset < self._hashed + self._window
            ):
                return False
            self._held[offset] = view
            return True

    def take(self, offset: int) -> memoryview | None:
        """The held buffer that starts at ``offset``, given up by the holder."""
        with self._lock:
            return self._held.pop(offset, None)

    def read_limit(self, offset: int, end: int) -> int:
        """How far from ``offset`` the hasher may read the file: up to ``end`` or the
        next held buffer, whichever comes first."""
        with self._lock:
            return min([end, *(start for start in self._held if start > offset)])

    def hashed(self, offset: int) -> None:
        """The hasher has got to ``offset``: held buffers behind it are dropped."""
        with self._lock:
            self._hashed = offset
            for start in [s for s in self._held if s < offset]:
                del self._held[start]
