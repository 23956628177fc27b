"""verify's hashing: every blob's digest, large blobs on the pool, small ones here."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from cogw.core.cache.cachesnap import Blob
from cogw.core.cache.verify import blob_path
from cogw.core.plan.workers import POOL_MIN_BYTES
from cogw.shell.verify import hash_blobs


def _store(root: Path, contents: list[bytes]) -> list[Blob]:
    blobs = []
    for data in contents:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = Path(blob_path(str(root), digest))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        blobs.append(Blob(digest, len(data), 1, 0o444, 0))
    return blobs


def test_every_blob_is_hashed_small_ones_on_the_calling_thread(tmp_path: Path) -> None:
    small = [os.urandom(10 + i) for i in range(40)]
    large = [os.urandom(POOL_MIN_BYTES + i) for i in range(3)]
    blobs = _store(tmp_path, small + large)
    blobs.append(Blob("sha256:" + "0" * 64, 5, 1, 0o444, 0))  # gone since it was listed
    threads: dict[int, str] = {}
    lock = threading.Lock()

    def on_bytes(n: int) -> None:
        with lock:
            threads[n] = threading.current_thread().name

    hashes = hash_blobs(tmp_path, blobs, 4, on_bytes)
    assert hashes == {b.digest: b.digest for b in blobs[:-1]} | {blobs[-1].digest: ""}
    here = threading.current_thread().name
    assert {threads[len(d)] for d in small} == {here}
    assert all(threads[len(d)].startswith("verify") for d in large)


def test_a_changed_blob_hashes_to_what_it_holds_now(tmp_path: Path) -> None:
    (blob,) = _store(tmp_path, [b"original"])
    path = Path(blob_path(str(tmp_path), blob.digest))
    path.write_bytes(b"tampered")
    hashes = hash_blobs(tmp_path, [blob], 2, lambda n: None)
    assert hashes[blob.digest] == "sha256:" + hashlib.sha256(b"tampered").hexdigest()
