"""Reads an untrusted layer blob and stores the files the lockfile expects from it.

A layer from a registry is hostile until proven otherwise (architecture §8).
This module knows the tar format (ustar, PAX, GNU long names; the gzip/zstd
framing around it is shell/layerstream.py), and accepts only regular files and
directories whose names the lockfile lists, with the sizes it records;
everything else is refused with ``HostileLayer`` naming the entry. File bytes
stream straight into the store, which verifies each digest, so memory stays
flat for multi-GB files.
Does not know registries, events, or which files were missing beforehand.

Tar is parsed here rather than with ``tarfile``: tarfile treats a bad or
truncated header after the first entry as a clean end of archive, and a
reader of untrusted input must tell "ended" from "cut short".
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import BinaryIO, Protocol, cast

from cogw.core.lock.lockfile import LockFile
from cogw.core.paths import quote
from cogw.shell.layerstream import READ_SIZE, HostileLayer, Readable, open_layer
from cogw.shell.store import Cancelled

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
# Metadata entries are read into memory: bound them so a header cannot claim gigabytes.
MAX_META_SIZE = 1 << 20
# Tar bytes allowed beyond the expected file data: headers, long names, directories.
TAR_OVERHEAD_PER_FILE = 8 << 10
TAR_OVERHEAD_SLACK = 64 << 20

_REGULAR = {b"0", b"\0", b"7"}  # '7' (contiguous) is a regular file to every reader
_REFUSED_KINDS = {
    b"1": "hardlink",
    b"2": "symlink",
    b"3": "character device",
    b"4": "block device",
    b"6": "fifo",
    b"K": "long link name",
    b"S": "sparse file",
}


class StoreFileError(Exception):
    """The store refused a file's bytes (digest or size mismatch, disk error); the
    original error is the ``__cause__``."""


class StoreLike(Protocol):
    def put_file(
        self, digest: str, size: int, reader: BinaryIO, cancel: threading.Event | None = None
    ) -> bool: ...


class _Budget:
    """Counts uncompressed bytes: a layer may only expand to about the files it should hold,
    so a small blob cannot keep us inflating metadata forever."""

    def __init__(self, stream: Readable, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._used = 0

    def read(self, n: int = READ_SIZE, /) -> bytes:
        chunk = self._stream.read(n)
        self._used += len(chunk)
        if self._used > self._limit:
            raise HostileLayer(
                f"layer expands beyond {self._limit} bytes, more than its files could need"
            )
        return chunk


def _tar_budget(expected: Mapping[str, LockFile]) -> int:
    data = sum(f.size + _padding(f.size) for f in expected.values())
    return data + len(expected) * TAR_OVERHEAD_PER_FILE + TAR_OVERHEAD_SLACK


# --- tar parsing -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Header:
    name: str
    kind: bytes
    size: int


def _truncated(what: str) -> HostileLayer:
    return HostileLayer(f"layer is truncated inside {what}")


def _read_exact(stream: Readable, n: int, what: str) -> bytes:
    parts = []
    remaining = n
    while remaining > 0:
        # Errors of the underlying blob stream (network, cancellation) pass through as they are.
        chunk = stream.read(min(remaining, READ_SIZE))
        if not chunk:
            raise _truncated(what)
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _skip(stream: Readable, n: int, what: str) -> None:
    while n > 0:
        n -= len(_read_exact(stream, min(n, READ_SIZE), what))


def _padding(size: int) -> int:
    return -size % BLOCK


def _parse_number(field: bytes, what: str) -> int:
    if field[:1] == b"\x80":  # GNU base-256, positive only
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        value = int(text, 8)
    except ValueError:
        raise HostileLayer(f"invalid {what} field {field!r} in tar header") from None
    return value


def _check_checksum(block: bytes) -> None:
    stored = _parse_number(block[148:156], "checksum")
    rest = block[:148] + block[156:]
    unsigned = sum(rest) + 8 * ord(" ")
    if stored == unsigned:
        return
    # Some old writers summed signed chars; every reader accepts both.
    signed = unsigned - 256 * sum(1 for b in rest if b > 127)
    if stored != signed:
        raise HostileLayer("tar header checksum mismatch (not a tar stream, or corrupt)")


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HostileLayer(f"tar entry name {raw!r} is not UTF-8") from None


def _ustar_name(block: bytes) -> str:
    name = block[0:100].split(b"\0", 1)[0]
    if block[257:263] == b"ustar\0":  # POSIX ustar; GNU keeps other fields there
        prefix = block[345:500].split(b"\0", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    return _decode(name)


def _pax_records(data: bytes) -> dict[bytes, bytes]:
    """``"<len> key=value\\n"`` records; each length must be exactly right."""
    records: dict[bytes, bytes] = {}
    while data:
        length_text, _, _ = data.partition(b" ")
        if not length_text.isdigit() or int(length_text) > len(data) or int(length_text) < 5:
            raise HostileLayer("malformed PAX record")
        record, data = data[: int(length_text)], data[int(length_text) :]
        key, sep, value = record[len(length_text) + 1 : -1].partition(b"=")
        if not sep or not record.endswith(b"\n"):
            raise HostileLayer("malformed PAX record")
        records[key] = value  # only path and size are decoded: others may be binary
    return records


class _TarStream:
    """Header by header over an uncompressed tar stream; entry data is read by the caller."""

    def __init__(self, stream: Readable) -> None:
        self.stream = stream

    def _meta_data(self, size: int, kind: bytes) -> bytes:
        if size > MAX_META_SIZE:
            raise HostileLayer(f"tar metadata entry (type {kind.decode()}) of {size} bytes")
        data = _read_exact(self.stream, size, "a metadata entry")
        _skip(self.stream, _padding(size), "padding")
        return data

    def _apply_pax(self, records: dict[bytes, bytes], overrides: dict[str, str]) -> None:
        if any(key.startswith(b"GNU.sparse.") for key in records):
            raise HostileLayer("sparse files are not allowed")
        for key in ("path", "size"):
            if key.encode() in records:
                overrides[key] = _decode(records[key.encode()])

    def next_header(self) -> _Header | None:
        """The next real entry with PAX/GNU names applied; None at the end-of-archive marker."""
        overrides: dict[str, str] = {}
        while True:
            block = _read_exact(self.stream, BLOCK, "a tar header (no end-of-archive marker)")
            if block == _ZERO_BLOCK:
                if _read_exact(self.stream, BLOCK, "the end-of-archive marker") != _ZERO_BLOCK:
                    raise HostileLayer("a zero block followed by data (corrupt tar)")
                return None
            _check_checksum(block)
            kind, size = block[156:157], _parse_number(block[124:136], "size")
            if kind == b"x":
                self._apply_pax(_pax_records(self._meta_data(size, kind)), overrides)
            elif kind == b"g":
                self._meta_data(size, kind)  # global defaults: nothing we use
            elif kind == b"L":
                overrides["path"] = _decode(self._meta_data(size, kind).split(b"\0", 1)[0])
            else:
                return self._header(block, kind, size, overrides)

    def _header(self, block: bytes, kind: bytes, size: int, pax: dict[str, str]) -> _Header:
        name = pax.get("path") or _ustar_name(block)
        if "size" in pax:
            if not pax["size"].isdigit():
                raise HostileLayer(f"tar entry {quote(name)}: invalid PAX size")
            size = int(pax["size"])
        if kind == b"\0" and name.endswith("/"):
            kind = b"5"  # legacy regular type on a "dir/" name is a directory
        return _Header(name, kind, size)

    def skip_data(self, size: int) -> None:
        _skip(self.stream, size + _padding(size), "entry data")


class _EntryReader:
    """Exactly ``size`` bytes of one entry; a short stream is an error, never a short file."""

    def __init__(self, stream: Readable, size: int, name: str) -> None:
        self._stream = stream
        self.remaining = size
        self._name = name

    def read(self, n: int = -1) -> bytes:
        if self.remaining == 0:
            return b""
        want = self.remaining if n < 0 else min(n, self.remaining)
        # A short read is fine (the store reads on); only the end of the layer is not.
        # The entry's quoted name is built for the error alone: this runs once per file.
        chunk = self._stream.read(min(want, READ_SIZE))
        if not chunk:
            raise _truncated(f"file {quote(self._name)}")
        self.remaining -= len(chunk)
        return chunk


# --- policy ------------------------------------------------------------------------


def _check_name(name: str) -> None:
    if not name or "\0" in name:
        raise HostileLayer(f"tar entry {quote(name)}: empty name or NUL byte")
    if name.startswith("/"):
        raise HostileLayer(f"tar entry {quote(name)}: absolute path")
    if ".." in name and ".." in name.rstrip("/").split("/"):
        raise HostileLayer(f"tar entry {quote(name)}: path escapes with '..'")


def _check_kind(header: _Header) -> None:
    if header.kind in _REGULAR or header.kind == b"5":
        return
    what = _REFUSED_KINDS.get(header.kind, f"unsupported entry type {header.kind!r}")
    raise HostileLayer(f"tar entry {quote(header.name)}: {what} not allowed")


def _check_dir(header: _Header, seen_dirs: set[str]) -> None:
    name = header.name.rstrip("/")
    if header.size != 0:
        raise HostileLayer(f"tar entry {quote(header.name)}: directory with {header.size} bytes")
    if name in seen_dirs:
        raise HostileLayer(f"tar entry {quote(header.name)}: duplicate entry")
    seen_dirs.add(name)


def _expected_file(header: _Header, expected: Mapping[str, LockFile], seen: set[str]) -> LockFile:
    wanted = expected.get(header.name)
    if header.name not in seen and wanted is not None and header.size == wanted.size:
        return wanted
    where = f"tar entry {quote(header.name)}"  # only built for the error
    if header.name in seen:
        raise HostileLayer(f"{where}: duplicate entry")
    if wanted is None:
        raise HostileLayer(f"{where}: unexpected file not in lockfile")
    raise HostileLayer(f"{where}: size {header.size} but the lockfile says {wanted.size}")


def _store_entry(
    tar: _TarStream, wanted: LockFile, store: StoreLike, cancel: threading.Event | None
) -> bool:
    reader = _EntryReader(tar.stream, wanted.size, wanted.path)
    try:
        new = store.put_file(wanted.digest, wanted.size, cast(BinaryIO, reader), cancel)
    except (HostileLayer, Cancelled):
        raise
    except Exception as err:
        # Cog's wording: the store's cause ("digest mismatch: ...") with the file it concerns.
        raise StoreFileError(f"store {wanted.path} ({wanted.digest}): {err}") from err
    # A store may stop reading early (e.g. on a size check): keep the stream aligned.
    tar.skip_data(reader.remaining)
    _skip(tar.stream, _padding(wanted.size), "padding")
    return new


class _Head:
    """The first bytes of a layer as a stream; reading past them is ``_PastHead``."""

    def __init__(self, head: bytes) -> None:
        self._head = memoryview(head)
        self.offset = 0

    def read(self, n: int = -1, /) -> bytes:
        if self.offset + n > len(self._head):
            raise _PastHead
        self.offset += n
        return bytes(self._head[self.offset - n : self.offset])


class _PastHead(Exception):
    pass


def first_file(head: bytes, expected: Mapping[str, LockFile]) -> tuple[LockFile, int] | None:
    """The layer's first entry, when it is a file the lockfile expects, and where its
    bytes start; None when the first entry is something else or its header does not fit
    in ``head``. The same checks as extract_layer: a hostile entry is HostileLayer."""
    stream = _Head(head)
    try:
        header = _TarStream(stream).next_header()
    except _PastHead:
        return None
    if header is None or header.kind == b"5":
        return None
    _check_name(header.name)
    _check_kind(header)
    return _expected_file(header, expected, set()), stream.offset


def is_archive_end(tail: bytes, file_size: int) -> bool:
    """Whether the bytes after a file's data are its padding and the end-of-archive
    marker (two zero blocks); what follows the marker is not read, as by extract_layer."""
    marker = _padding(file_size) + 2 * BLOCK
    return len(tail) >= marker and tail[:marker] == bytes(marker)


def extract_layer(
    chunks: Iterable[bytes],
    media_type: str,
    expected: Mapping[str, LockFile],
    store: StoreLike,
    on_file: Callable[[LockFile, bool], None] | None = None,
    cancel: threading.Event | None = None,
) -> set[str]:
    """Store every regular file of the layer; return their paths.

    ``expected`` maps lockfile paths to entries (names must match exactly);
    ``on_file(entry, newly_stored)`` is called after each file. Reading stops
    at the end-of-archive marker; the caller drains the rest of the blob (so
    its digest can be checked) and checks that every needed file appeared.
    """
    tar = _TarStream(_Budget(open_layer(chunks, media_type), _tar_budget(expected)))
    stored: set[str] = set()
    seen_dirs: set[str] = set()
    while True:
        if cancel is not None and cancel.is_set():
            raise Cancelled("operation cancelled")
        header = tar.next_header()
        if header is None:
            return stored
        _check_name(header.name)
        _check_kind(header)
        if header.kind == b"5":
            _check_dir(header, seen_dirs)
            continue
        wanted = _expected_file(header, expected, stored)
        new = _store_entry(tar, wanted, store, cancel)
        stored.add(wanted.path)
        if on_file is not None:
            on_file(wanted, new)
