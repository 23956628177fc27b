"""Tar header bytes exactly as Go's archive/tar writes them for Cog's weight layers.

Knows the framing of one entry (PAX ``x`` header, PAX records, ustar header),
file padding and the end-of-archive marker, so that an uncompressed layer is
byte-identical to Cog's and its digest can be computed from file sizes and a
single read of the file bytes. Does not know file contents, compression or
which files go in which layer (see ``cogw.core.artifact.packing``).

Every entry is written with ``Format = FormatPAX`` and ``atime = ctime =
mtime = 0``; the non-zero atime/ctime force Go to emit a PAX header before
every entry, directories included (import spec §9.4).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence

BLOCK = 512
END_OF_ARCHIVE = bytes(2 * BLOCK)

_NAME_SIZE = 100
_MODE_FILE = 0o644
_MODE_DIR = 0o755
_TYPE_FILE = b"0"
_TYPE_DIR = b"5"
_TYPE_PAX = b"x"
# Sizes from 8 GiB up do not fit the 11 octal digits of the ustar size field.
_MAX_OCTAL_SIZE = (1 << 33) - 1
# Both timestamps are set (to 0) by Cog, and Go records them only in PAX.
_TIME_RECORDS = (("atime", "0"), ("ctime", "0"))

# (offset, length) of the ustar header fields we write.
_NAME = (0, 100)
_MODE = (100, 8)
_UID = (108, 8)
_GID = (116, 8)
_SIZE = (124, 12)
_MTIME = (136, 12)
_CHKSUM = (148, 8)
_TYPEFLAG = (156, 1)
_MAGIC = (257, 6)
_VERSION = (263, 2)
_DEVMAJOR = (329, 8)
_DEVMINOR = (337, 8)


def _round_up(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def file_padding(size: int) -> bytes:
    """Zero bytes that follow ``size`` bytes of file data up to the next block."""
    return bytes(_round_up(size) - size)


def _to_ascii(name: str) -> str:
    # Go's toASCII: non-ASCII runes and NUL are dropped from fixed-width fields.
    return "".join(ch for ch in name if ord(ch) < 0x80 and ch != "\0")


def _is_ascii(name: str) -> bool:
    return all(ord(ch) < 0x80 and ch != "\0" for ch in name)


def _put_string(block: bytearray, field: tuple[int, int], text: bytes) -> None:
    """Go's formatString: copy, NUL-terminate when shorter, never a dangling '/'."""
    offset, length = field
    chunk = text[:length]
    block[offset : offset + len(chunk)] = chunk
    if len(text) < length:
        block[offset + len(text)] = 0
    # A truncated file name ending in "/" would read as a directory in old readers.
    if len(text) > length and block[offset + length - 1] == ord("/"):
        kept = len(text[: length - 1].rstrip(b"/"))
        block[offset + kept] = 0


def _put_octal(block: bytearray, field: tuple[int, int], value: int) -> None:
    """Zero-padded octal with one trailing NUL; too-large values become 0 (Go's last resort)."""
    length = field[1]
    if value >= 1 << (3 * (length - 1)):
        value = 0
    _put_string(block, field, format(value, "o").zfill(length - 1).encode())


def _seal(block: bytearray, typeflag: bytes) -> bytes:
    """Set type, ustar magic and the checksum (6 octal digits, NUL, space)."""
    _put_string(block, _TYPEFLAG, typeflag)
    _put_string(block, _MAGIC, b"ustar\0")
    _put_string(block, _VERSION, b"00")
    block[_CHKSUM[0] : _CHKSUM[0] + _CHKSUM[1]] = b" " * 8
    checksum = sum(block)
    block[_CHKSUM[0] : _CHKSUM[0] + 8] = format(checksum, "o").zfill(6).encode() + b"\0 "
    return bytes(block)


def _pax_record(key: str, value: str) -> str:
    """``"<len> key=value\\n"`` where <len> counts the whole record, its own digits included."""
    body_len = len(key.encode()) + len(value.encode()) + 3
    size = body_len + len(str(body_len))
    if len(str(size)) + body_len != size:
        size = len(str(size)) + body_len
    return f"{size} {key}={value}\n"


def _pax_records(name: str, size: int) -> bytes:
    records = dict(_TIME_RECORDS)
    if len(name.encode()) > _NAME_SIZE or not _is_ascii(name):
        records["path"] = name
    if size > _MAX_OCTAL_SIZE:
        records["size"] = str(size)
    return "".join(_pax_record(key, records[key]) for key in sorted(records)).encode()


def _pax_header_name(name: str) -> bytes:
    """Go names the PAX header ``<dir>/PaxHeaders.0/<base>``, ASCII-only, cut to 100 bytes."""
    head, tail = posixpath.split(name)
    joined = posixpath.normpath(posixpath.join(head, "PaxHeaders.0", tail))
    return _to_ascii(joined).encode()[:_NAME_SIZE].rstrip(b"/")


def _pax_header(name: str, records: bytes) -> bytes:
    block = bytearray(BLOCK)
    _put_string(block, _NAME, _pax_header_name(name))
    for field in (_MODE, _UID, _GID):
        _put_octal(block, field, 0)
    _put_octal(block, _SIZE, len(records))
    _put_octal(block, _MTIME, 0)
    return _seal(block, _TYPE_PAX) + records + file_padding(len(records))


def _ustar_header(name: str, size: int, mode: int, typeflag: bytes) -> bytes:
    block = bytearray(BLOCK)
    _put_string(block, _NAME, _to_ascii(name).encode())
    _put_octal(block, _MODE, mode)
    for field in (_UID, _GID, _MTIME, _DEVMAJOR, _DEVMINOR):
        _put_octal(block, field, 0)
    _put_octal(block, _SIZE, size)
    return _seal(block, typeflag)


def _entry(name: str, size: int, mode: int, typeflag: bytes) -> bytes:
    if "\0" in name or not name:
        raise ValueError(f"tar entry name {name!r} is empty or contains NUL")
    if size < 0:
        raise ValueError(f"tar entry {name!r}: negative size {size}")
    return _pax_header(name, _pax_records(name, size)) + _ustar_header(name, size, mode, typeflag)


def dir_entry(name: str) -> bytes:
    """All the bytes of a directory entry; ``name`` ends with "/" ("a/b/")."""
    if not name.endswith("/"):
        raise ValueError(f"directory entry {name!r} must end with '/'")
    return _entry(name, 0, _MODE_DIR, _TYPE_DIR)


def file_header(name: str, size: int) -> bytes:
    """The bytes before a regular file's data: PAX header, records, ustar header."""
    return _entry(name, size, _MODE_FILE, _TYPE_FILE)


def ancestor_dirs(paths: Iterable[str]) -> list[str]:
    """Every ancestor directory of every path, deduplicated, byte-wise sorted, with "/".

    >>> ancestor_dirs(["vae/config.json", "text_encoder/a/b.json", "top.bin"])
    ['text_encoder/', 'text_encoder/a/', 'vae/']
    """
    dirs: set[str] = set()
    for path in paths:
        parts = path.split("/")[:-1]
        dirs.update("/".join(parts[: i + 1]) + "/" for i in range(len(parts)))
    # Go sorts strings by bytes; UTF-8 byte order equals code point order.
    return sorted(dirs)


def standalone_framing(path: str, size: int) -> tuple[bytes, bytes]:
    """(bytes before, bytes after) the file data of a one-file uncompressed layer.

    Hashing ``before + data + after`` gives the layer digest, so one read of
    the file yields both the file digest and the layer digest.
    """
    before = b"".join(dir_entry(d) for d in ancestor_dirs([path])) + file_header(path, size)
    return before, file_padding(size) + END_OF_ARCHIVE


def tar_size(files: Sequence[tuple[str, int]]) -> int:
    """Byte length of the uncompressed layer holding ``files`` (path, size) and their dirs."""
    dirs = sum(len(dir_entry(d)) for d in ancestor_dirs(path for path, _ in files))
    data = sum(len(file_header(path, size)) + _round_up(size) for path, size in files)
    return dirs + data + len(END_OF_ARCHIVE)
