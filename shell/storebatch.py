"""Many small blobs into the store with one flush for all of them, not one fsync each.

Every blob the store publishes has durable bytes first (see :mod:`cogw.shell.store`).
Done one file at a time, that is one fsync, so one journal commit, per file: a
bundle layer of 10 000 small files spends most of its time waiting for the disk.
A :class:`BatchedStore` writes and verifies each file into its temp as usual but
holds it back; :meth:`BatchedStore.commit` then makes all their bytes durable in
one pass (``syncfs`` of the store's filesystem on Linux, else an fsync of each
temp, issued after every write so the kernel can merge them), only then links
each into its final name, and makes the new names durable in one more pass.

The guarantee is unchanged: no blob is visible under its name before its bytes
are on disk. A crash before the commit leaves only ``put-<pid>-*`` temps, which
the store reclaims once their process is gone; :meth:`BatchedStore.discard`
removes them at once when the batch fails.
"""

from __future__ import annotations

import ctypes
import os
import stat
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from cogw.shell.blobio import BLOB_MODE, StoreError, StrPath, unlink_quietly
from cogw.shell.store import FileStore


@cache
def _syncfs() -> Any | None:
    """libc's ``syncfs(fd)``, or None where there is none (not Linux, no libc)."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def sync_filesystem(directory: Path) -> bool:
    """Flush every dirty page and inode of the filesystem holding ``directory``;
    False when this system cannot (the caller then fsyncs file by file)."""
    fn = _syncfs()
    if fn is None:
        return False
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if fn(fd) != 0:
            err = ctypes.get_errno()
            raise StoreError(f"sync {directory}: {os.strerror(err)}")
    finally:
        os.close(fd)
    return True


def _fsync_path(path: StrPath, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    except OSError as err:
        raise StoreError(f"sync {path}: {err}") from err
    finally:
        os.close(fd)


class BatchedStore(FileStore):
    """The store at ``root`` whose puts become visible together, at :meth:`commit`.

    ``absent`` names digests the caller just found missing (a pull's plan stat'ed every
    blob): their puts skip the store's own check. A twin that appeared meanwhile is
    harmless: the publishing rename keeps it and drops the temp."""

    def __init__(self, root: Path, absent: Collection[str] = ()) -> None:
        super().__init__(root)
        self._held: list[tuple[StrPath, StrPath]] = []
        self._lock = threading.Lock()
        self._absent = frozenset(absent)

    def _present(self, digest: str) -> bool:
        return digest not in self._absent and self.exists(digest)

    def __repr__(self) -> str:
        return f"BatchedStore({str(self.root)!r})"

    def _seal(self, fd: int) -> None:
        # Read-only now; durable at commit, before any name points at it.
        try:
            if stat.S_IMODE(os.fstat(fd).st_mode) != BLOB_MODE:
                os.fchmod(fd, BLOB_MODE)
        except OSError as err:
            raise StoreError(f"close temp file: {err}") from err

    def _place(self, tmp: StrPath, final: StrPath) -> None:
        with self._lock:
            self._held.append((tmp, final))

    def commit(self) -> None:
        """Make every held blob durable, then visible, then its name durable."""
        with self._lock:
            held, self._held = self._held, []
        if not held:
            return
        try:
            if not sync_filesystem(self.files_dir):
                for tmp, _ in held:
                    _fsync_path(tmp)
        except BaseException:
            _unlink(held)
            raise
        for i, (tmp, final) in enumerate(held):
            try:
                self._publish(tmp, final)
            except BaseException:
                _unlink(held[i:])
                raise
        if not sync_filesystem(self.files_dir):
            for directory in sorted({Path(final).parent for _, final in held}):
                _fsync_path(directory, directory=True)

    def discard(self) -> None:
        """Remove every held temp: none of them becomes a blob."""
        with self._lock:
            held, self._held = self._held, []
        _unlink(held)


def _unlink(held: list[tuple[StrPath, StrPath]]) -> None:
    for tmp, _ in held:
        unlink_quietly(tmp)


@contextmanager
def batched(store: object, absent: Collection[str] = ()) -> Iterator[Any]:
    """``store`` as a batch committed when the block ends (``absent``: see BatchedStore).

    When the block fails, the files already verified are kept all the same (each
    was checked against its own digest, as the unbatched store keeps them), unless
    it was interrupted: then they are removed, for a prompt exit. Only a
    FileStore batches; any other store (an in-memory one) is used as it is."""
    if not isinstance(store, FileStore) or isinstance(store, BatchedStore):
        yield store
        return
    batch = BatchedStore(store.root, absent)
    try:
        yield batch
    except Exception:
        try:
            batch.commit()
        except Exception:
            batch.discard()  # the first failure is the one to report
        raise
    except BaseException:
        batch.discard()
        raise
    batch.commit()
