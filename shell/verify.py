"""Verify's I/O: hash blobs in parallel, and the repair actions (quarantine, chmod, relink).

Hashing runs large blobs on ``jobs`` threads (hashlib releases the GIL), small ones
on the calling thread, reads of up to 4 MiB, with a byte counter for the progress
bar. Repair never deletes: a bad blob is renamed into ``<weights dir>/quarantine/``
(one atomic rename on the same filesystem, so after a kill -9 the blob is either
still in place or quarantined, and a blob that is simply absent is fetched again by
the next pull). Mount files are replaced by linking the new blob under a temp name
beside them and renaming it over the old one, so a running reader sees the old file
or the new, never none.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from cogw.core.cache.cachesnap import BLOB_MODE, Blob
from cogw.core.cache.verify import Relink, blob_path
from cogw.core.plan.workers import read_buffer_size
from cogw.shell.fs import link_file
from cogw.shell.splitpool import run_on_files

QUARANTINE_DIR = "quarantine"
_CHUNK = 4 << 20


def hash_path(path: str, on_bytes: Callable[[int], None], size: int = _CHUNK) -> str:
    """The digest of ``path``, read into a buffer of its expected ``size`` and one byte
    more (at least 4 KiB, at most 4 MiB): a fresh 4 MiB buffer costs more than a small
    blob's whole hash."""
    hasher = hashlib.sha256()
    buffer = bytearray(read_buffer_size(size, _CHUNK))
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as source:
        while n := source.readinto(buffer):
            hasher.update(view[:n])
            on_bytes(n)
    return "sha256:" + hasher.hexdigest()


def hash_blobs(
    weights_dir: Path, blobs: Iterable[Blob], jobs: int, on_bytes: Callable[[int], None]
) -> dict[str, str]:
    """digest → what its blob's content hashes to now ("" when it vanished meanwhile).
    Large blobs on ``jobs`` threads, small ones on this thread meanwhile, read ahead
    (:mod:`cogw.core.plan.workers`)."""
    todo = list(blobs)
    paths = [blob_path(str(weights_dir), blob.digest) for blob in todo]

    def one(i: int) -> str:
        try:
            return hash_path(paths[i], on_bytes, todo[i].size)
        except FileNotFoundError:
            return ""

    sizes = [blob.size for blob in todo]
    done = run_on_files(paths, sizes, one, jobs, threading.Event(), (), "verify")
    return {todo[i].digest: digest for i, digest in sorted(done.items())}


def quarantine(weights_dir: Path, digest: str) -> Path:
    """Move the blob aside (evidence is kept); returns where it went."""
    target_dir = weights_dir / QUARANTINE_DIR
    target_dir.mkdir(exist_ok=True)
    target = target_dir / f"{digest.removeprefix('sha256:')}.{time.time_ns()}"
    os.rename(blob_path(str(weights_dir), digest), target)
    return target


def seal(weights_dir: Path, digest: str) -> None:
    os.chmod(blob_path(str(weights_dir), digest), BLOB_MODE)


def relink(weights_dir: Path, item: Relink) -> None:
    """Point the mount file at the store's (new) blob, atomically."""
    dst = Path(item.path)
    tmp = dst.with_name(f".relink-{secrets.token_hex(8)}")
    link_file(Path(blob_path(str(weights_dir), item.digest)), tmp, "hardlink")
    try:
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
