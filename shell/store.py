"""The local content-addressed store: files keyed only by their sha256 digest.

The store knows only digests. File names, layers, weights and registries are the
caller's business; keeping the surface this small is what lets the FileStore and
the in-memory FakeStore be swapped (and checked against each other).

Layout, shared with Cog v0.19.3 so both tools use one cache:
``<root>/files/sha256/<hex[:2]>/<hex>``, temp files ``put-*`` beside the blobs.

Guarantees, stronger than Cog's (runtime spec §2, §15):
* a blob appears under its final name only after its size and digest were
  verified and its bytes fsynced, so a crash never leaves a truncated blob that
  is trusted forever;
* blobs are read-only (0444): readable by any container user, and a process that
  writes through a mount hardlink gets EACCES instead of corrupting the cache
  (root can still write; ``verify`` re-hashes to catch that);
* a failed, cancelled or interrupted put leaves nothing: no temp, no blob;
* concurrent writers of one digest (threads or processes) all succeed without
  locks: each writes its own temp file and renames it into place.

Errors: problems of the store itself (bad digest, disk full, mismatch) raise
``StoreError`` subclasses with Cog's messages. Exceptions raised by the caller's
reader propagate unchanged: the caller made the reader and knows what its errors
mean (Cog labelled them "write …", a bug this fixes).
"""

from __future__ import annotations

import errno
import functools
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from cogw.core.digest import hex_of

# The checks, errors and write steps live in shell/blobio.py; the store's callers
# keep importing them from here, the store's one public face.
from cogw.shell.blobio import BLOB_MODE as BLOB_MODE
from cogw.shell.blobio import CHUNK_SIZE as CHUNK_SIZE
from cogw.shell.blobio import BlobNotFound as BlobNotFound
from cogw.shell.blobio import Cancelled as Cancelled
from cogw.shell.blobio import DigestMismatch as DigestMismatch
from cogw.shell.blobio import InvalidDigest as InvalidDigest
from cogw.shell.blobio import SizeMismatch as SizeMismatch
from cogw.shell.blobio import StoreError as StoreError
from cogw.shell.blobio import (
    StrPath,
    create_temp,
    hash_file,
    open_new_temp,
    publish,
    seal,
    stream_hashing,
    unlink_quietly,
)
from cogw.shell.blobio import check_content as check_content
from cogw.shell.blobio import check_digest as check_digest
from cogw.shell.blobio import drain as drain
from cogw.shell.fs import CrossDeviceLink, LinkError, LinkUnsupported, link_file
from cogw.shell.storelist import FileInfo as FileInfo
from cogw.shell.storelist import list_blobs
from cogw.shell.storetemps import TEMP_PREFIX as TEMP_PREFIX
from cogw.shell.storetemps import reclaim_temp_files

LinkMode = Literal["auto", "hardlink", "reflink", "copy"]


class Store(Protocol):
    """What cogw needs from a store of content-addressed files."""

    root: Path

    def exists(self, digest: str) -> bool:
        """True when a blob sits under ``digest``; False is the ordinary 'not present'."""
        ...

    def put_file(
        self,
        digest: str,
        size: int,
        reader: BinaryIO,
        cancel: threading.Event | None = None,
    ) -> bool:
        """Store ``reader``'s bytes under ``digest`` after checking size and digest.

        Idempotent: when the blob is already present the reader is drained (so a
        caller can walk a tar stream without asking ``exists`` first) and False
        is returned. A negative ``size`` skips the size check.
        """
        ...

    def ingest_path(self, digest: str, size: int, src: Path, mode: LinkMode = "auto") -> bool:
        """Place a local file into the store, without a second copy where allowed."""
        ...

    def path(self, digest: str) -> Path:
        """Where the blob lives; BlobNotFound when absent. Treat the file as read-only."""
        ...

    def blob_name(self, digest: str) -> str:
        """Where ``digest``'s blob lives or would live, as a string; no I/O."""
        ...

    def list(self) -> Iterator[FileInfo]:
        """Every blob, in lexical digest order."""
        ...

    def delete(self, digest: str) -> None:
        """Remove the blob; deleting an absent blob is not an error."""
        ...

    def verify(self, digest: str) -> bool:
        """Re-hash the blob: True when its content still matches its name."""
        ...


def _harmless_to_hardlink(info: os.stat_result) -> bool:
    """Hardlinking makes the source inode the blob and chmods it 0444.

    In "auto" mode cogw does that only to files that are already read-only and
    ours: changing their mode surprises nobody, and nothing is expected to write
    them in place (which would corrupt the shared blob behind the store's back).
    """
    return info.st_mode & 0o222 == 0 and info.st_uid == os.geteuid()


class FileStore:
    """The store on local disk, laid out exactly as Cog lays out its cache."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files_dir = root / "files" / "sha256"
        self._files_str = str(self.files_dir)
        self._prefixes: set[str] = set()  # prefix dirs this store made or found
        self._no_reflink: set[int] = set()  # source devices that refused a reflink here

    def __repr__(self) -> str:
        return f"FileStore({str(self.root)!r})"

    def _blob_path(self, digest: str) -> Path:
        hexpart = hex_of(check_digest(digest))
        return self.files_dir / hexpart[:2] / hexpart

    def exists(self, digest: str) -> bool:
        try:  # a string, not _blob_path's Path: status checks every blob of the lockfile
            os.stat(self.blob_name(digest))
        except FileNotFoundError:
            return False
        except OSError as err:
            raise StoreError(f"stat {digest}: {err}") from err
        return True

    def blob_name(self, digest: str) -> str:
        """Where ``digest``'s blob lives or would live, as a string; no I/O."""
        hexpart = hex_of(check_digest(digest))
        return f"{self._files_str}/{hexpart[:2]}/{hexpart}"

    def path(self, digest: str) -> Path:
        blob = self._blob_path(digest)
        if not self.exists(digest):
            raise BlobNotFound(errno.ENOENT, f"path {digest}: file does not exist", str(blob))
        return blob

    def put_file(
        self,
        digest: str,
        size: int,
        reader: BinaryIO,
        cancel: threading.Event | None = None,
    ) -> bool:
        final = self.blob_name(digest)  # strings, not Paths: this runs once per file
        if self._present(digest):
            drain(reader, cancel)
            return False
        fd, tmp = self._make_temp_file(final.rpartition("/")[0])
        try:
            try:
                written, actual = stream_hashing(reader, fd, digest, size, cancel)
                check_content(digest, size, written, actual)
                self._seal(fd)
            finally:
                os.close(fd)
            self._place(tmp, final)
        except BaseException:
            # BaseException: Ctrl-C mid-stream must not leave a put-* file behind.
            unlink_quietly(tmp)
            raise
        return True

    def open_temp(self, digest: str) -> tuple[int, Path]:
        """A fresh temp file (fd, name) beside ``digest``'s blob, for a writer that puts
        the bytes at their offsets itself; publish_temp or remove it afterwards."""
        fd, tmp = self._make_temp_file(self._blob_path(digest).parent)
        return fd, Path(tmp)

    def blob_dir(self, digest: str) -> Path:
        """The prefix directory of ``digest``'s blob, created if needed: where a partial
        download of it is kept (shell/partials.py)."""
        prefix = self._blob_path(digest).parent
        self._make_prefix(prefix)
        return prefix

    def publish_temp(self, digest: str, size: int, fd: int, tmp: Path, actual: str) -> None:
        """Make the temp from open_temp the blob, once its size and the digest its writer
        computed (``actual``) are right; it is sealed (read-only, fsynced) first. The
        caller closes ``fd`` and removes ``tmp`` if this raises."""
        check_content(digest, size, os.fstat(fd).st_size, actual)
        seal(fd)
        final = self._blob_path(digest)
        self._make_prefix(final.parent)  # a writer that learns the digest last spools elsewhere
        self._publish(tmp, final)

    def ingest_path(self, digest: str, size: int, src: Path, mode: LinkMode = "auto") -> bool:
        """Place the local file ``src`` into the store; False when already present.

        ``reflink`` clones (no data copied, later writes to ``src`` do not reach the
        blob). ``hardlink`` makes ``src`` itself the blob: its inode becomes
        read-only 0444, and editing it in place would edit the blob, so only use
        it for files nothing will write. ``copy`` streams the bytes. ``auto`` tries
        a reflink, then a hardlink if ``src`` is already read-only and ours, then a
        copy. Every mode verifies size and digest before the blob becomes visible.
        """
        if self._present(digest):
            return False
        if mode == "copy":
            return self._ingest_copy(digest, size, src)
        final = self._blob_path(digest)
        if mode != "auto":
            self._ingest_link(digest, size, src, final, mode)
            return True
        return self._ingest_auto(digest, size, src, final)

    def _ingest_auto(self, digest: str, size: int, src: Path, final: Path) -> bool:
        info = os.stat(src)
        # A filesystem that cannot clone one file cannot clone the next: asked once per
        # source filesystem, not once per file (each try creates and removes a temp).
        if info.st_dev not in self._no_reflink:
            try:
                self._ingest_link(digest, size, src, final, "reflink")
                return True
            except LinkUnsupported:
                self._no_reflink.add(info.st_dev)
            except CrossDeviceLink:
                pass
        if _harmless_to_hardlink(info):
            try:
                self._ingest_link(digest, size, src, final, "hardlink")
                return True
            except LinkError:
                pass  # EXDEV, EMLINK (too many links), EPERM: a copy still works
        return self._ingest_copy(digest, size, src)

    def needs_copy(self, digest: str, src: Path) -> bool:
        """Whether ``ingest_path(..., "auto")`` would have to copy ``src``'s bytes.

        Asked the only sure way: a reflink, then (for a file already read-only and
        ours) a hardlink is made into a temp and removed again. Linking is cheap,
        and the caller can then copy the bytes while it reads them anyway.
        """
        prefix = self._blob_path(digest).parent
        self._make_prefix(prefix)
        info = src.stat()
        tries: list[Literal["hardlink", "reflink"]] = []
        if info.st_dev not in self._no_reflink:
            tries.append("reflink")
        if _harmless_to_hardlink(info):
            tries.append("hardlink")
        for mode in tries:
            try:
                create_temp(prefix, functools.partial(link_file, src, mode=mode)).unlink()
                return False
            except LinkUnsupported:
                self._no_reflink.add(info.st_dev)
            except LinkError:
                pass  # EXDEV, EMLINK, EPERM: the next way, or a copy
        return True

    def _ingest_copy(self, digest: str, size: int, src: Path) -> bool:
        with open(src, "rb") as reader:
            return self.put_file(digest, size, reader)

    def _ingest_link(
        self, digest: str, size: int, src: Path, final: Path, mode: Literal["hardlink", "reflink"]
    ) -> None:
        self._make_prefix(final.parent)
        tmp = create_temp(final.parent, lambda candidate: link_file(src, candidate, mode))
        try:
            # Hash what was actually linked, not the source before linking: the
            # source could have changed in between.
            actual_size, actual = hash_file(tmp)
            check_content(digest, size, actual_size, actual)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                self._seal(fd)
            finally:
                os.close(fd)
            self._place(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _present(self, digest: str) -> bool:
        return self.exists(digest)  # a batch may know it absent without a stat

    def _seal(self, fd: int) -> None:
        """Seal a verified temp (read-only, fsynced); a batch defers the fsync."""
        seal(fd)

    def _place(self, tmp: StrPath, final: StrPath) -> None:
        """Give a sealed temp its final name; a batch defers it until its bytes are synced."""
        self._publish(tmp, final)

    def _make_prefix(self, prefix: StrPath) -> None:
        key = os.fspath(prefix)  # str: a Path hashes far slower
        if key in self._prefixes:
            return
        try:
            Path(prefix).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"create prefix dir: {err}") from err
        self._prefixes.add(key)

    def _make_temp_file(self, prefix: StrPath) -> tuple[int, str]:
        self._make_prefix(prefix)
        try:
            try:
                return open_new_temp(prefix)
            except FileNotFoundError:  # the prefix dir was removed since it was made
                self._prefixes.discard(os.fspath(prefix))
                self._make_prefix(prefix)
                return open_new_temp(prefix)
        except OSError as err:
            raise StoreError(f"create temp file: {err}") from err

    def _publish(self, tmp: StrPath, final: StrPath) -> None:
        """Give the verified, sealed temp its final name (blobio.publish)."""
        publish(tmp, final)

    def list(self) -> Iterator[FileInfo]:
        """Every blob in lexical digest order; temp files and strays are skipped
        (``storelist.list_blobs``)."""
        return list_blobs(self.files_dir)

    def delete(self, digest: str) -> None:
        blob = self._blob_path(digest)
        try:
            # Unlinking needs write permission on the prefix dir, not on the 0444 blob.
            blob.unlink()
        except FileNotFoundError:
            return
        except OSError as err:
            raise StoreError(f"delete {digest}: {err}") from err

    def verify(self, digest: str) -> bool:
        blob = self.path(digest)
        try:
            _, actual = hash_file(blob)
        except FileNotFoundError:
            raise BlobNotFound(
                errno.ENOENT, f"path {digest}: file does not exist", str(blob)
            ) from None
        except OSError as err:
            raise StoreError(f"verify {digest}: {err}") from err
        return actual == digest


def open_store(weights_dir: str | Path) -> FileStore:
    """The FileStore rooted at ``weights_dir``, creating ``files/sha256`` (0755) if needed."""
    if not str(weights_dir):
        raise StoreError("file store: root directory must not be empty")
    root = Path(weights_dir)
    try:
        (root / "files" / "sha256").mkdir(mode=0o755, parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"file store: create root: {err}") from err
    reclaim_temp_files(root / "files" / "sha256", time.time())
    return FileStore(root)
