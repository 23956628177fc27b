"""Blob downloads: the body read in pieces, hashed on its own thread, resumed with ``Range``.

A body that breaks off (reset, truncation, stall) is asked for again from the first byte
not yet delivered; a server that ignores ``Range`` is read again from the start and the
bytes already delivered dropped. Size and digest are checked after the last byte; a blob
larger than expected is refused as soon as it grows past the size.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator

import requests

from cogw.core.artifact.ranges import ByteRange, resume_point
from cogw.core.registry.registryrules import content_range_start, positive_int, pull_scope
from cogw.shell.registry.cancel import Transfer
from cogw.shell.registry.errors import RegistryDigestMismatch, RegistryError
from cogw.shell.registry.transport import BODY_ERRORS, Transport, transport_reason
from cogw.shell.registry.urls import display


class BodyBroken(Exception):
    """The body of a streamed response broke off (reset, truncation, stall)."""


def body_chunks(response: requests.Response, chunk_size: int) -> Iterator[bytes]:
    """The body in pieces of about ``chunk_size``; any transport failure while reading it
    becomes BodyBroken, so callers resume on exactly that and nothing else."""
    try:
        yield from _body_pieces(response, chunk_size)
    except BODY_ERRORS as err:
        raise BodyBroken(transport_reason(err)) from err


def _body_pieces(response: requests.Response, chunk_size: int) -> Iterator[bytes]:
    # Unlike iter_content, a piece cut short by a failure is still delivered before the
    # error, so a resume starts exactly where the bytes stopped.
    if response.headers.get("Content-Encoding", "identity") != "identity":
        yield from response.iter_content(chunk_size)  # decoded; resumes lose a partial piece
        return
    # Pieces are gathered into ~chunk_size blocks with one join (one copy) per block.
    pieces: list[bytes] = []
    held = 0
    try:
        while piece := response.raw.read1(chunk_size - held, decode_content=False):
            pieces.append(piece)
            held += len(piece)
            if held >= chunk_size:
                yield pieces[0] if len(pieces) == 1 else b"".join(pieces)
                pieces, held = [], 0
    except BODY_ERRORS:
        if pieces:
            yield b"".join(pieces)
        raise
    if pieces:
        yield b"".join(pieces)


def drop_first(chunks: Iterable[bytes], n: int) -> Iterator[bytes]:
    """The pieces without their first ``n`` bytes."""
    for chunk in chunks:
        if n == 0:
            yield chunk
        elif len(chunk) <= n:
            n -= len(chunk)
        else:
            yield chunk[n:]
            n = 0


class BackgroundHasher:
    """sha256 on its own thread: hashlib releases the GIL, so on a multi-core machine
    the blob digest costs no time on the thread that parses and stores the layer.
    The queue is bounded, so memory stays flat if hashing ever falls behind: at most
    ``depth`` chunks wait, so callers feeding large chunks pass a small depth."""

    def __init__(self, depth: int = 32) -> None:
        self._hasher = hashlib.sha256()
        self._queue: queue.Queue[bytes | memoryview | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="blob-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._hasher.update(chunk)

    def update(self, chunk: bytes | memoryview) -> None:
        self._queue.put(chunk)

    def hexdigest(self) -> str:
        self.close()
        return self._hasher.hexdigest()

    def close(self) -> None:
        """Finish the thread (idempotent); the digest then covers what was queued."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


class BlobSink:
    """Where a download's bytes go before the consumer: hashed, counted, size-checked."""

    def __init__(
        self, digest: str, expected_size: int | None, on_bytes: Callable[[int], None] | None
    ) -> None:
        self.digest = digest
        self.expected_size = expected_size
        self.received = 0
        self._hasher = BackgroundHasher()
        self._on_bytes = on_bytes

    def take(self, chunk: bytes) -> bytes:
        self._hasher.update(chunk)
        self.received += len(chunk)
        if self.expected_size is not None and self.received > self.expected_size:
            raise RegistryDigestMismatch(
                f"blob {self.digest} is larger than the expected {self.expected_size} bytes"
            )
        if self._on_bytes is not None:
            self._on_bytes(len(chunk))
        return chunk

    def check(self) -> None:
        actual = "sha256:" + self._hasher.hexdigest()
        size, expected_size = self.received, self.expected_size
        if expected_size is not None and size != expected_size:
            raise RegistryDigestMismatch(
                f"blob {self.digest} has {size} bytes, expected {expected_size}"
            )
        if actual != self.digest:
            raise RegistryDigestMismatch(f"blob {self.digest} arrived with digest {actual}")

    def close(self) -> None:
        self._hasher.close()


def _body_length(response: requests.Response) -> int | None:
    if response.status_code != 200:
        return None
    return positive_int(response.headers.get("Content-Length"))


def download(
    transport: Transport, url: str, repo: str, sink: BlobSink, chunk_size: int, transfer: Transfer
) -> Iterator[bytes]:
    """The blob's bytes into ``sink`` and out to the consumer, resumed after each break
    until the retry budget is spent (a break that delivered bytes restarts the count)."""
    failures, total = 0, sink.expected_size
    while True:
        transfer.check()
        response, skip = _open_blob(transport, url, repo, sink.received, transfer)
        total = total if total is not None else _body_length(response)
        before = sink.received
        try:
            with response:
                for chunk in drop_first(body_chunks(response, chunk_size), skip):
                    transfer.check()
                    yield sink.take(chunk)
            return
        except BodyBroken as err:
            if total is not None and sink.received == total:
                return  # every byte arrived; only the connection's end was lost
            failures = 0 if sink.received > before else failures + 1
            transport.pause_or_raise(f"blob {sink.digest}", failures, str(err), None, transfer)
        finally:
            transfer.detach()


def _open_blob(
    transport: Transport, url: str, repo: str, offset: int, transfer: Transfer
) -> tuple[requests.Response, int]:
    """The response to read from and how many of its first bytes were delivered already."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    response = transport.request(
        "GET",
        url,
        (pull_scope(repo),),
        transfer,
        ok={200, 206},
        headers=headers,
        stream=True,
    )
    if offset == 0:
        return response, 0
    if response.status_code == 200:
        # The server ignored Range and starts over: read the delivered bytes again and
        # drop them (the digest check at the end still covers every byte).
        return response, offset
    content_range = response.headers.get("Content-Range", "")
    if content_range_start(content_range) != offset:
        response.close()
        raise RegistryError(
            f"{display(url)}: asked to resume at byte {offset}, the registry answered "
            f"Content-Range {response.headers.get('Content-Range', '(none)')!r}"
        )
    return response, 0


#: Bytes one ``readinto`` of a range asks for: few Python-level calls per MiB.
RANGE_BUFFER = 4 << 20
#: ``write(offset, view)``: store bytes of the blob at their offset. The view's buffer is
#: reused for the next read unless ``write`` returns True: it kept the view, and the next
#: read goes into a new buffer.
RangeWriter = Callable[[int, memoryview], "bool | None"]


class _Broken(BodyBroken):
    """A range's body broke off after ``received`` bytes of the piece."""

    def __init__(self, received: int, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.received = received


class RangeIgnored(Exception):
    """The registry answered a ``Range`` request with the whole blob (200): no ranges here."""


def download_range(
    transport: Transport,
    url: str,
    repo: str,
    piece: ByteRange,
    write: RangeWriter,
    transfer: Transfer,
    buffer_size: int = RANGE_BUFFER,
) -> None:
    """Bytes ``piece`` of the blob into ``write``, read into one reused buffer (of
    ``buffer_size`` bytes at most); a break
    resumes from the first byte not yet written, until the retry budget is spent (a
    break that delivered bytes restarts the count). RangeIgnored when the first answer
    is not a 206 for exactly the bytes asked for."""
    buffer = memoryview(bytearray(min(buffer_size, piece.size)))
    received, failures = 0, 0
    while (rest := resume_point(piece, received)) is not None:
        transfer.check()
        response = transport.request(
            "GET",
            url,
            (pull_scope(repo),),
            transfer,
            ok={200, 206},
            headers={"Range": rest.header()},
            stream=True,
        )
        before = received
        try:
            with response:
                _check_partial(response, url, rest, received)
                received = _read_range(response, piece, received, buffer, write, transfer)
        except _Broken as err:
            received = err.received
            failures = 0 if received > before else failures + 1
            what = f"blob {url.rpartition('/')[2]} ({rest.header()})"
            transport.pause_or_raise(what, failures, str(err), None, transfer)
        finally:
            transfer.detach()


def _check_partial(response: requests.Response, url: str, rest: ByteRange, received: int) -> None:
    start = content_range_start(response.headers.get("Content-Range", ""))
    if response.status_code == 206 and start == rest.start:
        return
    if response.status_code == 200 and received == 0:
        raise RangeIgnored(f"{display(url)} ignores Range requests")
    raise RegistryError(
        f"{display(url)}: asked for {rest.header()}, the registry answered {response.status_code} "
        f"with Content-Range {response.headers.get('Content-Range', '(none)')!r}"
    )


def _read_range(
    response: requests.Response,
    piece: ByteRange,
    received: int,
    buffer: memoryview,
    write: RangeWriter,
    transfer: Transfer,
) -> int:
    """Read until the piece is complete; BodyBroken (with ``received`` kept) on a break."""
    raw = response.raw
    while received < piece.size:
        transfer.check()
        want = min(len(buffer), piece.size - received)
        try:
            n = raw.readinto(buffer[:want])
        except BODY_ERRORS as err:
            raise _Broken(received, err) from err
        if n == 0:
            raise _Broken(received, EOFError("the range ended early"))
        # Outside the try: a failing write (disk full) is not a network break.
        if write(piece.start + received, buffer[:n]):
            buffer = memoryview(bytearray(len(buffer)))
        received += n
    return received
