"""RegistryClient: the public operations on one registry host, over its transport.

Manifests by tag or digest (their exact bytes, checked against the digest), blob
existence, blob downloads (``download``) and pushes (``upload``). The client validates
references before any request and checks every digest a registry claims; the protocol work
itself lives in the transport, auth, download and upload modules.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

import requests

from cogw.core.artifact.ranges import ByteRange
from cogw.core.digest import digest_error, is_digest, sha256_of
from cogw.core.registry.registryrules import media_type_in, pull_scope, push_scope, reference_error
from cogw.shell.registry.cancel import Transfer
from cogw.shell.registry.credentials import CredentialSource
from cogw.shell.registry.download import (
    RANGE_BUFFER,
    BlobSink,
    RangeWriter,
    download,
    download_range,
)
from cogw.shell.registry.errors import RegistryDigestMismatch, RegistryError
from cogw.shell.registry.manifests import SMALL_BLOB_BYTES, fetch_verified, small_blob
from cogw.shell.registry.options import DEFAULT_OPTIONS, RegistryOptions
from cogw.shell.registry.protocol import (
    ACCEPT_MANIFESTS,
    MAX_MANIFEST_BYTES,
    Manifest,
    PushResult,
)
from cogw.shell.registry.streams import SelfProvingStream
from cogw.shell.registry.transport import Transport
from cogw.shell.registry.upload import BlobUpload, BlobUploader, StagedUpload


def _require_digest(digest: str) -> None:
    problem = digest_error(digest)
    if problem is not None:
        raise RegistryError(problem)


def _require_reference(ref: str) -> None:
    problem = reference_error(ref)
    if problem is not None:
        raise RegistryError(problem)


class RegistryClient:
    """One registry host. Thread-safe: parallel layer transfers share its connection pool
    and its token cache."""

    def __init__(
        self,
        registry: str,
        options: RegistryOptions = DEFAULT_OPTIONS,
        credentials: CredentialSource | None = None,
    ) -> None:
        self.registry = registry
        self.options = options
        self._transport = Transport(registry, options, credentials)
        self._uploader = BlobUploader(self._transport)

    def close(self) -> None:
        self._transport.close()

    def abort(self) -> None:
        """Stop every operation in flight at once, from any thread (Ctrl-C): a read or
        write blocked on the network fails now instead of at the read timeout, and the
        operation raises RegistryCancelled; so does every later one on this client."""
        self._transport.watcher.abort_all()

    @property
    def base_url(self) -> str:
        """``scheme://host``; for a host allowed plain HTTP, probed on first use."""
        return self._transport.base_url

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- manifests -----------------------------------------------------------------------

    def ping(self) -> None:
        """Check the registry answers the v2 API and accepts our credentials."""
        with self._transport.watcher.watching() as transfer:
            self._transport.request("GET", f"{self.base_url}/v2/", (), transfer, ok={200}).close()

    def head_manifest(self, repo: str, ref: str) -> str | None:
        """The manifest's digest, or None when the registry does not have it."""
        _require_reference(ref)
        url = f"{self.base_url}/v2/{repo}/manifests/{ref}"
        headers = {"Accept": ACCEPT_MANIFESTS}
        with self._transport.watcher.watching() as transfer:
            scopes = (pull_scope(repo),)
            response = self._transport.request(
                "HEAD", url, scopes, transfer, ok={200, 404}, headers=headers
            )
            response.close()
        if response.status_code == 404:
            return None
        found = response.headers.get("Docker-Content-Digest", "")
        if is_digest(found):
            return found
        return ref if is_digest(ref) else None

    def get_manifest(self, repo: str, ref: str) -> Manifest:
        """The manifest's exact bytes; when ``ref`` is a digest, they are checked against it."""
        _require_reference(ref)
        url = f"{self.base_url}/v2/{repo}/manifests/{ref}"

        def open_response(transfer: Transfer) -> requests.Response:
            scopes = (pull_scope(repo),)
            headers = {"Accept": ACCEPT_MANIFESTS}
            return self._transport.request(
                "GET", url, scopes, transfer, ok={200}, headers=headers, stream=True
            )

        expected = ref if is_digest(ref) else None
        with self._transport.watcher.watching() as transfer:
            sign = "@" if expected else ":"
            what = f"manifest {repo}{sign}{ref} from {self.registry}"
            raw, response = fetch_verified(
                self._transport, open_response, url, expected, transfer, what
            )
        digest = sha256_of(raw)
        if is_digest(ref) and digest != ref:
            raise RegistryDigestMismatch(
                f"manifest {repo}@{ref} from {self.registry} has digest {digest}"
            )
        claimed = response.headers.get("Docker-Content-Digest", "")
        if claimed.startswith("sha256:") and claimed != digest:
            raise RegistryDigestMismatch(
                f"manifest {repo}:{ref} from {self.registry} has digest {digest}, "
                f"but the registry says {claimed}"
            )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return Manifest(raw, media_type or media_type_in(raw), digest)

    def put_manifest(self, repo: str, ref: str, raw: bytes, media_type: str) -> str:
        """Store the manifest bytes as they are under a tag or digest; returns their digest."""
        _require_reference(ref)
        if len(raw) > MAX_MANIFEST_BYTES:
            raise RegistryError(
                f"manifest is {len(raw)} bytes; registries accept at most {MAX_MANIFEST_BYTES}"
            )
        digest = sha256_of(raw)
        if is_digest(ref) and ref != digest:
            raise RegistryDigestMismatch(f"manifest bytes have digest {digest}, not {ref}")
        url = f"{self.base_url}/v2/{repo}/manifests/{ref}"
        with self._transport.watcher.watching() as transfer:
            headers = {"Content-Type": media_type}
            response = self._transport.request(
                "PUT", url, (push_scope(repo),), transfer, ok={200, 201}, headers=headers, body=raw
            )
            response.close()
        claimed = response.headers.get("Docker-Content-Digest", "")
        if claimed and claimed != digest:
            raise RegistryDigestMismatch(
                f"registry {self.registry} stored manifest {repo}:{ref} as {claimed}, "
                f"but its bytes have digest {digest}"
            )
        return digest

    # ---- blobs ---------------------------------------------------------------------------

    def blob_exists(self, repo: str, digest: str) -> bool:
        _require_digest(digest)
        with self._transport.watcher.watching() as transfer:
            return self._uploader.blob_exists(repo, digest, (pull_scope(repo),), transfer)

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
        """Stream a blob, resuming with ``Range`` after a reset, truncation or stall.

        The size and digest are checked after the last byte: a consumer must read to the
        end to get that guarantee (and RegistryDigestMismatch if it fails). Setting
        ``cancel`` stops the download promptly, even mid-read, with RegistryCancelled."""
        _require_digest(digest)
        url = f"{self.base_url}/v2/{repo}/blobs/{digest}"
        if expected_size is not None and expected_size <= SMALL_BLOB_BYTES:
            with self._transport.watcher.watching(cancel) as transfer:
                args = (url, repo, digest, expected_size, chunk_size, transfer)
                for chunk in small_blob(self._transport, *args):
                    if on_bytes is not None:
                        on_bytes(len(chunk))
                    yield chunk
            return
        with self._transport.watcher.watching(cancel) as transfer:
            sink = BlobSink(digest, expected_size, on_bytes)
            try:
                yield from download(self._transport, url, repo, sink, chunk_size, transfer)
                transfer.check()  # an aborted close-delimited body looks complete
                sink.check()
            finally:
                sink.close()  # stops the hashing thread if the consumer gave up early

    def fetch_range(
        self,
        repo: str,
        digest: str,
        piece: ByteRange,
        write: RangeWriter,
        *,
        cancel: threading.Event | None = None,
        buffer_size: int = RANGE_BUFFER,
    ) -> None:
        """Bytes ``piece`` of a blob into ``write(offset, view)``, resumed after a break,
        read ``buffer_size`` bytes at a time at most. Nothing is verified here: the
        caller hashes the assembled blob. RangeIgnored when the registry answers with
        the whole blob instead."""
        _require_digest(digest)
        with self._transport.watcher.watching(cancel) as transfer:
            url = f"{self.base_url}/v2/{repo}/blobs/{digest}"
            download_range(self._transport, url, repo, piece, write, transfer, buffer_size)

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
        """Make sure the blob is in ``repo``: already there, mounted from another repository
        of the same registry, or uploaded from ``open_stream()`` (called again on each
        retry). The streamed bytes are hashed and the upload is cancelled, never committed,
        when they do not match ``digest`` and ``size``. ``on_bytes`` counts bytes sent,
        including bytes re-sent after a failure. Setting ``cancel`` stops the upload
        promptly, even mid-write, with RegistryCancelled. ``layer_media_type``, when set,
        goes in the commit's ``OCI-Layer-Media-Type`` header, as current Cog sends it."""
        _require_digest(digest)
        sources = [s for s in mount_from if s != repo]
        scopes = (push_scope(repo), *(pull_scope(s) for s in sources))
        with self._transport.watcher.watching(cancel) as transfer:
            blob = BlobUpload(digest, size, open_stream, scopes, on_bytes, layer_media_type)
            return self._uploader.push(repo, blob, sources, transfer)

    def stage_blob(
        self,
        repo: str,
        size: int,
        open_stream: Callable[[], SelfProvingStream],
        *,
        cancel: threading.Event | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> StagedUpload:
        """Upload ``size`` bytes whose digest is not known yet, and leave them uncommitted:
        invisible until ``commit_staged`` names their digest (the registry checks it), or
        dropped by ``cancel_staged``. The stream proves itself (``SelfProvingStream``)."""
        scopes = (push_scope(repo),)
        with self._transport.watcher.watching(cancel) as transfer:
            blob = BlobUpload(f"staged upload to {repo}", size, open_stream, scopes, on_bytes)
            return self._uploader.stage(repo, blob, transfer)

    def commit_staged(
        self,
        staged: StagedUpload,
        digest: str,
        *,
        cancel: threading.Event | None = None,
        layer_media_type: str = "",
    ) -> None:
        """Commit a staged upload as ``digest``; the registry refuses a wrong one."""
        _require_digest(digest)
        with self._transport.watcher.watching(cancel) as transfer:
            self._uploader.commit_staged(staged, digest, layer_media_type, transfer)

    def cancel_staged(self, staged: StagedUpload) -> None:
        """Drop a staged upload (one brief, best-effort DELETE)."""
        self._transport.abandon(staged.location, staged.scopes)

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
        """``push_blob`` that uploads even a blob the registry says it has (no existence
        check, no mount), for ``cogw import --force``; verified the same way."""
        _require_digest(digest)
        with self._transport.watcher.watching(cancel) as transfer:
            blob = BlobUpload(
                digest, size, open_stream, (push_scope(repo),), on_bytes, layer_media_type
            )
            return self._uploader.push(repo, blob, (), transfer, force=True)
