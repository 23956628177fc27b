"""An in-memory registry: the ``Registry`` protocol the runners use, and a little more.

FakeRegistry keeps blobs and manifests per repository in dicts, answers with
the same exception types and the same end-of-stream checks as the real client
(a blob is hashed while it streams and its size and digest are checked after
the last byte), and records every call as a ``RegistryCall`` value instead of
mocking. Two switches break it on purpose: ``lose_blob`` makes a blob answer
404, ``corrupt_blob`` makes it serve other bytes of the same length (what a
registry that does not re-verify its storage does after disk rot), and
``replace_blob`` makes it serve any other bytes (a well-formed blob that is
simply not the one asked for).

It does not know HTTP, authentication, retries, ranges or cross-repository
mounts; tests of those run against the real registry (tests/e2e).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from cogw.core.digest import PREFIX, is_digest, sha256_of
from cogw.shell.registry import (
    Manifest,
    PushResult,
    Registry,
    RegistryCancelled,
    RegistryDigestMismatch,
    RegistryNotFound,
)

DEFAULT_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class RegistryCall:
    """One request the registry answered: method name, repository and tag or digest."""

    method: str
    repo: str
    ref: str


class FakeRegistry(Registry):
    """Blobs and manifests held in memory; safe to call from the executor's worker threads."""

    def __init__(self, max_chunk: int | None = None) -> None:
        # Real registries answer in pieces of any size; a small ``max_chunk`` makes
        # a consumer that stops reading early leave unread chunks behind.
        self.max_chunk = max_chunk
        self.blobs: dict[tuple[str, str], bytes] = {}
        self.manifests: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.calls: list[RegistryCall] = []
        self.lost: set[str] = set()
        # The OCI-Layer-Media-Type each uploaded blob's commit named ("" for none).
        self.layer_media_types: dict[tuple[str, str], str] = {}
        self.corrupted: dict[str, bytes] = {}
        self._lock = threading.Lock()

    # ---- switches ------------------------------------------------------------------------

    def lose_blob(self, digest: str) -> None:
        """The blob, or the manifest with this digest, answers 404 from now on
        (until ``restore_blob``)."""
        self.lost.add(digest)

    def corrupt_blob(self, digest: str, offset: int) -> None:
        """Serve the blob with the byte at ``offset`` (modulo its length) flipped."""
        data = next(v for (_, d), v in self.blobs.items() if d == digest)
        at = offset % len(data)
        self.corrupted[digest] = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]

    def replace_blob(self, digest: str, data: bytes) -> None:
        """Serve ``data`` under ``digest`` (a no-op when they match)."""
        if sha256_of(data) != digest:
            self.corrupted[digest] = data

    def restore_blob(self, digest: str) -> None:
        self.lost.discard(digest)
        self.corrupted.pop(digest, None)

    def broken(self) -> frozenset[str]:
        """Digests that are lost or corrupted right now."""
        return frozenset(self.lost | set(self.corrupted))

    def calls_of(self, method: str) -> list[RegistryCall]:
        return [c for c in self.calls if c.method == method]

    # ---- the Registry protocol, and head_manifest and blob_exists -----------------------

    def _record(self, method: str, repo: str, ref: str) -> None:
        with self._lock:
            self.calls.append(RegistryCall(method, repo, ref))

    def get_manifest(self, repo: str, ref: str) -> Manifest:
        self._record("get_manifest", repo, ref)
        found = self.manifests.get((repo, ref))
        if found is None or ref in self.lost:
            raise RegistryNotFound(f"manifest {repo}:{ref} not found", status=404)
        raw, media_type = found
        digest = sha256_of(raw)
        if is_digest(ref) and digest != ref:
            raise RegistryDigestMismatch(f"manifest {repo}@{ref} has digest {digest}")
        return Manifest(raw, media_type, digest)

    def head_manifest(self, repo: str, ref: str) -> str | None:
        self._record("head_manifest", repo, ref)
        found = self.manifests.get((repo, ref))
        return None if found is None else sha256_of(found[0])

    def put_manifest(self, repo: str, ref: str, raw: bytes, media_type: str) -> str:
        self._record("put_manifest", repo, ref)
        digest = sha256_of(raw)
        if is_digest(ref) and ref != digest:
            raise RegistryDigestMismatch(f"manifest bytes have digest {digest}, not {ref}")
        with self._lock:
            self.manifests[(repo, ref)] = (raw, media_type)
            self.manifests[(repo, digest)] = (raw, media_type)
        return digest

    def blob_exists(self, repo: str, digest: str) -> bool:
        self._record("blob_exists", repo, digest)
        return (repo, digest) in self.blobs and digest not in self.lost

    def push_blob(
        self,
        repo: str,
        digest: str,
        size: int,
        open_stream: Callable[[], Iterable[bytes]],
        *,
        mount_from: Sequence[str] = (),
        cancel: threading.Event | None = None,
        on_bytes: Callable[[int], None] | None = None,
        layer_media_type: str = "",
    ) -> PushResult:
        self._record("push_blob", repo, digest)
        if self.blob_exists(repo, digest):
            return "exists"
        data = _read_stream(open_stream(), cancel, on_bytes)
        if len(data) != size or sha256_of(data) != digest:
            raise RegistryDigestMismatch(
                f"upload of {digest} cancelled: got {len(data)} bytes with digest "
                f"{sha256_of(data)}, expected {size} bytes"
            )
        with self._lock:
            self.blobs[(repo, digest)] = data
            self.layer_media_types[(repo, digest)] = layer_media_type
            self.lost.discard(digest)
        return "uploaded"

    def upload_blob(
        self,
        repo: str,
        digest: str,
        size: int,
        open_stream: Callable[[], Iterable[bytes]],
        *,
        cancel: threading.Event | None = None,
        on_bytes: Callable[[int], None] | None = None,
        layer_media_type: str = "",
    ) -> PushResult:
        with self._lock:
            self.blobs.pop((repo, digest), None)
        return self.push_blob(
            repo,
            digest,
            size,
            open_stream,
            cancel=cancel,
            on_bytes=on_bytes,
            layer_media_type=layer_media_type,
        )

    def iter_blob(
        self,
        repo: str,
        digest: str,
        *,
        expected_size: int | None = None,
        chunk_size: int = DEFAULT_CHUNK,
        cancel: threading.Event | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> Iterator[bytes]:
        """Stream the blob; like the real client, check size and digest after the last byte."""
        self._record("iter_blob", repo, digest)
        data = self._served(repo, digest)
        chunk_size = min(chunk_size, self.max_chunk or chunk_size)
        hasher = hashlib.sha256()
        for start in range(0, len(data), chunk_size):
            if cancel is not None and cancel.is_set():
                raise RegistryCancelled("cancelled")
            chunk = data[start : start + chunk_size]
            hasher.update(chunk)
            if expected_size is not None and start + len(chunk) > expected_size:
                raise RegistryDigestMismatch(
                    f"blob {digest} is larger than the expected {expected_size} bytes"
                )
            if on_bytes is not None:
                on_bytes(len(chunk))
            yield chunk
        if expected_size is not None and len(data) != expected_size:
            raise RegistryDigestMismatch(
                f"blob {digest} has {len(data)} bytes, expected {expected_size}"
            )
        actual = PREFIX + hasher.hexdigest()
        if actual != digest:
            raise RegistryDigestMismatch(f"blob {digest} arrived with digest {actual}")

    def _served(self, repo: str, digest: str) -> bytes:
        stored = self.blobs.get((repo, digest))
        if stored is None or digest in self.lost:
            raise RegistryNotFound(f"blob {repo}@{digest} not found", status=404)
        return self.corrupted.get(digest, stored)


def _read_stream(
    chunks: Iterable[bytes],
    cancel: threading.Event | None,
    on_bytes: Callable[[int], None] | None,
) -> bytes:
    parts: list[bytes] = []
    for chunk in chunks:
        if cancel is not None and cancel.is_set():
            raise RegistryCancelled("cancelled")
        if on_bytes is not None:
            on_bytes(len(chunk))
        parts.append(chunk)
    return b"".join(parts)
