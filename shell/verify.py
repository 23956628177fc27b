"""Verify's I/O: hash blobs in parallel, and the repair actions (quarantine, chmod, relink).

Hashing runs on ``jobs`` threads (hashlib releases the GIL), 4 MiB reads, with a
byte counter for the progress bar. Repair never deletes: a bad blob is renamed
into ``<weights dir>/quarantine/`` (one atomic rename on the same filesystem, so
after a kill -9 the blob is either still in place or quarantined, and a blob
that is simply absent is fetched again by the next pull). Mount files are
replaced by linking the new blob under a temp name beside them and renaming it
over the old one, so a running reader sees the old file or the new, never none.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cogw.core.cachesnap import BLOB_MODE, Blob
from cogw.core.verify import Relink, blob_path
from cogw.shell.fs import link_file

QUARANTINE_DIR = "quarantine"
_CHUNK = 4 << 20


def hash_path(path: str, on_bytes: Callable[[int], None]) -> str:
    hasher = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as source:
        while n := source.readinto(buffer):
            hasher.update(view[:n])
            on_bytes(n)
    return "sha256:" + hasher.hexdigest()


def hash_blobs(
    weights_dir: Path, blobs: Iterable[Blob], jobs: int, on_bytes: Callable[[int], None]
) -> dict[str, str]:
    """digest → what its blob's content hashes to now ("" when it vanished meanwhile)."""

    def one(blob: Blob) -> tuple[str, str]:
        try:
            return blob.digest, hash_path(blob_path(str(weights_dir), blob.digest), on_bytes)
        except FileNotFoundError:
            return blob.digest, ""

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(pool.map(one, list(blobs)))


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
