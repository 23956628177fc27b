"""The cache's project index on disk, and the store's use lock.

Two flock files live in the weights dir (Cog ignores both):

* ``projects.lock`` serialises read-modify-write of ``projects.json``;
* ``store.lock`` is the store's readers/writer lock. Every cogw command that
  uses the store for a project holds it *shared* for the whole command; gc holds
  it *exclusive* from its snapshot to its last deletion. So a pull, import or
  prepare running at the same time as gc either finished before gc looked (and
  its project and blobs are roots) or starts after gc is done: gc can never
  delete a blob a concurrent command just stored or is about to link.

Lock files are kept on release (unlinking a flock file lets a waiter lock an
inode nobody else will see). flock is released by the kernel when a process
dies, so a kill -9 never leaves the cache locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from returns.result import Failure, Result, Success

from cogw.core.cacheindex import (
    FILENAME,
    ProjectIndex,
    add_project,
    drop_projects,
    parse_index,
    render_index,
)
from cogw.core.diagnostics import Diagnostic
from cogw.shell.fs import atomic_write

INDEX_LOCK = "projects.lock"
STORE_LOCK = "store.lock"


def _open_lock(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


@contextlib.contextmanager
def _flock(path: Path, operation: int) -> Iterator[None]:
    fd = _open_lock(path)
    try:
        fcntl.flock(fd, operation)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def hold_shared(weights_dir: Path) -> Callable[[], None]:
    """Take the store lock shared; returns the function that releases it."""
    fd = _open_lock(weights_dir / STORE_LOCK)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except BaseException:
        os.close(fd)
        raise
    return lambda: os.close(fd)


@contextlib.contextmanager
def exclusive_store(weights_dir: Path, on_wait: Callable[[], None]) -> Iterator[None]:
    """Hold the store lock exclusively; ``on_wait`` runs once if others hold it."""
    fd = _open_lock(weights_dir / STORE_LOCK)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_index(weights_dir: Path) -> Result[ProjectIndex, Diagnostic]:
    path = weights_dir / FILENAME
    try:
        data: bytes | None = path.read_bytes()
    except FileNotFoundError:
        data = None
    except OSError as exc:
        return Failure(Diagnostic(f"cannot read the project index: {exc}", subject=str(path)))
    return parse_index(data, str(path))


def _update(weights_dir: Path, change: Callable[[ProjectIndex], ProjectIndex]) -> None:
    with _flock(weights_dir / INDEX_LOCK, fcntl.LOCK_EX):
        # A damaged index is rewritten only by gc's drop (never by a record):
        # recording must not erase what other projects registered.
        current = read_index(weights_dir)
        if not isinstance(current, Success):
            return
        before = current.unwrap()
        after = change(before)
        if after != before:
            atomic_write(weights_dir / FILENAME, render_index(after))


def record_project(weights_dir: Path, project_dir: Path) -> None:
    """Remember that ``project_dir`` uses this cache (idempotent, atomic, locked)."""
    _update(weights_dir, lambda index: add_project(index, str(project_dir)))


def forget_projects(weights_dir: Path, projects: Iterable[str]) -> None:
    gone = tuple(projects)
    if gone:
        _update(weights_dir, lambda index: drop_projects(index, gone))


def enter_cache(weights_dir: Path, project_dir: Path) -> Callable[[], None]:
    """What every project command does on opening the store: hold the store lock
    shared, then record the project (in that order, so a gc that starts after the
    lock was taken waits, and one that ran before cannot have missed the project)."""
    release = hold_shared(weights_dir)
    try:
        record_project(weights_dir, project_dir)
    except OSError:
        pass  # a read-only cache still serves reads; gc then simply does not know us
    except BaseException:
        release()
        raise
    return release
