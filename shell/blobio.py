"""The store's building blocks: its errors, digest and content checks, and the
steps of writing one blob (stream while hashing, seal read-only and durable,
create a fresh temp name). shell/store.py puts them together; see it for the
guarantees they serve.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import itertools
import os
import secrets
import stat
import threading
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

from cogw.core.digest import PREFIX, digest_error
from cogw.shell.storetemps import TEMP_PREFIX as TEMP_PREFIX
from cogw.shell.storetemps import own_temp_prefix

#: A path as the os functions take it: the hot paths keep strings, the rest Paths.
StrPath = str | os.PathLike[str]

CHUNK_SIZE = 1 << 20
BLOB_MODE = 0o444


class StoreError(Exception):
    """Something went wrong inside the store; the message is Cog's wording."""


class InvalidDigest(StoreError, ValueError):
    """The digest is not ``sha256:<64 lowercase hex>``; raised before any I/O."""


class SizeMismatch(StoreError):
    """The content had a different length than the caller promised."""


class DigestMismatch(StoreError):
    """The content hashed to a different digest than the caller promised."""


class BlobNotFound(StoreError, FileNotFoundError):
    """The blob is not in the store (a FileNotFoundError, as Cog's fs.ErrNotExist)."""

    def __str__(self) -> str:
        return self.strerror or ""


class Cancelled(Exception):
    """The caller's cancel event was set; the operation stopped and left nothing behind."""


def check_digest(digest: str) -> str:
    """``digest`` unchanged when valid, else InvalidDigest with Cog's message."""
    problem = digest_error(digest)
    if problem is not None:
        raise InvalidDigest(problem)
    return digest


def check_content(digest: str, size: int, actual_size: int, actual_digest: str) -> None:
    """Size first, then digest, with Cog's messages; a negative size is not checked."""
    if size >= 0 and actual_size != size:
        raise SizeMismatch(f"size mismatch for {digest}: expected {size} bytes, got {actual_size}")
    if actual_digest != digest:
        raise DigestMismatch(f"digest mismatch: expected {digest}, got {actual_digest}")


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("operation cancelled")


def drain(reader: BinaryIO, cancel: threading.Event | None = None) -> None:
    """Read ``reader`` to EOF, discarding the bytes (the idempotent-put path)."""
    while True:
        _check_cancel(cancel)
        if not reader.read(CHUNK_SIZE):
            return


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _next_read(written: int, size: int) -> int:
    """How much to ask the reader for: what is left of the ``size`` bytes promised, then
    one byte to see the end. A buffered file's read(1 MiB) makes a 1 MiB object even for
    a small file or at its end, and a weight can hold 10 000 small files; a reader that
    has more than it promised is read on in whole chunks (and refused for its size)."""
    left = size - written
    if left > 0:
        return min(CHUNK_SIZE, left)
    return 1 if left == 0 else CHUNK_SIZE


def stream_hashing(
    reader: BinaryIO, fd: int, digest: str, size: int, cancel: threading.Event | None
) -> tuple[int, str]:
    """Copy ``reader`` into ``fd`` while hashing; one read feeds both. ``size`` is what the
    caller expects (the caller checks it); the copy goes on to the reader's end."""
    hasher = hashlib.sha256()
    written = 0
    while True:
        _check_cancel(cancel)
        chunk = reader.read(_next_read(written, size))
        if not chunk:
            return written, PREFIX + hasher.hexdigest()
        hasher.update(chunk)
        try:
            write_all(fd, chunk)
        except OSError as err:
            raise StoreError(f"write {digest}: {err}") from err
        written += len(chunk)


def hash_file(path: Path) -> tuple[int, str]:
    """Size and digest of the file at ``path``, read in 1 MiB chunks."""
    hasher = hashlib.sha256()
    size = 0
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as source:
        while n := source.readinto(buffer):
            hasher.update(view[:n])
            size += n
    return size, PREFIX + hasher.hexdigest()


def seal(fd: int) -> None:
    """Make the temp blob read-only and durable before anyone can see it."""
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != BLOB_MODE:
            os.fchmod(fd, BLOB_MODE)
        os.fsync(fd)
    except OSError as err:
        raise StoreError(f"close temp file: {err}") from err


# A process's temp names: its pid, a random part drawn once, a counter. The exclusive
# create still decides; a clash (a reused pid's leftover) only draws a fresh name.
_TEMP_TOKEN = secrets.token_hex(4)
_temp_counter = itertools.count()


def _temp_names(directory: StrPath) -> Iterator[str]:
    """Candidate ``put-<pid>-*`` names in ``directory``: the next one is asked for only
    after the last was taken, and then with a freshly drawn random part."""
    token = _TEMP_TOKEN
    for _ in range(100):
        yield f"{directory}/{own_temp_prefix()}{token}{next(_temp_counter):x}"
        token = secrets.token_hex(8)


def create_temp(directory: Path, create: Callable[[Path], None]) -> Path:
    """Run ``create`` on a fresh ``put-<pid>-*`` name in ``directory``; return that name."""
    for name in _temp_names(directory):
        try:
            create(Path(name))
        except FileExistsError:
            continue
        return Path(name)
    raise StoreError(f"create temp file: no free temp name in {directory}")


def open_new_temp(directory: StrPath) -> tuple[int, str]:
    """A new, empty ``put-<pid>-*`` file in ``directory`` (0600), opened for writing;
    its name as a string (a Path per temp is measurable in a pull of small files)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for name in _temp_names(directory):
        try:
            return os.open(name, flags, 0o600), name
        except FileExistsError:
            continue
    raise StoreError(f"create temp file: no free temp name in {directory}")


def unlink_quietly(path: StrPath) -> None:
    """Remove ``path`` if it is there."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
#: errnos with which a filesystem or kernel refuses renameat2's RENAME_NOREPLACE flag.
_NO_NOREPLACE = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP})


@cache
def _renameat2() -> Any | None:
    """libc's ``renameat2``, or None where there is none (not Linux, old glibc)."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def rename_noreplace(src: StrPath, dst: StrPath) -> bool | None:
    """Rename ``src`` to ``dst`` unless ``dst`` exists, in one step: True when renamed,
    False when ``dst`` was there (``src`` is left), None when this system cannot do it
    (the caller links and unlinks instead). Other failures raise OSError."""
    fn = _renameat2()
    if fn is None:
        return None
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
        return True
    err = ctypes.get_errno()
    if err == errno.EEXIST:
        return False
    if err in _NO_NOREPLACE:
        return None
    raise OSError(err, os.strerror(err), str(dst))


#: errnos with which a filesystem refuses a hardlink it cannot make at all.
_NO_HARDLINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS})


def publish(tmp: StrPath, final: StrPath) -> None:
    """Move the verified, sealed temp to ``final``: a rename that never replaces, where
    the system has one; else a link, then the temp name dropped. Either way one step
    makes the blob visible whole, and the temp is gone afterwards.

    A twin already published by a concurrent writer is kept, never replaced:
    mounts hardlink the blob's inode, and replacing it would leave their files
    no longer links of what the store holds. The directory is not fsynced: the
    blob's bytes already are, so a crash can only lose the new name (the blob is
    then missing and fetched again), never leave a truncated blob under it.
    """
    try:
        moved = rename_noreplace(tmp, final)
    except OSError as err:
        unlink_quietly(tmp)
        raise StoreError(f"rename {final}: {err}") from err
    if moved is not None:
        if not moved:
            unlink_quietly(tmp)  # an identical, verified twin won the race
        return
    try:
        os.link(tmp, final)
    except FileExistsError:
        pass  # an identical, verified twin won the race; keep its inode
    except OSError as err:
        if err.errno not in _NO_HARDLINKS:
            raise StoreError(f"link {final}: {err}") from err
        _replace(tmp, final)  # no hardlinks here, so no mount shares the inode
    finally:
        unlink_quietly(tmp)


def _replace(tmp: StrPath, final: StrPath) -> None:
    try:
        os.replace(tmp, final)
    except OSError as err:
        raise StoreError(f"rename {final}: {err}") from err
