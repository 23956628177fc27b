"""Opening an untrusted layer blob: its compression framing, as a bounded stream.

The magic bytes decide between gzip, zstd and a raw tar (as in Cog), and a blob
that contradicts the compression its media type declares is refused. Inflating
is bounded per read, so a zip bomb never sits in memory; shell/untar.py reads
the tar inside and budgets how far the stream may expand.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import BinaryIO, Protocol, cast

READ_SIZE = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class HostileLayer(Exception):
    """The layer holds something cogw will not write: a link, device, escaping or
    unexpected path, a wrong size, a duplicate, or it is truncated or corrupt."""


class _ChunkReader:
    """A read(n) view of an iterator of byte chunks, holding about one chunk.

    Reads advance an offset instead of re-slicing the chunk, so many small
    header reads from a large chunk stay linear in the bytes read.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = b""
        self._offset = 0

    def _fill(self) -> bool:
        """Make sure unread bytes are buffered; False at the end of the chunks."""
        while self._offset >= len(self._buffer):
            chunk = next(self._chunks, None)
            if chunk is None:
                return False
            self._buffer, self._offset = chunk, 0  # empty chunks are not the end
        return True

    def peek(self, n: int) -> bytes:
        self._fill()
        self._buffer, self._offset = self._buffer[self._offset :], 0
        while len(self._buffer) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        return self._buffer[:n]

    def read(self, n: int = -1) -> bytes:
        if not self._fill():
            return b""
        end = len(self._buffer) if n < 0 else self._offset + n
        out = self._buffer[self._offset : end]
        self._offset += len(out)
        return out


def _gzip_blocks(source: _ChunkReader) -> Iterator[bytes]:
    """Inflated blocks of at most READ_SIZE bytes, across gzip members (no zip bomb in memory)."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending = b""  # compressed bytes not yet fed to the decompressor
    while True:
        if inflate.eof:
            pending = inflate.unused_data or source.read(READ_SIZE)
            if not pending:
                return
            inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = pending or source.read(READ_SIZE)
        if not data:
            raise HostileLayer("gzip stream is truncated")
        try:
            # max_length bounds the output of one call, whatever the ratio.
            out = inflate.decompress(data, READ_SIZE)
        except zlib.error as err:
            raise HostileLayer(f"gzip stream is corrupt: {err}") from err
        pending = inflate.unconsumed_tail
        if out:
            yield out


def _zstd_reader(source: _ChunkReader) -> _ChunkReader:
    import zstandard  # only zstd layers pay for the import

    reader = zstandard.ZstdDecompressor().stream_reader(
        cast(BinaryIO, source), read_across_frames=True
    )

    def blocks() -> Iterator[bytes]:
        # Whole blocks, so small header reads are served from a buffer.
        while True:
            try:
                block = reader.read(READ_SIZE)
            except zstandard.ZstdError as err:
                raise HostileLayer(f"zstd stream is corrupt: {err}") from err
            if not block:
                return
            yield block

    return _ChunkReader(blocks())


class Readable(Protocol):
    def read(self, n: int = ..., /) -> bytes: ...


def _declared_compression(media_type: str) -> str:
    for suffix in ("gzip", "zstd"):
        if media_type.endswith(("+" + suffix, "." + suffix)):
            return suffix
    return ""


def open_layer(chunks: Iterable[bytes], media_type: str) -> Readable:
    """The uncompressed tar stream; the magic bytes decide, as in Cog, but a blob that
    contradicts a declared compression is refused."""
    source = _ChunkReader(chunks)
    head = source.peek(4)
    actual = "gzip" if head.startswith(GZIP_MAGIC) else "zstd" if head == ZSTD_MAGIC else ""
    declared = _declared_compression(media_type)
    if declared and declared != actual:
        raise HostileLayer(f"media type {media_type} but the blob is not {declared}")
    if actual == "gzip":
        return _ChunkReader(_gzip_blocks(source))
    if actual == "zstd":
        return _zstd_reader(source)
    return source
