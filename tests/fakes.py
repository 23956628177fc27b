"""In-memory stand-ins for the shell's protocols, for core and planner tests.

FakeStore implements the same Store protocol as FileStore, with the same digest
validation, the same size-then-digest checks and the same exceptions, and it
records what it was asked to do as data (``calls``) instead of mocking.
The state machine in tests/shell/test_store_stateful.py keeps it honest against
the real FileStore.
"""

from __future__ import annotations

import errno
import hashlib
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from cogw.core.digest import PREFIX, hex_of
from cogw.shell.store import (
    BlobNotFound,
    Cancelled,
    FileInfo,
    LinkMode,
    check_content,
    check_digest,
    drain,
)

CHUNK_SIZE = 1 << 20


class FakeStore:
    """A Store held in a dict; ``root`` is a path that need not exist."""

    def __init__(self, blobs: Iterable[bytes] = (), root: Path = Path("/fake/weights")) -> None:
        self.root = root
        self.blobs: dict[str, bytes] = {}
        self.calls: list[tuple[str, str]] = []
        for data in blobs:
            self.blobs[PREFIX + hashlib.sha256(data).hexdigest()] = data

    def _blob_path(self, digest: str) -> Path:
        hexpart = hex_of(check_digest(digest))
        return self.root / "files" / "sha256" / hexpart[:2] / hexpart

    def exists(self, digest: str) -> bool:
        check_digest(digest)
        return digest in self.blobs

    def put_file(
        self,
        digest: str,
        size: int,
        reader: BinaryIO,
        cancel: threading.Event | None = None,
    ) -> bool:
        self.calls.append(("put_file", digest))
        if self.exists(digest):
            drain(reader, cancel)
            return False
        data = _read_all(reader, cancel)
        check_content(digest, size, len(data), PREFIX + hashlib.sha256(data).hexdigest())
        self.blobs[digest] = data
        return True

    def ingest_path(self, digest: str, size: int, src: Path, mode: LinkMode = "auto") -> bool:
        self.calls.append(("ingest_path", digest))
        with open(src, "rb") as reader:
            return self.put_file(digest, size, reader)

    def path(self, digest: str) -> Path:
        blob = self._blob_path(digest)
        if digest not in self.blobs:
            raise BlobNotFound(errno.ENOENT, f"path {digest}: file does not exist", str(blob))
        return blob

    def blob_name(self, digest: str) -> str:
        return str(self._blob_path(digest))

    def list(self) -> Iterator[FileInfo]:
        for digest in sorted(self.blobs):
            yield FileInfo(digest=digest, size=len(self.blobs[digest]))

    def delete(self, digest: str) -> None:
        check_digest(digest)
        self.calls.append(("delete", digest))
        self.blobs.pop(digest, None)

    def verify(self, digest: str) -> bool:
        self.path(digest)
        return PREFIX + hashlib.sha256(self.blobs[digest]).hexdigest() == digest

    def corrupt(self, digest: str, data: bytes) -> None:
        """Replace a blob's bytes behind the store's back (what a stray write would do)."""
        self.blobs[digest] = data


def _read_all(reader: BinaryIO, cancel: threading.Event | None) -> bytes:
    """Read like FileStore does: chunk by chunk, honouring the cancel event."""
    chunks: list[bytes] = []
    while True:
        if cancel is not None and cancel.is_set():
            raise Cancelled("operation cancelled")
        chunk = reader.read(CHUNK_SIZE)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
