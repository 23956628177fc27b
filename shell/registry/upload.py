"""Blob uploads: already there, mounted from another repository, or sent and committed.

Blobs up to ``monolithic_limit`` are read whole, verified, and sent in one PUT; larger ones
go PATCH by PATCH (``chunked``). Either way the streamed bytes are hashed and the upload is
cancelled, never committed, when they do not match the digest and size. A failed upload
session is restarted (a fresh session, the stream opened again) when the failure is one
``core.registryrules.worth_restarting`` says a new session may fix.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urljoin

import requests

from cogw.core.registry.registryrules import commit_headers, upload_chunk_size, worth_restarting
from cogw.shell.registry.cancel import Transfer
from cogw.shell.registry.chunked import ChunkedUpload
from cogw.shell.registry.errors import RegistryError
from cogw.shell.registry.protocol import PushResult
from cogw.shell.registry.streams import (
    HashingReader,
    StreamLengthMismatch,
    check_upload,
    stream_mismatch,
)
from cogw.shell.registry.transport import RETRY_CANDIDATES, Transport, failure_kind
from cogw.shell.registry.urls import display, with_query


@dataclass(frozen=True, slots=True)
class BlobUpload:
    """What one push_blob sends, for each attempt."""

    digest: str
    size: int
    open_stream: Callable[[], Iterable[bytes]]
    scopes: tuple[str, ...]
    on_bytes: Callable[[int], None] | None
    layer_media_type: str = ""  # sent on the commit when set


@dataclass(frozen=True, slots=True)
class StagedUpload:
    """An upload session holding every byte of a blob, not yet committed."""

    location: str
    scopes: tuple[str, ...]
    chunk: int


def upload_location(response: requests.Response, url: str) -> str:
    location = response.headers.get("Location")
    if not location:
        raise RegistryError(f"{display(url)}: the registry sent no upload Location")
    return urljoin(url, location)


class BlobUploader:
    """Pushes blobs to one registry through its transport."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def blob_exists(
        self, repo: str, digest: str, scopes: tuple[str, ...], transfer: Transfer
    ) -> bool:
        url = f"{self.transport.base_url}/v2/{repo}/blobs/{digest}"
        response = self.transport.request("HEAD", url, scopes, transfer, ok={200, 404})
        response.close()
        return response.status_code == 200

    def push(
        self,
        repo: str,
        blob: BlobUpload,
        mount_from: Iterable[str],
        transfer: Transfer,
        force: bool = False,
    ) -> PushResult:
        if force:  # upload whatever the registry says it has
            self._upload_with_restarts(repo, blob, transfer)
            return "uploaded"
        if self.blob_exists(repo, blob.digest, blob.scopes, transfer):
            return "exists"
        for source in mount_from:
            if self._try_mount(repo, blob.digest, source, blob.scopes, transfer):
                return "mounted"
        self._upload_with_restarts(repo, blob, transfer)
        return "uploaded"

    def _upload_with_restarts(self, repo: str, blob: BlobUpload, transfer: Transfer) -> None:
        failures = 0
        while True:
            transfer.check()
            try:
                self._upload(repo, blob, transfer)
                return
            except RETRY_CANDIDATES as err:
                if not worth_restarting(*failure_kind(err)):
                    raise
                failures += 1
                what = f"upload of {blob.digest}"
                self.transport.pause_or_raise(what, failures, str(err), None, transfer)
                # A commit whose answer was lost may have landed after all.
                if self.blob_exists(repo, blob.digest, blob.scopes, transfer):
                    return

    def _try_mount(
        self, repo: str, digest: str, source: str, scopes: tuple[str, ...], transfer: Transfer
    ) -> bool:
        url = with_query(
            f"{self.transport.base_url}/v2/{repo}/blobs/uploads/",
            {"mount": digest, "from": source},
        )
        response = self.transport.request("POST", url, scopes, transfer, ok={201, 202})
        response.close()
        if response.status_code == 201:
            return True
        # 202: the registry could not mount and opened an ordinary upload; drop it.
        self.cancel_upload(upload_location(response, url), scopes, transfer)
        return False

    def _upload(self, repo: str, blob: BlobUpload, transfer: Transfer) -> None:
        location, chunk = self._start_upload(repo, blob.scopes, transfer)
        upload = ChunkedUpload(
            self.transport, location, blob.scopes, chunk, transfer, blob.on_bytes
        )
        try:
            if blob.size <= self.transport.options.monolithic_limit:
                self._upload_monolithic(location, blob, transfer)
            else:
                upload.run(blob.digest, blob.size, blob.open_stream, blob.layer_media_type)
        except BaseException:
            self.cancel_upload(upload.location, blob.scopes, transfer)
            raise

    def _start_upload(
        self, repo: str, scopes: tuple[str, ...], transfer: Transfer
    ) -> tuple[str, int]:
        url = f"{self.transport.base_url}/v2/{repo}/blobs/uploads/"
        response = self.transport.request("POST", url, scopes, transfer, ok={202})
        response.close()
        chunk = upload_chunk_size(
            self.transport.options.chunk_size,
            response.headers.get("OCI-Chunk-Max-Length"),
            response.headers.get("OCI-Chunk-Min-Length"),
        )
        return upload_location(response, url), chunk

    def _upload_monolithic(self, location: str, blob: BlobUpload, transfer: Transfer) -> None:
        # Small blobs are read whole (bounded by the limit) so they can be verified before
        # a single PUT commits them.
        reader = HashingReader(blob.open_stream())
        try:
            data = b"".join(reader.take(blob.size))
        except StreamLengthMismatch as err:
            raise stream_mismatch(blob.digest, blob.size, err.consumed) from None
        check_upload(reader, blob.digest, blob.size)
        url = with_query(location, {"digest": blob.digest})
        headers = commit_headers(blob.layer_media_type)
        self.transport.request(
            "PUT", url, blob.scopes, transfer, ok={201}, headers=headers, body=data
        ).close()
        if blob.on_bytes is not None:
            blob.on_bytes(blob.size)

    def stage(self, repo: str, blob: BlobUpload, transfer: Transfer) -> StagedUpload:
        """Send a blob whose digest is not known yet, without committing it: its stream
        must prove itself (``SelfProvingStream``; ``blob.digest`` only names it)."""
        location, chunk = self._start_upload(repo, blob.scopes, transfer)
        upload = ChunkedUpload(
            self.transport, location, blob.scopes, chunk, transfer, blob.on_bytes
        )
        try:
            upload.send(blob.digest, blob.size, blob.open_stream)
        except BaseException:
            self.cancel_upload(upload.location, blob.scopes, transfer)
            raise
        return StagedUpload(upload.location, blob.scopes, chunk)

    def commit_staged(
        self, staged: StagedUpload, digest: str, layer_media_type: str, transfer: Transfer
    ) -> None:
        upload = ChunkedUpload(
            self.transport, staged.location, staged.scopes, staged.chunk, transfer, None
        )
        try:
            upload.commit(digest, layer_media_type)
        except BaseException:
            self.cancel_upload(staged.location, staged.scopes, transfer)
            raise

    def cancel_upload(self, location: str, scopes: tuple[str, ...], transfer: Transfer) -> None:
        # Best effort: registries purge abandoned uploads anyway, but only after days. After
        # a cancel (Ctrl-C, SIGTERM) the session is still closed, with one brief DELETE
        # outside the aborted transfer: the user asked to stop now, and the registry may be
        # the stalled party, so it gets a second or two, not the usual timeouts.
        if transfer.cancelled:
            self.transport.abandon(location, scopes)
            return
        with contextlib.suppress(Exception):
            self.transport.exchange("DELETE", location, scopes, transfer).close()
