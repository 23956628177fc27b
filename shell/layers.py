"""Streams a planned layer's bytes (tar, optionally gzip) and digests them.

Knows how to turn a ``LayerPlan`` plus a way to open each file into the exact
blob bytes, chunk by chunk, so digesting and pushing re-run the same stream
and memory stays flat whatever the file sizes (no tar is ever written to
disk). Does not know where files come from (the caller's ``open_file``),
registries, or which files belong in which layer (``cogw.core.artifact.packing``).

Tar framing is byte-identical to Cog's; gzip uses Go's 10-byte header and
CRC32/ISIZE trailer around the raw deflate of ``cogw.shell.goflate``: Go's
compress/flate bytes (so gzip layers are Cog's too) when the C extension is
built, zlib's otherwise, hence ``compressor_identity`` in the envelope format.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.artifact.packing import LayerPlan
from cogw.core.artifact.tarformat import (
    END_OF_ARCHIVE,
    ancestor_dirs,
    dir_entry,
    file_header,
    file_padding,
    standalone_framing,
)
from cogw.core.digest import PREFIX
from cogw.core.lock.lockfile import MEDIA_TYPE_TAR, LockLayer
from cogw.shell.goflate import compressor_identity as compressor_identity
from cogw.shell.goflate import raw_deflater

# IO[bytes] rather than BinaryIO so plain ``open(path, "rb")`` callables fit.
OpenFile = Callable[[InventoryFile], IO[bytes]]

_GZIP_OS_UNKNOWN = 0xFF
_ISIZE_MASK = 0xFFFFFFFF


class LayerSourceError(Exception):
    """A file did not hold the bytes the plan promised (it changed since it was inventoried)."""


def gzip_header(level: int) -> bytes:
    """Go compress/gzip's header: no name, mtime 0, XFL from the level, OS 255."""
    xfl = {9: 2, 1: 4}.get(level, 0)
    return bytes([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, xfl, _GZIP_OS_UNKNOWN])


def _file_chunks(f: InventoryFile, open_file: OpenFile, chunk_size: int) -> Iterator[bytes]:
    with open_file(f) as reader:
        yield from exact_chunks(f.path, f.size, reader, chunk_size)


def exact_chunks(path: str, size: int, reader: IO[bytes], chunk_size: int) -> Iterator[bytes]:
    """Exactly ``size`` bytes of ``reader`` (the file at ``path``); a shorter or longer
    file would corrupt the tar, so either raises LayerSourceError."""
    remaining = size
    while remaining > 0:
        chunk = reader.read(min(chunk_size, remaining))
        if not chunk:
            raise LayerSourceError(
                f"{path}: expected {size} bytes, got {size - remaining} (file changed?)"
            )
        remaining -= len(chunk)
        yield chunk
    if reader.read(1):
        raise LayerSourceError(f"{path}: longer than {size} bytes (file changed?)")


class CheckedReader:
    """A reader of ``f``'s bytes that hashes what it hands out and raises
    LayerSourceError, instead of handing out the last of them, when they are not the
    content ``f`` promised. A layer packed straight from a source (while the store is
    still copying it) proves its files itself, as a store copy would have."""

    def __init__(self, raw: IO[bytes], f: InventoryFile) -> None:
        self._raw = raw
        self._file = f
        self._hash = hashlib.sha256()
        self._read = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._hash.update(data)
        self._read += len(data)
        if data and self._read >= self._file.size:
            self._check()
        return data

    def _check(self) -> None:
        f = self._file
        actual = PREFIX + self._hash.hexdigest()
        if self._read == f.size and actual != f.digest:
            raise LayerSourceError(
                f'"{f.path}": digest mismatch: expected {f.digest}, got {actual} (file changed?)'
            )

    def __enter__(self) -> CheckedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw.close()


def tar_chunks(plan: LayerPlan, open_file: OpenFile, chunk_size: int) -> Iterator[bytes]:
    """The uncompressed tar: ancestor dirs first, then files in plan order, then the end."""
    for directory in ancestor_dirs(f.path for f in plan.files):
        yield dir_entry(directory)
    for f in plan.files:
        yield file_header(f.path, f.size)
        yield from _file_chunks(f, open_file, chunk_size)
        padding = file_padding(f.size)
        if padding:
            yield padding
    yield END_OF_ARCHIVE


#: The tar stream is handed to the compressor in pieces of at least this many bytes: a
#: small file's header, bytes and padding would each be a call of their own, and each
#: call takes the GIL back (with other threads busy, a wait of up to a switch
#: interval). The pieces do not change the output (tests/shell/test_goflate.py).
DEFLATE_PIECE = 256 << 10


def _pieces(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """``chunks`` joined into pieces of at least ``size`` bytes (the last may be short)."""
    held: list[bytes] = []
    n = 0
    for chunk in chunks:
        held.append(chunk)
        n += len(chunk)
        if n >= size:
            yield held[0] if len(held) == 1 else b"".join(held)
            held, n = [], 0
    if held:
        yield b"".join(held)


def gzip_chunks(chunks: Iterable[bytes], level: int) -> Iterator[bytes]:
    """RFC 1952 framing as Go writes it around a raw deflate stream at ``level``."""
    yield gzip_header(level)
    deflate = raw_deflater(level)
    crc = 0
    size = 0
    for piece in _pieces(chunks, DEFLATE_PIECE):
        crc = zlib.crc32(piece, crc)
        size += len(piece)
        out = deflate.compress(piece)
        if out:
            yield out
    yield deflate.flush() + struct.pack("<II", crc, size & _ISIZE_MASK)


def stream_layer(
    plan: LayerPlan, open_file: OpenFile, chunk_size: int = 1 << 20
) -> Iterator[bytes]:
    """The layer blob, chunk by chunk. ``open_file`` is called once per file, in order."""
    tar = tar_chunks(plan, open_file, chunk_size)
    if plan.gzip_level is None:
        return tar
    return gzip_chunks(tar, plan.gzip_level)


def digest_layer(
    plan: LayerPlan, open_file: OpenFile, keep: Callable[[bytes], object] | None = None
) -> LockLayer:
    """Stream the layer into a hash: its digest and sizes; each chunk also goes to
    ``keep`` when given (a spool the push reads back), else nothing is kept."""
    hasher = hashlib.sha256()
    size = 0
    for chunk in stream_layer(plan, open_file):
        hasher.update(chunk)
        if keep is not None:
            keep(chunk)
        size += len(chunk)
    return LockLayer(
        digest=PREFIX + hasher.hexdigest(),
        media_type=plan.media_type,
        size=size,
        size_uncompressed=plan.file_bytes,
    )


class FramedDigests:
    """A file's own digest and its standalone uncompressed layer's, from one pass over
    the file's bytes: for a large incompressible file the layer is a fixed frame
    around them, so both come from the same read."""

    def __init__(self, path: str, size: int) -> None:
        before, self._after = standalone_framing(path, size)
        self._file = hashlib.sha256()
        self._layer = hashlib.sha256(before)
        self.layer_size = len(before) + size + len(self._after)

    def update(self, chunk: bytes) -> None:
        self._file.update(chunk)
        self._layer.update(chunk)

    def digests(self) -> tuple[str, str]:
        """(file digest, layer digest) of what was fed so far."""
        layer = self._layer.copy()
        layer.update(self._after)
        return PREFIX + self._file.hexdigest(), PREFIX + layer.hexdigest()


def digest_file_and_layer(
    path: str, size: int, reader: IO[bytes], chunk_size: int = 1 << 20
) -> tuple[str, LockLayer]:
    """One read of a file gives its own digest and its standalone uncompressed layer's
    (``FramedDigests``), saving a second pass over gigabytes. Raises LayerSourceError
    when the reader does not hold ``size`` bytes."""
    digests = FramedDigests(path, size)
    read = 0
    while chunk := reader.read(chunk_size):
        digests.update(chunk)
        read += len(chunk)
    if read != size:
        raise LayerSourceError(f"{path}: expected {size} bytes, got {read} (file changed?)")
    digest, layer_digest = digests.digests()
    layer = LockLayer(
        digest=layer_digest,
        media_type=MEDIA_TYPE_TAR,
        size=digests.layer_size,
        size_uncompressed=size,
    )
    return digest, layer


def digest_layers(plans: Sequence[LayerPlan], open_file: OpenFile, jobs: int) -> list[LockLayer]:
    """``digest_layer`` for every plan, ``jobs`` at a time, results in plan order.

    Threads suffice: the compressors and hashlib release the GIL on large buffers.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if jobs == 1 or len(plans) <= 1:
        return [digest_layer(plan, open_file) for plan in plans]
    from concurrent.futures import ThreadPoolExecutor  # here: status names the compressor only

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="digest-layer") as pool:
        return list(pool.map(lambda plan: digest_layer(plan, open_file), plans))
