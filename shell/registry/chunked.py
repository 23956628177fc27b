"""A chunked upload: one PATCH per chunk, streamed, resumed from the registry's offset.

When a chunk fails in a way ``core.registryrules.worth_resuming`` says a resume may fix,
the registry is asked how much it kept (``Range: 0-END`` on the upload URL) and the
stream is opened again and skipped to there: those bytes are hashed again, not sent again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from urllib.parse import urljoin

from cogw.core.registry.registryrules import commit_headers, kept_bytes, range_end, worth_resuming
from cogw.shell.registry.cancel import Transfer
from cogw.shell.registry.streams import (
    HashingReader,
    SizedBody,
    StreamLengthMismatch,
    check_upload,
    stream_mismatch,
)
from cogw.shell.registry.transport import RETRY_CANDIDATES, Interrupted, Transport, failure_kind
from cogw.shell.registry.urls import with_query


class ChunkedUpload:
    """A PATCH-per-chunk upload that streams (no chunk buffers) and, when a chunk fails,
    asks the registry how much it kept and carries on from there."""

    def __init__(
        self,
        transport: Transport,
        location: str,
        scopes: tuple[str, ...],
        chunk_size: int,
        transfer: Transfer,
        on_bytes: Callable[[int], None] | None,
    ) -> None:
        self.transport = transport
        self.location = location
        self.scopes = scopes
        self.chunk_size = chunk_size
        self.transfer = transfer
        self.on_bytes = on_bytes

    def run(
        self,
        digest: str,
        size: int,
        open_stream: Callable[[], Iterable[bytes]],
        layer_media_type: str = "",
    ) -> None:
        self.send(digest, size, open_stream)
        self.commit(digest, layer_media_type)

    def send(self, digest: str, size: int, open_stream: Callable[[], Iterable[bytes]]) -> None:
        """Every byte sent and checked (hashed against ``digest``, or proven by a
        ``SelfProvingStream``, whose ``digest`` here only names it); nothing committed."""
        reader = HashingReader(open_stream())
        offset, failures = 0, 0
        while offset < size:
            n = min(self.chunk_size, size - offset)
            try:
                self._patch(reader, offset, n)
                offset += n
                failures = 0
            except StreamLengthMismatch as err:
                raise stream_mismatch(digest, size, err.consumed) from None
            except RETRY_CANDIDATES as err:
                if not worth_resuming(*failure_kind(err)):
                    raise
                failures += 1
                self.transport.pause_or_raise(
                    f"chunk upload of {digest}", failures, str(err), None, self.transfer
                )
                offset = self._server_offset()
                reader = HashingReader(open_stream())
                reader.skip(offset)  # hashed again, not sent again
        check_upload(reader, digest, size)

    def _patch(self, reader: HashingReader, offset: int, n: int) -> None:
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + n - 1}",  # no "bytes " prefix: distribution
        }
        body = SizedBody(self._counted(reader.take(n)), n)
        response = self.transport.exchange(
            "PATCH", self.location, self.scopes, self.transfer, headers, body
        )
        with response:
            if response.status_code not in (201, 202, 204):
                raise self.transport.status_error("PATCH", self.location, response)
            expected_end = offset + n - 1
            if range_end(response.headers.get("Range")) not in (None, expected_end):
                raise Interrupted(
                    f"registry holds {response.headers['Range']}, not 0-{expected_end}"
                )
            if response.headers.get("Location"):
                self.location = urljoin(self.location, response.headers["Location"])

    def _counted(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            self.transfer.check()
            yield piece
            if self.on_bytes is not None:
                self.on_bytes(len(piece))

    def _server_offset(self) -> int:
        """How many bytes the registry kept (GET on the upload URL answers ``Range: 0-<end>``)."""
        response = self.transport.request(
            "GET", self.location, self.scopes, self.transfer, ok={204, 200}
        )
        response.close()
        if response.headers.get("Location"):
            self.location = urljoin(self.location, response.headers["Location"])
        return kept_bytes(response.headers.get("Range"))

    def commit(self, digest: str, layer_media_type: str) -> None:
        url = with_query(self.location, {"digest": digest})
        headers = commit_headers(layer_media_type)
        self.transport.request(
            "PUT", url, self.scopes, self.transfer, ok={201}, headers=headers, body=b""
        ).close()
