"""Partial downloads kept for resuming: opened under a lock, progress recorded, discarded.

A large standalone layer's file is written into ``part-<file hex>`` beside its blob, and
its progress into ``part-<file hex>.resume`` (core/artifact/resume.py decides what the
record means and when it is trusted). The writer holds an exclusive ``flock`` on the
partial for as long as it writes, so a second pull of the same file at the same time gets
a private ``put-*`` temp instead and never touches the partial; the lock dies with its
process, so a kill -9 leaves a partial the next pull may take over. Progress is recorded
only after the bytes it names were flushed (``fdatasync``), so even after a power cut the
record never claims bytes the disk lost (and if it did, the re-hash would catch it).
"""

from __future__ import annotations

import errno
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from cogw.core.artifact.ranges import ByteRange
from cogw.core.artifact.resume import (
    Discard,
    Failure,
    PartialKey,
    PartialRecord,
    Resume,
    decode_record,
    encode_record,
    partial_name,
    record_name,
    resume_decision,
)
from cogw.shell.layerstream import HostileLayer
from cogw.shell.registry.errors import RegistryCancelled, RegistryDigestMismatch
from cogw.shell.store import Cancelled, FileStore, StoreError

_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


class TamperedPartial(Exception):
    """A kept partial's prefix no longer hashes to what was recorded: start over."""


@dataclass
class Partial:
    """An open partial (``fd`` at ``path``) and what it may be resumed from (``plan``);
    ``record`` is None for a private temp, which is never resumed or kept."""

    fd: int
    path: Path
    record: Path | None
    key: PartialKey
    plan: Resume | None = None
    why_not: str = ""

    @property
    def resumable(self) -> bool:
        return self.record is not None

    def checkpoint(self, verified: int, verified_digest: str, spans: tuple[ByteRange, ...]) -> None:
        """Record that the first ``verified`` bytes hash to ``verified_digest`` and that
        ``spans`` were written, once the bytes are on disk."""
        if self.record is None:
            return
        os.fdatasync(self.fd)
        data = encode_record(PartialRecord(self.key, verified, verified_digest, spans))
        tmp = self.record.with_name(self.record.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.record)

    def restart(self, why: str) -> None:
        """Forget what was kept: from byte 0 again, into the same (still locked) file."""
        os.ftruncate(self.fd, 0)
        self._drop_record()
        self.plan, self.why_not = None, why

    def discard(self) -> None:
        """Remove the partial and its record (nothing of it is worth keeping)."""
        self.path.unlink(missing_ok=True)
        self._drop_record()

    def finished(self) -> None:
        """The partial was published as the blob: only its record is left to remove."""
        self._drop_record()

    def close(self) -> None:
        os.close(self.fd)  # releases the lock

    def _drop_record(self) -> None:
        if self.record is not None:
            self.record.unlink(missing_ok=True)
            self.record.with_name(self.record.name + ".tmp").unlink(missing_ok=True)


def _locked_here(fd: int, path: Path) -> bool:
    """Take the partial's lock without waiting; False when another process holds it or
    the name was removed or replaced since it was opened (the lock would guard nothing)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except (BlockingIOError, FileNotFoundError):
        return False


def _read_record(path: Path) -> tuple[PartialRecord | None, float]:
    try:
        return decode_record(path.read_bytes()), path.stat().st_mtime
    except OSError:
        return None, 0.0


def open_partial(
    store: FileStore, key: PartialKey, fresh_start: int, streams: int, now: float
) -> Partial:
    """The partial for ``key``'s file, locked, with what it may be resumed from; a private
    temp (never resumed) when another live process holds the partial."""
    directory = store.blob_dir(key.file_digest)
    path = directory / partial_name(key.file_digest)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as err:
        raise StoreError(f"create temp file: {err}") from err
    if not _locked_here(fd, path):
        os.close(fd)
        fd, tmp = store.open_temp(key.file_digest)
        return Partial(fd, tmp, None, key, why_not="another pull is writing it")
    partial = Partial(fd, path, directory / record_name(key.file_digest), key)
    record, recorded_at = _read_record(directory / record_name(key.file_digest))
    info = os.fstat(fd)
    if info.st_size == 0 and record is None:
        return partial
    age = now - max(info.st_mtime, recorded_at)
    decision = resume_decision(record, key, info.st_size, age, fresh_start, streams)
    if isinstance(decision, Discard):
        partial.restart(decision.reason)
    else:
        partial.plan = decision
    return partial


def failure_of(exc: BaseException) -> Failure:
    """What ``exc`` means for a partial's bytes (see core's keep_partial)."""
    if isinstance(exc, KeyboardInterrupt | Cancelled | RegistryCancelled):
        return Failure.INTERRUPTED
    if isinstance(exc, RegistryDigestMismatch | HostileLayer | TamperedPartial | StoreError):
        return Failure.CORRUPT
    if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
        return Failure.DISK
    return Failure.NETWORK
