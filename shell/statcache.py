"""The stat cache: digests remembered under a file's stat, in an SQLite file.

It makes re-imports O(files) instead of O(bytes): a digest is remembered
under the file's (st_dev, st_ino, st_size, st_mtime_ns), plus a framing key
for layer digests. A file rewritten within the filesystem's timestamp
granularity can keep its size and mtime, so entries for files modified less
than ``min_age_ns`` before being stored are not cached (git's "racy clean"
rule); such files are simply re-hashed next time.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

Framing = tuple[bytes, bytes]

# The stat cache's file name inside the weights store directory.
STAT_CACHE_NAME = "stat-cache.sqlite"
# Entries stored are written this many at a time, in one transaction: one commit per
# file made SQLite's lock the bottleneck of hashing many small files.
FLUSH_EVERY = 512
# Keys per query of lookup_many: 4 parameters each, and one more for the layer key, must
# stay under the connection's limit on parameters (999 in SQLite before 3.32, 32 766 since).
_MAX_BATCH = 2000


def batch_size(max_parameters: int) -> int:
    """How many keys one query of lookup_many asks for, given SQLite's parameter limit."""
    return max(1, min(_MAX_BATCH, (max_parameters - 1) // 4))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS stat_digest_v1 (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    layer TEXT NOT NULL, digest TEXT NOT NULL,
    PRIMARY KEY (dev, ino, size, mtime_ns, layer)
) WITHOUT ROWID
"""


class StatCache:
    """(st_dev, st_ino, st_size, st_mtime_ns[, layer key]) -> digest, in an SQLite file.

    Safe across threads (one connection behind a lock) and processes (WAL and a
    busy timeout). The cache is an optimisation only: a corrupt or unreadable
    database is deleted and recreated, and if even that fails the cache turns
    into a no-op. No method ever raises because of the database.
    """

    def __init__(self, path: Path, *, min_age_ns: int = 1_000_000_000) -> None:
        self.path = path
        self.min_age_ns = min_age_ns
        self._lock = threading.Lock()
        self._pending: list[tuple[int, int, int, int, str, str]] = []
        self._conn = self._open()
        self._batch = batch_size(999)
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._batch = batch_size(self._conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))

    def _open(self) -> sqlite3.Connection | None:
        try:
            return self._connect()
        except sqlite3.DatabaseError:
            self._discard()
        except OSError:
            return None
        try:
            return self._connect()
        except (sqlite3.Error, OSError):
            return None

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA journal_mode = WAL")
            # Losing the last few entries on power loss only costs a re-hash.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def _discard(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError, OSError):
                os.unlink(f"{self.path}{suffix}")

    def _recover(self) -> None:
        """Called after the database reported corruption mid-use."""
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        self._discard()
        self._conn = self._open()

    def lookup(self, st: os.stat_result, layer: str = "") -> str | None:
        """The digest stored for this exact stat (and layer key), or None."""
        with self._lock:
            self._flush()
            if self._conn is None:
                return None
            try:
                row = self._conn.execute(
                    "SELECT digest FROM stat_digest_v1 WHERE dev=? AND ino=? AND size=? "
                    "AND mtime_ns=? AND layer=?",
                    (*_key(st), layer),
                ).fetchone()
            except sqlite3.OperationalError:
                return None  # locked for longer than the busy timeout: a miss
            except sqlite3.DatabaseError:
                self._recover()
                return None
        return str(row[0]) if row else None

    def lookup_many(
        self, stats: Sequence[os.stat_result | None], layer: str = ""
    ) -> list[str | None]:
        """:meth:`lookup` for every stat in one pass (a few queries, not one per file);
        None where ``stats`` has None, where nothing is stored, or when the database fails."""
        keys = [_key(st) if st is not None else None for st in stats]
        wanted = [k for k in keys if k is not None]
        found: dict[tuple[int, int, int, int], str] = {}
        with self._lock:
            self._flush()
            for start in range(0, len(wanted), self._batch):
                rows = self._select_batch(wanted[start : start + self._batch], layer)
                if rows is None:
                    return [None] * len(keys)
                found.update({row[:4]: str(row[4]) for row in rows})
        return [found.get(k) if k is not None else None for k in keys]

    def _select_batch(
        self, keys: list[tuple[int, int, int, int]], layer: str
    ) -> list[tuple[int, int, int, int, str]] | None:
        """The stored rows for ``keys`` (the lock held); None when the database fails."""
        if self._conn is None:
            return None
        # A join with a VALUES table, so SQLite searches the primary key once per key (a
        # row-value IN list makes it scan the whole table).
        sql = (
            "SELECT s.dev, s.ino, s.size, s.mtime_ns, s.digest FROM (VALUES "
            + ",".join(["(?,?,?,?)"] * len(keys))
            + ") AS k JOIN stat_digest_v1 AS s ON s.dev = k.column1 AND s.ino = k.column2 "
            "AND s.size = k.column3 AND s.mtime_ns = k.column4 AND s.layer = ?"
        )
        try:
            return self._conn.execute(sql, [*itertools.chain.from_iterable(keys), layer]).fetchall()
        except sqlite3.OperationalError:
            return None  # locked for longer than the busy timeout: misses
        except sqlite3.DatabaseError:
            self._recover()
            return None

    def store(self, st: os.stat_result, digest: str, layer: str = "") -> None:
        """Remember ``digest`` for ``st``, unless the file was modified too recently to trust.
        Written with the next few hundred, or at the next lookup or close."""
        if time.time_ns() - st.st_mtime_ns < self.min_age_ns:
            return
        with self._lock:
            self._pending.append((*_key(st), layer, digest))
            if len(self._pending) >= FLUSH_EVERY:
                self._flush()

    def _flush(self) -> None:
        """Write the pending entries in one transaction (the lock held); on a database
        failure they are dropped: a lost entry only costs a re-hash."""
        rows, self._pending = self._pending, []
        if self._conn is None or not rows:
            return
        try:
            self._conn.execute("BEGIN")
        except sqlite3.OperationalError:
            return
        except sqlite3.DatabaseError:
            self._recover()
            return
        try:
            self._conn.executemany(
                "INSERT OR REPLACE INTO stat_digest_v1 VALUES (?, ?, ?, ?, ?, ?)", rows
            )
            self._conn.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            if not isinstance(exc, sqlite3.Error):
                raise
            if not isinstance(exc, sqlite3.OperationalError):
                self._recover()

    def close(self) -> None:
        with self._lock:
            self._flush()
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None

    def __enter__(self) -> StatCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _key(st: os.stat_result) -> tuple[int, int, int, int]:
    # SQLite integers are signed 64-bit; some filesystems report inode numbers above 2**63.
    ino = st.st_ino if st.st_ino < 1 << 63 else st.st_ino - (1 << 64)
    return (st.st_dev, ino, st.st_size, st.st_mtime_ns)


def framing_key(framing: Framing) -> str:
    """The cache key of a layer framing: any change to path, size or tar format changes it."""
    h = hashlib.sha256(len(framing[0]).to_bytes(8, "big"))
    h.update(framing[0])
    h.update(framing[1])
    return h.hexdigest()


def cached_layer_digest(cache: StatCache, path: Path, digest: str, framing: Framing) -> str | None:
    """The layer digest remembered for ``path`` in ``framing``, if the file is still the one
    that was hashed to ``digest``.

    "Still the one" means its current (dev, ino, size, mtime_ns) is the key the
    file digest was stored under: the same trust a cached inventory gives. None
    when the file changed, is not a regular file, cannot be stat'ed, or the
    cache has no entry, so the caller reads the file instead.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or cache.lookup(st) != digest:
        return None
    return cache.lookup(st, framing_key(framing))
