"""The store's building blocks: its errors, digest and content checks, and the
steps of writing one blob (stream while hashing, seal read-only and durable,
create a fresh temp name). shell/store.py puts them together; see it for the
guarantees they serve.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from cogw.core.digest import PREFIX, digest_error
from cogw.shell.storetemps import TEMP_PREFIX as TEMP_PREFIX
from cogw.shell.storetemps import own_temp_prefix

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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def stream_hashing(
    reader: BinaryIO, fd: int, digest: str, cancel: threading.Event | None
) -> tuple[int, str]:
    """Copy ``reader`` into ``fd`` while hashing; one read feeds both."""
    hasher = hashlib.sha256()
    written = 0
    while True:
        _check_cancel(cancel)
        chunk = reader.read(CHUNK_SIZE)
        if not chunk:
            return written, PREFIX + hasher.hexdigest()
        hasher.update(chunk)
        try:
            _write_all(fd, chunk)
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


def create_temp(directory: Path, create: Callable[[Path], None]) -> Path:
    """Run ``create`` on a fresh ``put-<random>`` name in ``directory``; return that name."""
    for _ in range(100):
        candidate = directory / f"{own_temp_prefix()}{secrets.token_hex(8)}"
        try:
            create(candidate)
        except FileExistsError:
            continue
        return candidate
    raise StoreError(f"create temp file: no free temp name in {directory}")
