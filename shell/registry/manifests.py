"""Manifests and small blobs fetched whole, verified, and fetched again when they break.

A manifest or a config blob is small and read in one piece, so unlike a layer it is not
resumed: a body that breaks off, or bytes that do not hash to the digest they were asked
by (a flipped byte on the way), are fetched again on the transport's retry schedule. A
digest mismatch that persists through every attempt is reported as one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import requests

from cogw.core.digest import is_digest, sha256_of
from cogw.core.registry.registryrules import positive_int
from cogw.shell.registry.cancel import Transfer
from cogw.shell.registry.download import BlobSink, BodyBroken, body_chunks, download
from cogw.shell.registry.errors import RegistryDigestMismatch, RegistryError
from cogw.shell.registry.protocol import MAX_MANIFEST_BYTES
from cogw.shell.registry.transport import Transport
from cogw.shell.registry.urls import display


def read_whole(response: requests.Response, url: str, limit: int) -> bytes:
    """A body of at most ``limit`` bytes; BodyBroken when it breaks off or falls short of
    its Content-Length."""
    declared = positive_int(response.headers.get("Content-Length"))
    if declared is not None and declared > limit:
        raise RegistryError(f"{display(url)}: answer of {declared} bytes is too large")
    parts, total = [], 0
    for chunk in body_chunks(response, 64 * 1024):
        total += len(chunk)
        if total > limit:
            raise RegistryError(f"{display(url)}: answer larger than {limit} bytes")
        parts.append(chunk)
    if declared is not None and total < declared:
        raise BodyBroken("the answer broke off before its end")
    return b"".join(parts)


def fetch_verified(
    transport: Transport,
    open_response: Callable[[Transfer], requests.Response],
    url: str,
    digest: str | None,
    transfer: Transfer,
    what: str,
    limit: int = MAX_MANIFEST_BYTES,
) -> tuple[bytes, requests.Response]:
    """The whole body (and its response), fetched again after a break or bytes that do
    not hash to ``digest`` (or, without one, to the registry's claim); ``what`` names the
    content in a persistent mismatch."""
    failures, started = 0, time.monotonic()
    while True:
        response = open_response(transfer)
        try:
            with response:
                raw = read_whole(response, url, limit)
        except BodyBroken as err:
            transfer.check()
            reason = str(err)
        else:
            actual = sha256_of(raw)
            # Asked by tag, the registry's own claim is what the bytes must match.
            expected = digest or response.headers.get("Docker-Content-Digest", "")
            if not is_digest(expected) or actual == expected:
                return raw, response
            reason = f"has digest {actual}" + (
                "" if digest else f", but the registry says {expected}"
            )
        finally:
            transfer.detach()
        failures += 1
        try:
            transport.pause_or_raise(
                f"GET {display(url)}", failures, reason, None, transfer, started=started
            )
        except RegistryError:
            if reason.startswith("has digest"):
                raise RegistryDigestMismatch(f"{what} {reason}") from None
            raise


# Blobs of a known size up to this (config blobs, tiny layers) are held whole and verified
# before the first byte reaches the consumer, so a digest mismatch is fetched again
# instead of failing a pull. Larger ones stream; their mismatch fails the blob.
SMALL_BLOB_BYTES = 256 * 1024


def small_blob(
    transport: Transport,
    url: str,
    repo: str,
    digest: str,
    expected_size: int | None,
    chunk_size: int,
    transfer: Transfer,
) -> Iterator[bytes]:
    """The blob's bytes, verified before they are yielded and fetched again on a digest
    mismatch; a body that outgrows SMALL_BLOB_BYTES streams on, checked at the end."""
    failures, started = 0, time.monotonic()
    while True:
        sink = BlobSink(digest, expected_size, None)
        held: list[bytes] = []
        try:
            stream = download(transport, url, repo, sink, chunk_size, transfer)
            for chunk in stream:
                held.append(chunk)
                if sink.received > SMALL_BLOB_BYTES:
                    yield from held
                    yield from stream
                    transfer.check()
                    sink.check()
                    return
            transfer.check()  # an aborted close-delimited body looks complete
            sink.check()
            yield from held
            return
        except RegistryDigestMismatch as err:
            failures += 1
            reason = str(err)
        finally:
            sink.close()
        try:
            transport.pause_or_raise(
                f"blob {digest}", failures, reason, None, transfer, started=started
            )
        except RegistryError:
            raise RegistryDigestMismatch(reason) from None
