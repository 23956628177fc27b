"""Writing an OCI image layout: into a directory, or as a ``.tar`` archive.

Both writers take each blob as a stream of chunks with its expected digest and size, hash
it while writing, and keep it only when both match: a directory blob goes to a temp file
renamed into ``blobs/sha256/<hex>`` after the check (a blob already there with the right
size is kept, so an interrupted export resumes); a tar is written to ``FILE.tar.partial``
and renamed only when the whole layout is in it (a member that fails its check is cut off
again, so the blob can be written from another source). ``index.json`` is written last, so a
layout is never complete with a blob missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from cogw.core.artifact.ocilayout import BLOBS_DIR, INDEX_FILE, LAYOUT_BYTES, LAYOUT_FILE, blob_path
from cogw.core.digest import PREFIX
from cogw.shell.fs import atomic_write


class LayoutWriteError(Exception):
    """A blob's bytes did not match its digest or size; nothing of it was kept."""


class _Checked:
    """Hashes and counts the chunks that pass through; ``check`` compares at the end."""

    def __init__(self, digest: str, size: int) -> None:
        self.digest, self.size = digest, size
        self._hasher = hashlib.sha256()
        self._seen = 0

    def through(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self._hasher.update(chunk)
            self._seen += len(chunk)
            if self._seen > self.size:
                raise LayoutWriteError(f"blob {self.digest}: more than {self.size} bytes")
            yield chunk

    def check(self) -> None:
        actual = PREFIX + self._hasher.hexdigest()
        if self._seen != self.size or actual != self.digest:
            raise LayoutWriteError(
                f"blob {self.digest}: got {self._seen} bytes with digest {actual}, "
                f"expected {self.size} bytes"
            )


class DirLayoutWriter:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / BLOBS_DIR).mkdir(parents=True, exist_ok=True)

    def has(self, digest: str, size: int) -> bool:
        path = self.root / blob_path(digest)
        return path.is_file() and path.stat().st_size == size

    def add_blob(self, digest: str, size: int, chunks: Iterable[bytes]) -> None:
        target = self.root / blob_path(digest)
        checked = _Checked(digest, size)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in checked.through(chunks):
                    out.write(chunk)
                checked.check()
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def finish(self, index: bytes) -> None:
        atomic_write(self.root / LAYOUT_FILE, LAYOUT_BYTES)
        atomic_write(self.root / INDEX_FILE, index)

    def abort(self) -> None:
        pass  # every blob already in place was verified; keep them for a resumed export


class _ChunkReader:
    """A file-like view of a chunk iterator for tarfile.addfile: ``read(n)`` returns
    exactly n bytes until the stream ends (tarfile treats a short read as the end)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")

    def read(self, n: int = -1) -> bytes:
        out = bytearray()
        while n < 0 or len(out) < n:
            if not self._pending:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._pending = memoryview(chunk)
            take = len(self._pending) if n < 0 else min(n - len(out), len(self._pending))
            out += self._pending[:take]
            self._pending = self._pending[take:]
        return bytes(out)

    def drain(self) -> None:
        """Read to the end: the source checks its digest after its last byte."""
        if self._pending or any(chunk for chunk in self._chunks):
            raise LayoutWriteError("blob longer than its descriptor says")


class TarLayoutWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._partial = path.with_name(path.name + ".partial")
        self._file = open(self._partial, "wb")  # noqa: SIM115  # closed by finish/abort
        self._tar = tarfile.open(fileobj=self._file, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self._added: set[str] = set()
        for directory in ("blobs", BLOBS_DIR):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            self._tar.addfile(info)
        self._add(LAYOUT_FILE, LAYOUT_BYTES)

    def _add(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        self._tar.addfile(info, io.BytesIO(data))

    def has(self, digest: str, size: int) -> bool:
        return digest in self._added

    def add_blob(self, digest: str, size: int, chunks: Iterable[bytes]) -> None:
        checked = _Checked(digest, size)
        reader = _ChunkReader(checked.through(chunks))
        info = tarfile.TarInfo(blob_path(digest))
        info.size, info.mode = size, 0o644
        start = self._tar.offset
        try:
            # tarfile copies exactly info.size bytes (and raises if fewer arrive); a wrong
            # digest is caught after, and the member is cut off the archive again.
            self._tar.addfile(info, reader)  # only read() is used
            reader.drain()
            checked.check()
        except Exception:
            self._rewind(start)
            raise
        self._added.add(digest)

    def _rewind(self, offset: int) -> None:
        """Drop everything written after ``offset`` (a member that failed its check), so
        the caller may write that blob again from another source."""
        self._file.seek(offset)
        self._file.truncate()
        self._tar.offset = offset

    def finish(self, index: bytes) -> None:
        self._add(INDEX_FILE, index)
        self._tar.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._partial, self.path)

    def abort(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._partial.unlink()


LayoutWriter = DirLayoutWriter | TarLayoutWriter


def layout_writer(dest: Path) -> LayoutWriter:
    return TarLayoutWriter(dest) if dest.name.endswith(".tar") else DirLayoutWriter(dest)
