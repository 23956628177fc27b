"""A read-only registry over an OCI image layout (a directory or a ``.tar`` of one).

``LayoutRegistry`` offers the read methods the pull runner uses (``get_manifest``,
``iter_blob``, ``head_manifest``, ``blob_exists``) with the registry client's guarantees,
so `cogw pull --from oci:DIR` runs the normal pull steps unchanged: a manifest is checked
against the digest asked for, a blob's size and digest after its last byte (raising the
same ``RegistryDigestMismatch``), and the store still checks every file against
weights.lock. The ``repo`` argument is ignored: a layout holds one repository.

Writes (``put_manifest``, ``push_blob``) are refused: a pull never writes, and a layout
is made with `cogw export`. A tar is never extracted: its member table (names, data
offsets, sizes) is read once and each blob is streamed from its offset, so memory stays
flat for multi-GB layers.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from returns.result import Failure

from cogw.core.artifact.ocilayout import (
    INDEX_FILE,
    LAYOUT_FILE,
    MAX_INDEX_BYTES,
    MAX_MANIFEST_BYTES,
    LayoutManifest,
    LayoutSource,
    blob_path,
    find_manifest,
    parse_index,
)
from cogw.core.digest import PREFIX, is_digest
from cogw.shell.registry import (
    Manifest,
    RegistryCancelled,
    RegistryDigestMismatch,
    RegistryError,
    RegistryNotFound,
)
from cogw.shell.runtime import ProblemsError


class LayoutError(RegistryError):
    """The layout cannot be read at all (missing, not a layout, unreadable index)."""


class LayoutRegistry:
    """Blobs and manifests of one OCI image layout. Thread-safe: every stream opens its own
    file handle."""

    def __init__(self, source: LayoutSource) -> None:
        self.source = source
        self.registry = source.name
        self._root = Path(source.path)
        self._members: dict[str, tuple[int, int]] = {}  # tar: name → (data offset, size)
        if source.is_tar:
            self._members = _tar_members(self._root)
        elif not self._root.is_dir():
            raise LayoutError(f"{source.name}: no such directory")
        if not self._exists(LAYOUT_FILE):
            raise LayoutError(f"{source.name}: not an OCI image layout (no {LAYOUT_FILE})")
        raw = self._read_small(INDEX_FILE, MAX_INDEX_BYTES)
        parsed = parse_index(raw, f"{source.name}/{INDEX_FILE}")
        if isinstance(parsed, Failure):
            raise ProblemsError(parsed.failure())
        self.manifests: tuple[LayoutManifest, ...] = parsed.unwrap()
        self._lock = threading.Lock()
        self._aborted = False

    # ---- files ---------------------------------------------------------------------

    def _exists(self, name: str) -> bool:
        if self.source.is_tar:
            return name in self._members
        return (self._root / name).is_file()

    def _open(self, name: str) -> tuple[BinaryIO, int]:
        """An open handle positioned at the file's first byte, and the file's size."""
        if self.source.is_tar:
            if name not in self._members:
                raise FileNotFoundError(name)
            offset, size = self._members[name]
            handle = open(self._root, "rb")  # noqa: SIM115  # closed by the caller
            handle.seek(offset)
            return handle, size
        handle = open(self._root / name, "rb")  # noqa: SIM115
        return handle, os.fstat(handle.fileno()).st_size

    def _read_small(self, name: str, limit: int) -> bytes:
        try:
            handle, size = self._open(name)
        except FileNotFoundError:
            raise LayoutError(f"{self.source.name}: no {name}") from None
        with handle:
            if size > limit:
                raise LayoutError(f"{self.source.name}/{name}: {size} bytes, over {limit}")
            return handle.read(size)

    # ---- the read interface ----------------------------------------------------------

    def get_manifest(self, repo: str, ref: str) -> Manifest:
        """The manifest by digest or by tag (its ref.name); its bytes checked against the
        digest asked for, or the one the index records."""
        listed = find_manifest(self.manifests, ref)
        digest = ref if is_digest(ref) else (listed.digest if listed else "")
        if not digest or not self._exists(blob_path(digest)):
            raise RegistryNotFound(f"manifest {ref} is not in {self.source.name}")
        raw = self._read_small(blob_path(digest), MAX_MANIFEST_BYTES)
        actual = PREFIX + hashlib.sha256(raw).hexdigest()
        if actual != digest:
            raise RegistryDigestMismatch(
                f"manifest {digest} in {self.source.name} has digest {actual}"
            )
        media_type = listed.media_type if listed else "application/vnd.oci.image.manifest.v1+json"
        return Manifest(raw, media_type, digest)

    def head_manifest(self, repo: str, ref: str) -> str | None:
        try:
            return self.get_manifest(repo, ref).digest
        except RegistryNotFound:
            return None

    def blob_exists(self, repo: str, digest: str) -> bool:
        return self._exists(blob_path(digest))

    def iter_blob(
        self,
        repo: str,
        digest: str,
        *,
        expected_size: int | None = None,
        chunk_size: int = 1 << 20,
        cancel: threading.Event | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> Iterator[bytes]:
        """Stream a blob; its size and digest are checked after the last byte (read to the
        end to get that guarantee), as the registry client does."""
        try:
            handle, size = self._open(blob_path(digest))
        except FileNotFoundError:
            raise RegistryNotFound(f"blob {digest} is not in {self.source.name}") from None
        with handle:
            if expected_size is not None and size != expected_size:
                raise RegistryDigestMismatch(
                    f"blob {digest} in {self.source.name} is {size} bytes, not {expected_size}"
                )
            yield from self._chunks(handle, size, digest, chunk_size, cancel, on_bytes)

    def _chunks(
        self,
        handle: BinaryIO,
        size: int,
        digest: str,
        chunk_size: int,
        cancel: threading.Event | None,
        on_bytes: Callable[[int], None] | None,
    ) -> Iterator[bytes]:
        hasher, left = hashlib.sha256(), size
        while left > 0:
            if self._aborted or (cancel is not None and cancel.is_set()):
                raise RegistryCancelled(f"reading blob {digest} cancelled")
            chunk = handle.read(min(chunk_size, left))
            if not chunk:
                raise RegistryDigestMismatch(f"blob {digest} in {self.source.name} is truncated")
            left -= len(chunk)
            hasher.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
            yield chunk
        actual = PREFIX + hasher.hexdigest()
        if actual != digest:
            raise RegistryDigestMismatch(f"blob {digest} in {self.source.name} has digest {actual}")

    def put_manifest(self, repo: str, ref: str, raw: bytes, media_type: str) -> str:
        raise RegistryError(f"{self.source.name} is read-only: push to a registry instead")

    def push_blob(self, repo: str, digest: str, size: int, *args: Any, **kwargs: Any) -> str:
        raise RegistryError(f"{self.source.name} is read-only: push to a registry instead")

    def source_of(self, repo: str, digest: str) -> str:
        """Where a layer came from, for `-v` and `--json` (as a mirror says ``mirror HOST``)."""
        return f"layout {self.source.name}"

    def close(self) -> None:
        pass

    def abort(self) -> None:
        with self._lock:
            self._aborted = True


def _tar_members(path: Path) -> dict[str, tuple[int, int]]:
    """Regular files of the archive by name (without a leading ``./``): data offset, size.
    Reading the member table seeks over the data; nothing is extracted."""
    try:
        with tarfile.open(path, "r:") as archive:
            return {_normalise(m.name): (m.offset_data, m.size) for m in archive if m.isreg()}
    except FileNotFoundError:
        raise LayoutError(f"oci:{path}: no such file") from None
    except (tarfile.TarError, OSError) as exc:
        raise LayoutError(f"oci:{path}: not a readable tar archive: {exc}") from None


def _normalise(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")
