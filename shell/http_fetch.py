"""One streamed GET of an ``http(s)://`` file that hashes it, stores it and digests its layer.

Planning an import of a file whose strong ETag moved (or that has none) has to
learn its digest, and the only way is to read it. That read is made to count:
the body streams into a store temp file while it is hashed, becomes the blob
once the hash is known (it is the name), and when the file will be its own
uncompressed layer the same bytes are hashed inside that layer's tar framing.
The import's ingest then finds the blob present and its layer digest known, so
an import downloads the file once, not once to plan and again to ingest.

What one process fetched is remembered by URI (:func:`fetched`), so the plan
made right after an import to check that nothing is left can reuse it instead
of downloading a file without a strong ETag again. Nothing here decides whether to fetch: that is
:func:`cogw.core.plan.etagreuse.reusable_inventory`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, cast

from cogw.core.artifact.inventory import Inventory
from cogw.core.artifact.packing import is_standalone_raw
from cogw.core.artifact.tarformat import standalone_framing
from cogw.core.digest import PREFIX
from cogw.core.lock.lockfile import MEDIA_TYPE_TAR, LockLayer
from cogw.shell.hashing import HashCancelled
from cogw.shell.source_base import OnBytes, SourceError

if TYPE_CHECKING:
    import requests

_CHUNK = 1 << 20
# Temp files only need to be on the store's filesystem: the blob is linked into
# its own prefix directory once its digest is known.
_SPOOL_DIGEST = PREFIX + "0" * 64


class Spool(Protocol):
    """The part of the store a fetch writes through (FileStore has it)."""

    def open_temp(self, digest: str) -> tuple[int, Path]: ...

    def publish_temp(self, digest: str, size: int, fd: int, tmp: Path, actual: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Fetched:
    """What one GET of a URI gave: its strong ETag, the inventory, and the file's
    standalone layer when it is one (else None)."""

    etag: str | None
    inventory: Inventory
    layer: LockLayer | None


_fetched: dict[str, Fetched] = {}
_layers: dict[tuple[str, str], LockLayer] = {}
_fetched_lock = threading.Lock()


def fetched(uri: str) -> Fetched | None:
    """What this process last fetched from ``uri``."""
    with _fetched_lock:
        return _fetched.get(uri)


def remember(uri: str, result: Fetched) -> None:
    with _fetched_lock:
        _fetched[uri] = result
        if result.layer is not None and len(result.inventory.files) == 1:
            f = result.inventory.files[0]
            _layers[(f.path, f.digest)] = result.layer


def fetched_layer(path: str, digest: str) -> LockLayer | None:
    """The standalone layer of the file ``path`` with ``digest``, if a fetch hashed it.

    A pure function of the two (the tar frame is fixed), so it never goes stale."""
    with _fetched_lock:
        return _layers.get((path, digest))


class _Hashing:
    """Reads the body in chunks, hashing the file and (optionally) its layer framing."""

    def __init__(self, body: BinaryIO, name: str, expected: int | None) -> None:
        self.body = body
        self.file = hashlib.sha256()
        self.size = 0
        self.framing: tuple[bytes, bytes] | None = None
        self.layer_hash: hashlib._Hash | None = None
        if expected is not None and is_standalone_raw(name, expected):
            self.framing = standalone_framing(name, expected)
            self.layer_hash = hashlib.sha256(self.framing[0])

    def read(self) -> bytes:
        chunk = self.body.read(_CHUNK)
        self.file.update(chunk)
        if self.layer_hash is not None:
            self.layer_hash.update(chunk)
        self.size += len(chunk)
        return chunk

    def layer(self) -> LockLayer | None:
        if self.framing is None or self.layer_hash is None:
            return None
        before, after = self.framing
        self.layer_hash.update(after)
        return LockLayer(
            digest=PREFIX + self.layer_hash.hexdigest(),
            media_type=MEDIA_TYPE_TAR,
            size=len(before) + self.size + len(after),
            size_uncompressed=self.size,
        )


def _expected_size(resp: requests.Response) -> int | None:
    value = resp.headers.get("Content-Length")
    return int(value) if value is not None and value.isdigit() else None


def _pump(
    hashing: _Hashing, fd: int | None, on_bytes: OnBytes | None, cancel: threading.Event | None
) -> None:
    while chunk := hashing.read():
        if cancel is not None and cancel.is_set():
            raise HashCancelled("hashing cancelled")
        if fd is not None:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        if on_bytes is not None:
            on_bytes(len(chunk))


def fetch_body(
    resp: requests.Response,
    name: str,
    spool: Spool | None,
    on_bytes: OnBytes | None = None,
    cancel: threading.Event | None = None,
) -> tuple[str, int, LockLayer | None]:
    """(digest, size, standalone layer or None) of the body of ``resp``, which is closed;
    with a ``spool``, the body is also the store's blob of that digest."""
    from urllib3.exceptions import HTTPError

    expected = _expected_size(resp)
    with contextlib.closing(resp):
        resp.raw.decode_content = True  # any Content-Encoding stays transparent
        hashing = _Hashing(cast(BinaryIO, resp.raw), name, expected)

        def check_size() -> None:
            if expected is not None and expected != hashing.size:
                raise SourceError(
                    f"{resp.url}: server returned {hashing.size} bytes, advertised {expected}"
                )

        try:
            if spool is None:
                _pump(hashing, None, on_bytes, cancel)
                check_size()
            else:
                _spool_into(spool, hashing, check_size, on_bytes, cancel)
        except HTTPError as err:  # the connection broke mid-body
            raise SourceError(f"read {resp.url}: {err}") from err
    return PREFIX + hashing.file.hexdigest(), hashing.size, hashing.layer()


def _spool_into(
    spool: Spool,
    hashing: _Hashing,
    check: Callable[[], None],
    on_bytes: OnBytes | None,
    cancel: threading.Event | None,
) -> None:
    fd, tmp = spool.open_temp(_SPOOL_DIGEST)
    try:
        try:
            _pump(hashing, fd, on_bytes, cancel)
            check()  # a body cut short is an error, never a blob
            digest = PREFIX + hashing.file.hexdigest()
            # The name is the hash of exactly the bytes written; publishing seals
            # (fsyncs) them before the blob is visible, as every store write does.
            spool.publish_temp(digest, hashing.size, fd, tmp, digest)
        finally:
            os.close(fd)
    finally:
        tmp.unlink(missing_ok=True)
