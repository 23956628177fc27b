"""Upload streams: exact byte counts out of a caller's chunks, hashed on the way (or proven
by the stream itself), and a request body of known length."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

from cogw.shell.registry.errors import RegistryDigestMismatch


@runtime_checkable
class SelfProvingStream(Protocol):
    """An upload stream that proves its own bytes, so they are not hashed again here.

    ``prove`` is called once the whole stream was read, before the commit, and
    raises to cancel the upload. A fixed frame around a file's bytes is proven by
    the file's digest, which the stream's reader computed anyway for the store
    (``cogw.shell.import_tee``): one hash of the bytes instead of two.
    """

    def __iter__(self) -> Iterator[bytes]: ...

    def prove(self) -> None: ...


class StreamLengthMismatch(Exception):
    def __init__(self, consumed: int) -> None:
        super().__init__(f"stream ended after {consumed} bytes")
        self.consumed = consumed


class HashingReader:
    """Pulls exact byte counts out of an iterable of arbitrary-sized chunks, hashing all of
    it unless the iterable is a ``SelfProvingStream``."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""
        self._prove = chunks.prove if isinstance(chunks, SelfProvingStream) else None
        self._hasher = hashlib.sha256() if self._prove is None else None
        self.consumed = 0

    def take(self, n: int) -> Iterator[bytes]:
        remaining = n
        while remaining > 0:
            if not self._pending:
                nxt = next(self._chunks, None)
                if nxt is None:
                    raise StreamLengthMismatch(self.consumed)
                self._pending = nxt
                continue  # an empty piece is not the end of the stream
            piece, self._pending = self._pending[:remaining], self._pending[remaining:]
            if self._hasher is not None:
                self._hasher.update(piece)
            self.consumed += len(piece)
            remaining -= len(piece)
            yield piece

    def skip(self, n: int) -> None:
        for _ in self.take(n):
            pass

    def at_end(self) -> bool:
        while not self._pending:
            nxt = next(self._chunks, None)
            if nxt is None:
                return True
            self._pending = nxt
        return False

    def check_digest(self, digest: str) -> None:
        """The bytes taken are ``digest``'s (hashed, or proven by the stream); else the
        upload is cancelled."""
        if self._prove is not None:
            self._prove()
            return
        assert self._hasher is not None
        actual = "sha256:" + self._hasher.hexdigest()
        if actual != digest:
            raise RegistryDigestMismatch(
                f"upload of {digest} cancelled: the content has digest {actual}"
            )


class SizedBody:
    """An iterable request body with a known length, so requests sends Content-Length
    instead of chunked transfer encoding (registries reject chunked blob bodies)."""

    def __init__(self, chunks: Iterable[bytes], length: int) -> None:
        self._chunks = chunks
        self._length = length

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._chunks)


def stream_mismatch(digest: str, size: int, consumed: int) -> RegistryDigestMismatch:
    return RegistryDigestMismatch(
        f"upload of {digest} cancelled: the content ended after {consumed} bytes, expected {size}"
    )


def check_upload(reader: HashingReader, digest: str, size: int) -> None:
    """The whole stream was read and has the digest it claims; else the upload is cancelled."""
    if not reader.at_end():
        raise RegistryDigestMismatch(
            f"upload of {digest} cancelled: the content is longer than {size} bytes"
        )
    reader.check_digest(digest)
