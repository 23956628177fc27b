"""The OCI distribution protocol's rules, as pure functions over headers, bodies and numbers.

What a registry client decides without touching the network: how a ``WWW-Authenticate``
challenge reads, which scopes an operation asks for, which scheme a host is spoken to in,
what an OCI error body says, how long a ``Retry-After`` or the backoff schedule waits, what
a ``Range`` or ``Content-Range`` answer means, whether a tag or digest may be sent at all,
and which failures a resume or a fresh upload session may fix.

It knows nothing about sockets, sessions or exceptions of an HTTP library: the shell
(``cogw.shell.registry``) reads the headers and bodies and passes them in, together with
the values that come from outside (the current time, a random jitter).
"""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from pyrsistent import pmap

from cogw.core.digest import digest_error
from cogw.core.registry.reference import is_loopback_host
from cogw.core.registry.registryfaults import is_insecure_host

# Statuses a later attempt of the same request may get past (overload, timeouts, gateways).
RETRYABLE_STATUSES = frozenset({408, 429, 499, 500, 502, 503, 504, 522})
MAX_BACKOFF_SECONDS = 30.0
BACKOFF_JITTER = 0.25  # the largest share a random jitter adds to a nominal delay

# ---- authentication ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: scheme (lower case) and its parameters."""

    scheme: str
    params: Mapping[str, str]


_CHALLENGE_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge of a ``WWW-Authenticate`` value; None when there is none.

    >>> challenge = parse_challenge('Bearer realm="https://auth/token",service="reg"')
    >>> challenge.scheme, challenge.params["realm"], challenge.params["service"]
    ('bearer', 'https://auth/token', 'reg')
    >>> parse_challenge("") is None
    True
    """
    match = re.match(r"\s*([A-Za-z]+)\s*(.*)", header, re.DOTALL)
    if match is None:
        return None
    params = {}
    for key, value in _CHALLENGE_PARAM.findall(match.group(2)):
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[key.lower()] = value
    return Challenge(match.group(1).lower(), pmap(params))


def registry_scheme(registry: str, insecure_hosts: frozenset[str]) -> str:
    """https, except for loopback hosts and hosts the user explicitly marked insecure.

    >>> registry_scheme("ghcr.io", frozenset()), registry_scheme("localhost:5000", frozenset())
    ('https', 'http')
    """
    if is_loopback_host(registry) or is_insecure_host(registry, insecure_hosts):
        return "http"
    return "https"


def pull_scope(repo: str) -> str:
    """The token scope to read ``repo``.

    >>> pull_scope("acme/model")
    'repository:acme/model:pull'
    """
    return f"repository:{repo}:pull"


def push_scope(repo: str) -> str:
    """The token scope to write ``repo`` (a push reads too: HEAD before upload).

    >>> push_scope("acme/model")
    'repository:acme/model:pull,push'
    """
    return f"repository:{repo}:pull,push"


def token_scopes(wanted: tuple[str, ...], challenged: str) -> list[str]:
    """The scopes to ask a token server for: ours, then the challenge's, each once.

    >>> token_scopes(("repository:a:pull",), "repository:a:pull repository:b:pull")
    ['repository:a:pull', 'repository:b:pull']
    """
    return list(dict.fromkeys(s for s in (*wanted, *challenged.split()) if s))


# ---- references --------------------------------------------------------------------------

_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


def reference_error(ref: str) -> str | None:
    """Why ``ref`` is neither a tag nor a valid digest (anything with a colon must be a
    digest); None when it may be sent.

    >>> reference_error("v1") is None, reference_error("-v1") is not None
    (True, True)
    """
    if ":" in ref:
        return digest_error(ref)
    if _TAG.fullmatch(ref) is None:
        return f"invalid tag {ref!r}: use letters, digits, '_', '.', '-' (max 128)"
    return None


def media_type_in(raw: bytes) -> str:
    """The ``mediaType`` a manifest names in its own body; "" when it names none.

    >>> media_type_in(b'{"mediaType": "application/vnd.oci.image.index.v1+json"}')
    'application/vnd.oci.image.index.v1+json'
    >>> media_type_in(b"not json")
    ''
    """
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON: no media type to be found
        return ""
    value = document.get("mediaType") if isinstance(document, dict) else None
    return value if isinstance(value, str) else ""


# ---- answers -----------------------------------------------------------------------------


def oci_error(body: bytes) -> tuple[str | None, str]:
    """The first OCI error code and message in an error body; (None, "") for any other
    body, so the status alone must do. The content type is not consulted: registries and
    the proxies in front of them label the same JSON differently.

    >>> oci_error(b'{"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown"}]}')
    ('BLOB_UNKNOWN', 'blob unknown')
    >>> oci_error(b"<html>Bad Gateway</html>")
    (None, '')
    """
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None, ""
    errors = (document.get("errors") or []) if isinstance(document, dict) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None, ""
    first = errors[0]
    return str(first.get("code") or "") or None, str(first.get("message") or "")


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """How long a ``Retry-After`` header asks to wait, from ``now`` (a POSIX timestamp):
    delta-seconds or an HTTP date; None when there is no usable header.

    >>> retry_after_seconds("7", now=0.0), retry_after_seconds("soon", now=0.0)
    (7.0, None)
    >>> retry_after_seconds("Thu, 01 Jan 1970 00:01:00 GMT", now=45.0)
    15.0
    """
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def positive_int(value: str | None) -> int | None:
    """A header's positive integer value; None when absent, not a number or zero.

    >>> positive_int(" 42 "), positive_int("0"), positive_int("-1"), positive_int(None)
    (42, None, None, None)
    """
    if value is None or not value.strip().isdigit():
        return None
    number = int(value)
    return number if number > 0 else None


def content_range_start(value: str) -> int | None:
    """The first byte a ``Content-Range: bytes START-…`` answer holds; None if unreadable.

    >>> content_range_start("bytes 100-199/200"), content_range_start("")
    (100, None)
    """
    start = re.match(r"bytes\s+(\d+)-", value)
    return int(start.group(1)) if start else None


def range_end(value: str | None) -> int | None:
    """The last byte of an upload's ``Range: 0-END`` answer (with or without ``bytes=``).

    >>> range_end("0-1023"), range_end("bytes=0-9"), range_end("5-9"), range_end(None)
    (1023, 9, None, None)
    """
    match = re.fullmatch(r"\s*(?:bytes=)?0-(\d+)\s*", value or "")
    return int(match.group(1)) if match else None


def kept_bytes(range_value: str | None) -> int:
    """How many bytes an upload session holds, from its ``Range`` answer. "0-0" means both
    "empty" and "one byte"; restarting at 0 is the safe reading.

    >>> kept_bytes("0-1023"), kept_bytes("0-0"), kept_bytes(None)
    (1024, 0, 0)
    """
    end = range_end(range_value)
    return 0 if end is None or end == 0 else end + 1


LAYER_MEDIA_TYPE_HEADER = "OCI-Layer-Media-Type"


def commit_headers(layer_media_type: str = "") -> dict[str, str]:
    """The headers of the PUT that commits an upload; current Cog names a weight
    layer's media type there (``pkg/registry`` ``commitUpload``), only when set.

    >>> commit_headers("application/vnd.oci.image.layer.v1.tar")["OCI-Layer-Media-Type"]
    'application/vnd.oci.image.layer.v1.tar'
    >>> sorted(commit_headers())
    ['Content-Type']
    """
    headers = {"Content-Type": "application/octet-stream"}
    if layer_media_type:
        headers[LAYER_MEDIA_TYPE_HEADER] = layer_media_type
    return headers


def upload_chunk_size(wanted: int, max_header: str | None, min_header: str | None) -> int:
    """The PATCH size: ``wanted``, clamped to the registry's OCI-Chunk-Max/Min-Length.

    >>> upload_chunk_size(64, "16", None), upload_chunk_size(64, None, "100")
    (16, 100)
    """
    chunk = wanted
    maximum = positive_int(max_header)
    minimum = positive_int(min_header)
    if maximum is not None:
        chunk = min(chunk, maximum)
    if minimum is not None:
        chunk = max(chunk, minimum)
    return chunk


# ---- retries -----------------------------------------------------------------------------


def retry_delay(
    failures: int,
    backoff_base: float,
    jitter: float,
    retry_after: float | None = None,
    retry_after_cap: float = MAX_BACKOFF_SECONDS,
) -> float:
    """The wait before the attempt after ``failures`` failures (from 1): what Retry-After
    asked, capped; else ``backoff_base`` doubled per failure plus up to 25 % for a
    ``jitter`` in [0, 1), never over MAX_BACKOFF_SECONDS.

    >>> [retry_delay(n, 0.5, jitter=0.0) for n in (1, 2, 3)]
    [0.5, 1.0, 2.0]
    >>> retry_delay(1, 0.5, jitter=0.0, retry_after=90.0, retry_after_cap=30.0)
    30.0
    """
    if retry_after is not None:
        return min(retry_after, retry_after_cap)
    nominal: float = backoff_base * 2 ** (failures - 1)
    return min(nominal * (1 + BACKOFF_JITTER * jitter), MAX_BACKOFF_SECONDS)


class FailureKind(Enum):
    """What kind of failure broke an upload, for deciding whether to carry on."""

    TRANSPORT = "transport"  # reset, timeout, truncation: nothing the registry decided
    STATUS = "status"  # the registry answered with an error status
    FINAL = "final"  # refused credentials, a cancel, or bytes that are not the blob's


def worth_resuming(kind: FailureKind, status: int | None) -> bool:
    """Chunk failures a resume from the registry's offset may fix.

    >>> worth_resuming(FailureKind.STATUS, 503), worth_resuming(FailureKind.STATUS, 404)
    (True, False)
    """
    if kind is FailureKind.FINAL:
        return False
    if kind is FailureKind.STATUS:
        return status in RETRYABLE_STATUSES
    return True


def worth_restarting(kind: FailureKind, status: int | None) -> bool:
    """Upload failures a fresh upload session may fix: transient ones, and a session the
    registry forgot or rejected (distribution kills a session after a bad chunk).

    >>> worth_restarting(FailureKind.STATUS, 404), worth_restarting(FailureKind.FINAL, None)
    (True, False)
    """
    if kind is FailureKind.FINAL:
        return False
    if kind is FailureKind.STATUS:
        return status in RETRYABLE_STATUSES or status in (400, 404, 416)
    return True


# What users need from a transport failure, without urllib3's pool internals or the names
# of exception classes.
_TRANSPORT_REASONS = (
    ("Connection refused", "connection refused"),
    ("Name or service not known", "unknown host"),
    ("Temporary failure in name resolution", "unknown host"),
    ("No route to host", "no route to host"),
    ("Connection reset", "connection reset"),
    ("timed out", "timed out"),
    ("IncompleteRead", "the answer broke off before its end"),
    ("Connection broken", "the answer broke off before its end"),
    ("RemoteDisconnected", "the registry closed the connection without answering"),
    ("closed connection without response", "the registry closed the connection without answering"),
    ("Connection aborted", "the connection was dropped"),
)


def transport_reason(text: str, type_name: str, timed_out: bool) -> str:
    """A short reason for a connection-level failure, from the error's text and class name;
    never the class name itself, which tells a user nothing.

    >>> transport_reason("... [Errno 111] Connection refused", "ConnectionError", False)
    'connection refused'
    >>> transport_reason("('Connection broken: IncompleteRead(10 bytes read)')", "X", False)
    'the answer broke off before its end'
    >>> transport_reason("odd", "ConnectionError", False)
    'the connection failed'
    """
    for needle, reason in _TRANSPORT_REASONS:
        if needle in text or needle in type_name:
            return reason
    if timed_out:
        return "timed out"
    return "the connection failed"
