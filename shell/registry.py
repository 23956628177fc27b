"""An OCI distribution client: manifests and blobs over HTTP(S), with auth, retries and resume.

What it knows: the OCI distribution API as CNCF distribution, Docker Hub and the cloud
registries speak it — Basic and Bearer (token server) auth from a ``WWW-Authenticate``
challenge, blob GETs resumed with ``Range`` after a reset or a stall, monolithic and
chunked uploads, cross-repository mounts, manifests by tag or digest. Every byte it moves is
hashed: a blob or manifest whose digest differs from the one asked for is an error, and an
upload whose stream does not match its digest is cancelled before the commit. A server that
ignores ``Range`` on a resume is read again from the start, the bytes already delivered
dropped. Cancelling (a caller's ``cancel`` Event, or ``abort()``) is prompt: the socket of
the request in flight is shut down, so a read or write blocked on a stalled peer fails at
once, and the operation raises RegistryCancelled instead of retrying.

What it does not know: what a weight, a lockfile or a layer *means*; where credentials come
from (``cogw.shell.auth``); progress bars (callers pass ``on_bytes``).

Why not plain ``requests`` behaviour: redirects are followed by hand so an Authorization
header never reaches another host (blob storage); TLS verification always uses the CA
bundle given here, because requests lets ``REQUESTS_CA_BUNDLE`` silently override a
session's ``verify``; plain HTTP is used only for loopback hosts or hosts the user listed as
insecure — never as a silent fallback (Cog v0.19.3 falls back to HTTP for any registry).

Only this module imports requests; ``cogw --help`` must not pay for it, so import this
module lazily.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import json
import queue
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import requests.adapters
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions
import urllib3.poolmanager

from cogw.core.digest import digest_error, is_digest, sha256_of
from cogw.core.reference import is_loopback_host
from cogw.shell.auth import Credentials, CredentialSource

MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ACCEPT_MANIFESTS = ", ".join(
    (MEDIA_OCI_MANIFEST, MEDIA_OCI_INDEX, MEDIA_DOCKER_MANIFEST, MEDIA_DOCKER_LIST)
)
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # what distribution accepts; larger bodies are refused
MONOLITHIC_LIMIT = 32 * 1024 * 1024
CHUNK_SIZE = 64 * 1024 * 1024
RETRYABLE_STATUSES = frozenset({408, 429, 499, 500, 502, 503, 504, 522})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
MAX_BACKOFF_SECONDS = 30.0
_ERROR_BODY_LIMIT = 64 * 1024
_DOCKER_HUB_API = "registry-1.docker.io"

PushResult = Literal["exists", "mounted", "uploaded"]


class RegistryError(Exception):
    """A registry operation failed; ``status`` is the HTTP status and ``code`` the OCI error
    code when the registry sent them. Messages never contain credentials or tokens."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class RegistryAuthError(RegistryError):
    pass


class RegistryNotFound(RegistryError):
    pass


class RegistryTLSError(RegistryError):
    pass


class RegistryDigestMismatch(RegistryError):
    pass


class RegistryCancelled(RegistryError):
    pass


@dataclass(frozen=True, slots=True)
class RetryNotice:
    """Told to ``RegistryOptions.on_retry`` before each wait (for progress displays)."""

    what: str
    attempt: int  # the attempt that failed, from 1
    max_attempts: int
    delay: float
    reason: str


@dataclass(frozen=True, slots=True)
class RegistryOptions:
    """How to reach registries.

    insecure_hosts:   hosts (host[:port]) that may be reached over plain HTTP.
    ca_bundle:        PEM file of CAs to trust instead of the system store.
    max_retries:      retries after the first attempt, per request and per blob.
    backoff_base:     first retry delay in seconds; doubles per retry, plus up to 25% jitter.
    retry_after_cap:  the longest a Retry-After header may make us wait.
    monolithic_limit: blobs up to this size go in one verified PUT; larger ones in chunks.
    chunk_size:       PATCH size, clamped to the registry's OCI-Chunk-Min/Max-Length.
    pool_size:        connections kept per host (parallel layer transfers).
    on_retry:         told about every retry before its wait (progress displays).
    """

    insecure_hosts: frozenset[str] = frozenset()
    ca_bundle: str | None = None
    connect_timeout: float = 10
    read_timeout: float = 60
    max_retries: int = 4
    backoff_base: float = 0.5
    retry_after_cap: float = MAX_BACKOFF_SECONDS
    monolithic_limit: int = MONOLITHIC_LIMIT
    chunk_size: int = CHUNK_SIZE
    pool_size: int = 32
    on_retry: Callable[[RetryNotice], None] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Manifest:
    raw: bytes
    media_type: str
    digest: str


@dataclass(frozen=True, slots=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: scheme (lower case) and its parameters."""

    scheme: str
    params: dict[str, str]


_CHALLENGE_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge of a ``WWW-Authenticate`` value; None when there is none."""
    match = re.match(r"\s*([A-Za-z]+)\s*(.*)", header, re.DOTALL)
    if match is None:
        return None
    params = {}
    for key, value in _CHALLENGE_PARAM.findall(match.group(2)):
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[key.lower()] = value
    return Challenge(match.group(1).lower(), params)


def registry_scheme(registry: str, insecure_hosts: frozenset[str]) -> str:
    """https, except for loopback hosts and hosts the user explicitly marked insecure."""
    if is_loopback_host(registry) or registry in insecure_hosts:
        return "http"
    return "https"


def pull_scope(repo: str) -> str:
    return f"repository:{repo}:pull"


def push_scope(repo: str) -> str:
    return f"repository:{repo}:pull,push"


def _display(url: str) -> str:
    # Upload URLs carry signed state in the query; it is noise in a message.
    return urlsplit(url)._replace(query="", fragment="").geturl()


def _host_of(url: str) -> str:
    return urlsplit(url).netloc.lower()


def _with_query(url: str, params: dict[str, str]) -> str:
    separator = "&" if urlsplit(url).query else "?"
    return url + separator + urlencode(params)


def _require_digest(digest: str) -> None:
    problem = digest_error(digest)
    if problem is not None:
        raise RegistryError(problem)


_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


def _require_reference(ref: str) -> None:
    """A tag, or a valid digest (anything with a colon must be a digest)."""
    if ":" in ref:
        _require_digest(ref)
    elif _TAG.fullmatch(ref) is None:
        raise RegistryError(f"invalid tag {ref!r}: use letters, digits, '_', '.', '-' (max 128)")


class _Interrupted(Exception):
    """A transfer broke off in a way a retry or resume may fix."""


class _StreamLengthMismatch(Exception):
    def __init__(self, consumed: int) -> None:
        super().__init__(f"stream ended after {consumed} bytes")
        self.consumed = consumed


_TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.Timeout,
    _Interrupted,
)
# Raised by urllib3 itself while a streamed body is read (requests wraps only iter_content).
_BODY_ERRORS: tuple[type[BaseException], ...] = (
    *_TRANSIENT_ERRORS,
    urllib3.exceptions.HTTPError,
    OSError,
)
_RETRY_CANDIDATES: tuple[type[BaseException], ...] = (*_TRANSIENT_ERRORS, RegistryError)
# How a request fails when its socket is shut down under it (TLS may report a bad record).
_ABORT_SYMPTOMS: tuple[type[BaseException], ...] = (*_BODY_ERRORS, RegistryTLSError)

# What users need from a transport failure, without urllib3's pool internals.
_TRANSPORT_REASONS = (
    ("Connection refused", "connection refused"),
    ("Name or service not known", "unknown host"),
    ("Temporary failure in name resolution", "unknown host"),
    ("No route to host", "no route to host"),
    ("Connection reset", "connection reset"),
    ("timed out", "timed out"),
)


def transport_reason(err: BaseException) -> str:
    """A short reason for a connection-level failure ("connection refused")."""
    text = str(err)
    for needle, reason in _TRANSPORT_REASONS:
        if needle in text:
            return reason
    if isinstance(err, requests.exceptions.Timeout):
        return "timed out"
    return f"{type(err).__name__}: {text}" if len(text) < 200 else type(err).__name__


def _retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _oci_error(response: requests.Response) -> tuple[str | None, str]:
    """The first OCI error code and message in a response body, if it has one."""
    try:
        body = next(response.iter_content(_ERROR_BODY_LIMIT), b"")
        errors = json.loads(body).get("errors") or []
        first = errors[0]
        return str(first.get("code") or "") or None, str(first.get("message") or "")
    except Exception:  # any non-OCI body: the status alone must do
        return None, ""


class _BodyBroken(Exception):
    """The body of a streamed response broke off (reset, truncation, stall)."""


def _body_chunks(response: requests.Response, chunk_size: int) -> Iterator[bytes]:
    """The body in pieces of about ``chunk_size``; any transport failure while reading it
    becomes _BodyBroken, so callers resume on exactly that and nothing else."""
    try:
        yield from _body_pieces(response, chunk_size)
    except _BODY_ERRORS as err:
        raise _BodyBroken(f"{type(err).__name__}: {err}") from err


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
    except _BODY_ERRORS:
        if pieces:
            yield b"".join(pieces)
        raise
    if pieces:
        yield b"".join(pieces)


class _BackgroundHasher:
    """sha256 on its own thread: hashlib releases the GIL, so on a multi-core machine
    the blob digest costs no time on the thread that parses and stores the layer.
    The queue is bounded, so memory stays flat if hashing ever falls behind."""

    def __init__(self) -> None:
        self._hasher = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=32)
        self._thread = threading.Thread(target=self._run, name="blob-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._hasher.update(chunk)

    def update(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def hexdigest(self) -> str:
        self.close()
        return self._hasher.hexdigest()

    def close(self) -> None:
        """Finish the thread (idempotent); the digest then covers what was queued."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


class _BlobSink:
    """Where a download's bytes go before the consumer: hashed, counted, size-checked."""

    def __init__(
        self, digest: str, expected_size: int | None, on_bytes: Callable[[int], None] | None
    ) -> None:
        self.digest = digest
        self.expected_size = expected_size
        self.received = 0
        self._hasher = _BackgroundHasher()
        self._on_bytes = on_bytes

    def take(self, chunk: bytes) -> bytes:
        self._hasher.update(chunk)
        self.received += len(chunk)
        _check_not_oversized(self.digest, self.received, self.expected_size)
        if self._on_bytes is not None:
            self._on_bytes(len(chunk))
        return chunk

    def check(self) -> None:
        actual = "sha256:" + self._hasher.hexdigest()
        _check_blob(self.digest, actual, self.received, self.expected_size)

    def close(self) -> None:
        self._hasher.close()


def _drop_first(chunks: Iterable[bytes], n: int) -> Iterator[bytes]:
    """The pieces without their first ``n`` bytes."""
    for chunk in chunks:
        if n == 0:
            yield chunk
        elif len(chunk) <= n:
            n -= len(chunk)
        else:
            yield chunk[n:]
            n = 0


@dataclass(frozen=True, slots=True)
class _BlobUpload:
    """What one push_blob sends, for each attempt."""

    digest: str
    size: int
    open_stream: Callable[[], Iterable[bytes]]
    scopes: tuple[str, ...]
    on_bytes: Callable[[int], None] | None


class _HashingReader:
    """Pulls exact byte counts out of an iterable of arbitrary-sized chunks, hashing all of it."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""
        self._hasher = hashlib.sha256()
        self.consumed = 0

    def take(self, n: int) -> Iterator[bytes]:
        remaining = n
        while remaining > 0:
            if not self._pending:
                nxt = next(self._chunks, None)
                if nxt is None:
                    raise _StreamLengthMismatch(self.consumed)
                self._pending = nxt
                continue  # an empty piece is not the end of the stream
            piece, self._pending = self._pending[:remaining], self._pending[remaining:]
            self._hasher.update(piece)
            self.consumed += len(piece)
            remaining -= len(piece)
            yield piece

    def skip(self, n: int) -> None:
        for _ in self.take(n):
            pass

    def at_end(self) -> bool:
        while not self._pending:
            nxt = next(self._chunks, None)
            if nxt is None:
                return True
            self._pending = nxt
        return False

    @property
    def digest(self) -> str:
        return "sha256:" + self._hasher.hexdigest()


class _SizedBody:
    """An iterable request body with a known length, so requests sends Content-Length
    instead of chunked transfer encoding (registries reject chunked blob bodies)."""

    def __init__(self, chunks: Iterable[bytes], length: int) -> None:
        self._chunks = chunks
        self._length = length

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._chunks)


# The transfer whose request this thread is sending, so the connection that carries it can
# register itself (requests gives no other way to reach the socket of a request in flight).
_current = threading.local()
_CANCEL_POLL_SECONDS = 0.05


def _shut_down(connection: urllib3.connection.HTTPConnection) -> None:
    sock = connection.sock
    if sock is None:
        return
    with contextlib.suppress(OSError):
        # The plain socket's shutdown: SSLSocket.shutdown would also drop its TLS state
        # under the feet of the thread blocked in it. Unlike close(), shutdown wakes a
        # thread blocked in recv or send on Linux.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Transfer:
    """One public operation's hold on the connection it is using, so another thread (the
    cancel watcher, or abort()) can break a read or write blocked on a stalled peer at once
    instead of after the read timeout."""

    def __init__(self, cancel: threading.Event | None) -> None:
        self.cancel = cancel
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._connection: urllib3.connection.HTTPConnection | None = None

    @property
    def cancelled(self) -> bool:
        return self.stopped.is_set() or (self.cancel is not None and self.cancel.is_set())

    def wait(self, seconds: float) -> bool:
        """Sleep, waking early when cancelled; True when cancelled."""
        return self.stopped.wait(seconds) or self.cancelled

    def attach(self, connection: urllib3.connection.HTTPConnection) -> None:
        with self._lock:
            self._connection = connection
        if self.stopped.is_set():
            _shut_down(connection)  # stopped before this request reached its socket

    def detach(self) -> None:
        with self._lock:
            self._connection = None

    def abort(self) -> None:
        self.stopped.set()
        with self._lock:
            connection = self._connection
        if connection is not None:
            _shut_down(connection)


class _CancelWatcher:
    """Aborts the transfers whose cancel event gets set. It polls, because a thread cannot
    wait on several Events at once, and it runs only while a transfer has a cancel event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._transfers: set[_Transfer] = set()
        self._running = False
        self.aborted = False

    def add(self, transfer: _Transfer) -> None:
        with self._lock:
            self._transfers.add(transfer)
            aborted = self.aborted
            start = transfer.cancel is not None and not self._running
            self._running = self._running or start
        if aborted:
            transfer.abort()
        if start:
            threading.Thread(target=self._run, name="registry-cancel", daemon=True).start()

    def remove(self, transfer: _Transfer) -> None:
        with self._lock:
            self._transfers.discard(transfer)

    def abort_all(self) -> None:
        with self._lock:
            self.aborted = True
            transfers = list(self._transfers)
        for transfer in transfers:
            transfer.abort()

    def _run(self) -> None:
        while True:
            with self._lock:
                watched = [t for t in self._transfers if t.cancel is not None]
                if not watched:
                    self._running = False
                    return
            for transfer in watched:
                wanted = transfer.cancel is not None and transfer.cancel.is_set()
                if wanted and not transfer.stopped.is_set():
                    transfer.abort()
            time.sleep(_CANCEL_POLL_SECONDS)


def _attach_to_current_transfer(connection: urllib3.connection.HTTPConnection) -> None:
    transfer: _Transfer | None = getattr(_current, "transfer", None)
    if transfer is not None:
        transfer.attach(connection)


class _TrackedHTTPConnection(urllib3.connection.HTTPConnection):
    """A connection that registers with the transfer using it, so a cancel can shut it."""

    def connect(self) -> None:
        super().connect()
        _attach_to_current_transfer(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach_to_current_transfer(self)
        super().request(*args, **kwargs)


class _TrackedHTTPSConnection(_TrackedHTTPConnection, urllib3.connection.HTTPSConnection):
    """The same for TLS (the MRO puts HTTPSConnection's connect under the tracking one)."""


class _TrackedHTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


_TRACKED_POOLS = {"http": _TrackedHTTPPool, "https": _TrackedHTTPSPool}


class _TrackingAdapter(requests.adapters.HTTPAdapter):
    """An adapter whose connections tell the current transfer which socket they use."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _TRACKED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.poolmanager.ProxyManager:  # not SOCKS: own pool classes
            manager.pool_classes_by_scheme = _TRACKED_POOLS
        return manager


def _new_session(pool_size: int) -> requests.Session:
    session = requests.Session()
    # Retries are ours (they must resume, re-authenticate and re-open streams); urllib3's
    # would resend blindly.
    adapter = _TrackingAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "cogw"
    return session


class RegistryClient:
    """One registry host. Thread-safe: parallel layer transfers share its connection pool
    and its token cache."""

    def __init__(
        self,
        registry: str,
        options: RegistryOptions = RegistryOptions(),
        credentials: CredentialSource | None = None,
    ) -> None:
        self.registry = registry
        self.options = options
        api_host = _DOCKER_HUB_API if registry in ("docker.io", "index.docker.io") else registry
        self._api_host = api_host
        # Loopback and insecure hosts may speak either scheme; probed on first use.
        https_only = registry_scheme(registry, options.insecure_hosts) == "https"
        self._base_url: str | None = f"https://{api_host}" if https_only else None
        self._credential_source = credentials
        self._credentials: Credentials | None = None
        self._credentials_loaded = False
        self._session = _new_session(options.pool_size)
        self._lock = threading.Lock()
        self._challenge: Challenge | None = None
        self._authorizations: dict[tuple[str, ...], str] = {}
        # With --ca-bundle the bundle is passed on every request, so REQUESTS_CA_BUNDLE
        # cannot replace it; without it, requests' default (system CAs or that variable).
        self._verify: bool | str = options.ca_bundle if options.ca_bundle else True
        self._timeout = (options.connect_timeout, options.read_timeout)
        self._watcher = _CancelWatcher()

    def close(self) -> None:
        self._session.close()

    def abort(self) -> None:
        """Stop every operation in flight at once, from any thread (Ctrl-C): a read or
        write blocked on the network fails now instead of at the read timeout, and the
        operation raises RegistryCancelled; so does every later one on this client."""
        self._watcher.abort_all()

    @contextlib.contextmanager
    def _transfer(self, cancel: threading.Event | None = None) -> Iterator[_Transfer]:
        """One public operation: abort() and ``cancel`` reach the connection it uses."""
        transfer = _Transfer(cancel)
        self._watcher.add(transfer)
        try:
            yield transfer
        finally:
            transfer.detach()
            self._watcher.remove(transfer)

    @property
    def base_url(self) -> str:
        """``scheme://host``. For a host allowed plain HTTP, HTTPS is tried first (as Docker
        does) and HTTP is used only when the server does not speak TLS at all; a TLS server
        with an untrusted certificate is an error, never a reason to drop to HTTP."""
        if self._base_url is None:
            scheme = self._probe_scheme()
            with self._lock:
                self._base_url = f"{scheme}://{self._api_host}"
        return self._base_url

    def _probe_scheme(self) -> str:
        try:
            self._session.get(
                f"https://{self._api_host}/v2/",
                timeout=self._timeout,
                verify=self._verify,
                allow_redirects=False,
            ).close()
        except requests.exceptions.SSLError as err:
            if _is_certificate_problem(err):
                raise self._tls_error(err) from None
            return "http"  # the server answered, but not with TLS
        except requests.exceptions.RequestException:
            return "http"  # unreachable over HTTPS; let the real request report the failure
        return "https"

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- public operations -------------------------------------------------------------

    def ping(self) -> None:
        """Check the registry answers the v2 API and accepts our credentials."""
        with self._transfer() as transfer:
            self._request("GET", f"{self.base_url}/v2/", (), transfer, ok={200}).close()

    def head_manifest(self, repo: str, ref: str) -> str | None:
        """The manifest's digest, or None when the registry does not have it."""
        _require_reference(ref)
        url = f"{self.base_url}/v2/{repo}/manifests/{ref}"
        headers = {"Accept": ACCEPT_MANIFESTS}
        with self._transfer() as transfer:
            scopes = (pull_scope(repo),)
            response = self._request("HEAD", url, scopes, transfer, ok={200, 404}, headers=headers)
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
        with self._transfer() as transfer:
            response = self._request(
                "GET",
                url,
                (pull_scope(repo),),
                transfer,
                ok={200},
                headers={"Accept": ACCEPT_MANIFESTS},
                stream=True,
            )
            with response:
                raw = self._read_limited(response, url, transfer)
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
        return Manifest(raw, media_type or _media_type_in(raw), digest)

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
        with self._transfer() as transfer:
            response = self._request(
                "PUT",
                url,
                (push_scope(repo),),
                transfer,
                ok={200, 201},
                headers={"Content-Type": media_type},
                body=raw,
            )
            response.close()
        claimed = response.headers.get("Docker-Content-Digest", "")
        if claimed and claimed != digest:
            raise RegistryDigestMismatch(
                f"registry {self.registry} stored manifest {repo}:{ref} as {claimed}, "
                f"but its bytes have digest {digest}"
            )
        return digest

    def blob_exists(self, repo: str, digest: str) -> bool:
        with self._transfer() as transfer:
            return self._blob_exists(repo, digest, (pull_scope(repo),), transfer)

    def _blob_exists(
        self, repo: str, digest: str, scopes: tuple[str, ...], transfer: _Transfer
    ) -> bool:
        _require_digest(digest)
        url = f"{self.base_url}/v2/{repo}/blobs/{digest}"
        response = self._request("HEAD", url, scopes, transfer, ok={200, 404})
        response.close()
        return response.status_code == 200

    # ---- blob download -----------------------------------------------------------------

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
        with self._transfer(cancel) as transfer:
            url = f"{self.base_url}/v2/{repo}/blobs/{digest}"
            sink = _BlobSink(digest, expected_size, on_bytes)
            try:
                yield from self._download(url, repo, sink, chunk_size, transfer)
                self._check_cancel(transfer)  # an aborted close-delimited body looks complete
                sink.check()
            finally:
                sink.close()  # stops the hashing thread if the consumer gave up early

    def _download(
        self, url: str, repo: str, sink: _BlobSink, chunk_size: int, transfer: _Transfer
    ) -> Iterator[bytes]:
        failures, total = 0, sink.expected_size
        while True:
            self._check_cancel(transfer)
            response, skip = self._open_blob(url, repo, sink.received, transfer)
            total = total if total is not None else _body_length(response)
            before = sink.received
            try:
                with response:
                    for chunk in _drop_first(_body_chunks(response, chunk_size), skip):
                        self._check_cancel(transfer)
                        yield sink.take(chunk)
                return
            except _BodyBroken as err:
                if total is not None and sink.received == total:
                    return  # every byte arrived; only the connection's end was lost
                failures = 0 if sink.received > before else failures + 1
                self._pause_or_raise(f"blob {sink.digest}", failures, str(err), None, transfer)
            finally:
                transfer.detach()

    def _open_blob(
        self, url: str, repo: str, offset: int, transfer: _Transfer
    ) -> tuple[requests.Response, int]:
        """The response to read from and how many of its first bytes were delivered already."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = self._request(
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
        start = re.match(r"bytes\s+(\d+)-", response.headers.get("Content-Range", ""))
        if start is None or int(start.group(1)) != offset:
            response.close()
            raise RegistryError(
                f"{_display(url)}: asked to resume at byte {offset}, the registry answered "
                f"Content-Range {response.headers.get('Content-Range', '(none)')!r}"
            )
        return response, 0

    # ---- blob upload -------------------------------------------------------------------

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
    ) -> PushResult:
        """Make sure the blob is in ``repo``: already there, mounted from another repository
        of the same registry, or uploaded from ``open_stream()`` (called again on each
        retry). The streamed bytes are hashed and the upload is cancelled, never committed,
        when they do not match ``digest`` and ``size``. ``on_bytes`` counts bytes sent,
        including bytes re-sent after a failure. Setting ``cancel`` stops the upload
        promptly, even mid-write, with RegistryCancelled."""
        _require_digest(digest)
        sources = [s for s in mount_from if s != repo]
        scopes = (push_scope(repo), *(pull_scope(s) for s in sources))
        with self._transfer(cancel) as transfer:
            if self._blob_exists(repo, digest, scopes, transfer):
                return "exists"
            for source in sources:
                if self._try_mount(repo, digest, source, scopes, transfer):
                    return "mounted"
            blob = _BlobUpload(digest, size, open_stream, scopes, on_bytes)
            self._upload_with_restarts(repo, blob, transfer)
            return "uploaded"

    def _upload_with_restarts(self, repo: str, blob: _BlobUpload, transfer: _Transfer) -> None:
        failures = 0
        while True:
            self._check_cancel(transfer)
            try:
                self._upload(repo, blob, transfer)
                return
            except _RETRY_CANDIDATES as err:
                if not _worth_restarting(err):
                    raise
                failures += 1
                what = f"upload of {blob.digest}"
                self._pause_or_raise(what, failures, str(err), None, transfer)
                # A commit whose answer was lost may have landed after all.
                if self._blob_exists(repo, blob.digest, blob.scopes, transfer):
                    return

    def _try_mount(
        self, repo: str, digest: str, source: str, scopes: tuple[str, ...], transfer: _Transfer
    ) -> bool:
        url = _with_query(
            f"{self.base_url}/v2/{repo}/blobs/uploads/", {"mount": digest, "from": source}
        )
        response = self._request("POST", url, scopes, transfer, ok={201, 202})
        response.close()
        if response.status_code == 201:
            return True
        # 202: the registry could not mount and opened an ordinary upload; drop it.
        self._cancel_upload(self._location(response, url), scopes, transfer)
        return False

    def _upload(self, repo: str, blob: _BlobUpload, transfer: _Transfer) -> None:
        location, chunk = self._start_upload(repo, blob.scopes, transfer)
        upload = _ChunkedUpload(self, location, blob.scopes, chunk, transfer, blob.on_bytes)
        try:
            if blob.size <= self.options.monolithic_limit:
                self._upload_monolithic(location, blob, transfer)
            else:
                upload.run(blob.digest, blob.size, blob.open_stream)
        except BaseException:
            self._cancel_upload(upload.location, blob.scopes, transfer)
            raise

    def _start_upload(
        self, repo: str, scopes: tuple[str, ...], transfer: _Transfer
    ) -> tuple[str, int]:
        url = f"{self.base_url}/v2/{repo}/blobs/uploads/"
        response = self._request("POST", url, scopes, transfer, ok={202})
        response.close()
        return self._location(response, url), self._chunk_size(response)

    def _chunk_size(self, response: requests.Response) -> int:
        chunk = self.options.chunk_size
        maximum = _positive_int(response.headers.get("OCI-Chunk-Max-Length"))
        minimum = _positive_int(response.headers.get("OCI-Chunk-Min-Length"))
        if maximum is not None:
            chunk = min(chunk, maximum)
        if minimum is not None:
            chunk = max(chunk, minimum)
        return chunk

    def _upload_monolithic(self, location: str, blob: _BlobUpload, transfer: _Transfer) -> None:
        # Small blobs are read whole (bounded by the limit) so they can be verified before
        # a single PUT commits them.
        reader = _HashingReader(blob.open_stream())
        try:
            data = b"".join(reader.take(blob.size))
        except _StreamLengthMismatch as err:
            raise _stream_mismatch(blob.digest, blob.size, err.consumed) from None
        _check_upload(reader, blob.digest, blob.size)
        url = _with_query(location, {"digest": blob.digest})
        headers = {"Content-Type": "application/octet-stream"}
        self._request(
            "PUT", url, blob.scopes, transfer, ok={201}, headers=headers, body=data
        ).close()
        if blob.on_bytes is not None:
            blob.on_bytes(blob.size)

    def _cancel_upload(self, location: str, scopes: tuple[str, ...], transfer: _Transfer) -> None:
        # Best effort: registries purge abandoned uploads anyway. After a cancel it is not
        # even tried: the user asked to stop now, and the registry may be the stalled party.
        if transfer.cancelled:
            return
        with contextlib.suppress(Exception):
            self._exchange("DELETE", location, scopes, transfer).close()

    def _location(self, response: requests.Response, url: str) -> str:
        location = response.headers.get("Location")
        if not location:
            raise RegistryError(f"{_display(url)}: the registry sent no upload Location")
        return urljoin(url, location)

    # ---- one request: auth, redirects, retries -----------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        scopes: tuple[str, ...],
        transfer: _Transfer,
        *,
        ok: set[int],
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send until a status in ``ok`` arrives, retrying transient failures with backoff;
        any other status becomes a RegistryError."""
        failures = 0
        while True:
            self._check_cancel(transfer)
            retry_after = None
            try:
                response = self._exchange(method, url, scopes, transfer, headers, body, stream)
            except _TRANSIENT_ERRORS as err:
                reason = transport_reason(err)
            else:
                if response.status_code in ok:
                    return response
                if response.status_code not in RETRYABLE_STATUSES:
                    raise self._status_error(method, url, response)
                reason, retry_after = f"HTTP {response.status_code}", _retry_after_seconds(response)
                if failures >= self.options.max_retries:
                    raise self._status_error(method, url, response)
                response.close()
            failures += 1
            what = f"{method} {_display(url)}"
            self._pause_or_raise(what, failures, reason, retry_after, transfer)

    def _exchange(
        self,
        method: str,
        url: str,
        scopes: tuple[str, ...],
        transfer: _Transfer,
        headers: dict[str, str] | None = None,
        body: bytes | _SizedBody | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """One exchange on behalf of ``transfer``: its connections (token server included)
        are the ones a cancel breaks, and a failure caused by that break is
        RegistryCancelled, never a network error to retry."""
        previous = getattr(_current, "transfer", None)
        _current.transfer = transfer
        try:
            response = self._authorized_exchange(method, url, scopes, headers, body, stream)
        except _ABORT_SYMPTOMS:
            if transfer.cancelled:
                raise RegistryCancelled(f"{method} {_display(url)}: cancelled") from None
            raise
        finally:
            _current.transfer = previous
        if not stream:
            transfer.detach()  # the connection went back to the pool with the whole body
        return response

    def _authorized_exchange(
        self,
        method: str,
        url: str,
        scopes: tuple[str, ...],
        headers: dict[str, str] | None,
        body: bytes | _SizedBody | None,
        stream: bool,
    ) -> requests.Response:
        """One authenticated exchange: on 401, re-authenticate once from the challenge and,
        when the body can be sent again, resend; a streamed body raises _Interrupted."""
        response = self._send(method, url, scopes, headers, body, stream)
        if response.status_code != 401:
            return response
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        response.close()
        if challenge is None:
            raise self._auth_failure("the registry sent no WWW-Authenticate challenge")
        self._authenticate(challenge, scopes)
        if isinstance(body, _SizedBody):
            raise _Interrupted("authorization expired during a streamed upload")
        response = self._send(method, url, scopes, headers, body, stream)
        if response.status_code == 401:
            response.close()
            raise self._auth_failure("the registry refused the credentials")
        return response

    def _send(
        self,
        method: str,
        url: str,
        scopes: tuple[str, ...],
        headers: dict[str, str] | None,
        body: bytes | _SizedBody | None,
        stream: bool,
    ) -> requests.Response:
        """One request, following redirects by hand: the Authorization header goes only to
        the registry's own host, never to blob storage elsewhere."""
        authorization = self._authorization(scopes)
        for _ in range(MAX_REDIRECTS + 1):
            sent = dict(headers or {})
            if authorization and _host_of(url) == self._api_host.lower():
                sent["Authorization"] = authorization
            response = self._raw_send(method, url, sent, body, stream)
            location = response.headers.get("Location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                return response
            if method not in ("GET", "HEAD"):
                return response
            response.close()
            url = urljoin(url, location)
        raise RegistryError(f"{method} {_display(url)}: more than {MAX_REDIRECTS} redirects")

    def _raw_send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | _SizedBody | None,
        stream: bool,
    ) -> requests.Response:
        try:
            return self._session.request(
                method,
                url,
                headers=headers,
                data=body,
                stream=stream,
                allow_redirects=False,
                timeout=self._timeout,
                verify=self._verify,
            )
        except requests.exceptions.SSLError as err:
            raise self._tls_error(err) from None

    def _tls_error(self, err: requests.exceptions.SSLError) -> RegistryTLSError:
        reason = (
            "certificate verification failed"
            if "CERTIFICATE_VERIFY" in str(err)
            else ("TLS handshake failed")
        )
        return RegistryTLSError(
            f"cannot connect to {self.registry} over HTTPS: {reason}. If the registry uses a "
            "private CA, pass its certificate as a CA bundle (--ca-bundle FILE, or "
            "COGW_CA_BUNDLE=FILE)"
        )

    def _status_error(self, method: str, url: str, response: requests.Response) -> RegistryError:
        code, message = _oci_error(response)
        response.close()
        status = response.status_code
        text = f"{method} {_display(url)}: HTTP {status}"
        if code:
            text += f" {code}"
        if message:
            text += f": {message}"
        if status in (401, 403):
            return RegistryAuthError(
                f"{text} (access to {self.registry} denied; check the credentials and that "
                "they may use this repository)",
                status=status,
                code=code,
            )
        if status == 404:
            return RegistryNotFound(text, status=status, code=code)
        return RegistryError(text, status=status, code=code)

    def _pause_or_raise(
        self,
        what: str,
        failures: int,
        reason: str,
        retry_after: float | None,
        transfer: _Transfer,
    ) -> None:
        """Wait before the next attempt, or give up when the retry budget is spent; a
        cancelled transfer is never retried."""
        self._check_cancel(transfer)
        attempts = self.options.max_retries + 1
        if failures >= attempts:
            raise RegistryError(f"{what}: giving up after {failures} attempts: {reason}")
        if retry_after is not None:
            delay = min(retry_after, self.options.retry_after_cap)
        else:
            nominal = self.options.backoff_base * 2 ** (failures - 1)
            delay = min(nominal * (1 + 0.25 * random.random()), MAX_BACKOFF_SECONDS)
        if self.options.on_retry is not None:
            self.options.on_retry(RetryNotice(what, failures, attempts, delay, reason))
        if transfer.wait(delay):
            raise RegistryCancelled(f"{what}: cancelled")

    @staticmethod
    def _check_cancel(transfer: _Transfer) -> None:
        if transfer.cancelled:
            raise RegistryCancelled("cancelled")

    def _read_limited(self, response: requests.Response, url: str, transfer: _Transfer) -> bytes:
        declared = _positive_int(response.headers.get("Content-Length"))
        if declared is not None and declared > MAX_MANIFEST_BYTES:
            raise RegistryError(f"{_display(url)}: manifest of {declared} bytes is too large")
        parts, total = [], 0
        try:
            for chunk in response.iter_content(64 * 1024):
                total += len(chunk)
                if total > MAX_MANIFEST_BYTES:
                    raise RegistryError(
                        f"{_display(url)}: manifest larger than {MAX_MANIFEST_BYTES}"
                    )
                parts.append(chunk)
        except _BODY_ERRORS as err:
            self._check_cancel(transfer)
            raise RegistryError(
                f"GET {_display(url)}: the manifest broke off: {transport_reason(err)}"
            ) from err
        return b"".join(parts)

    # ---- authentication ------------------------------------------------------------------

    def _authorization(self, scopes: tuple[str, ...]) -> str | None:
        """The Authorization value for these scopes: cached, or fetched up front once the
        registry's challenge is known (saves a 401 round trip per new repository)."""
        with self._lock:
            cached = self._authorizations.get(scopes)
            challenge = self._challenge
        if cached is not None or challenge is None:
            return cached
        return self._authenticate(challenge, scopes)

    def _authenticate(self, challenge: Challenge, scopes: tuple[str, ...]) -> str:
        if challenge.scheme == "basic":
            value = self._basic_authorization()
        elif challenge.scheme == "bearer":
            value = "Bearer " + self._fetch_token(challenge, scopes)
        else:
            raise self._auth_failure(f"unsupported auth scheme {challenge.scheme!r}")
        with self._lock:
            self._challenge = challenge
            self._authorizations[scopes] = value
        return value

    def _get_credentials(self) -> Credentials | None:
        with self._lock:
            if not self._credentials_loaded and self._credential_source is not None:
                self._credentials = self._credential_source.get(self.registry)
            self._credentials_loaded = True
            return self._credentials

    def _basic_authorization(self) -> str:
        credentials = self._get_credentials()
        if credentials is None or credentials.is_identity_token:
            raise self._auth_failure("it requires a username and password")
        pair = f"{credentials.username}:{credentials.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def _fetch_token(self, challenge: Challenge, scopes: tuple[str, ...]) -> str:
        realm = challenge.params.get("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise self._auth_failure(f"the token realm {realm!r} is not a URL")
        wanted = [*scopes, *challenge.params.get("scope", "").split()]
        scope_list = list(dict.fromkeys(s for s in wanted if s))
        credentials = self._get_credentials()
        response = self._token_response(
            realm, challenge.params.get("service"), scope_list, credentials
        )
        with response:
            if response.status_code in (401, 403):
                who = "anonymous access" if credentials is None else "the credentials"
                raise self._auth_failure(f"the token server refused {who}")
            if response.status_code != 200:
                raise RegistryAuthError(
                    f"token server {_display(realm)} answered HTTP {response.status_code}",
                    status=response.status_code,
                )
            return _token_from(response, realm)

    def _token_response(
        self,
        realm: str,
        service: str | None,
        scopes: list[str],
        credentials: Credentials | None,
    ) -> requests.Response:
        params: list[tuple[str, str]] = [("service", service)] if service else []
        params += [("scope", s) for s in scopes]
        kwargs = {"timeout": self._timeout, "verify": self._verify, "allow_redirects": True}
        try:
            if credentials is not None and credentials.is_identity_token:
                form = {
                    "grant_type": "refresh_token",
                    "refresh_token": credentials.password,
                    "client_id": "cogw",
                    "service": service or "",
                    "scope": " ".join(scopes),
                }
                return self._session.post(realm, data=form, **kwargs)  # type: ignore[arg-type]
            auth = (credentials.username, credentials.password) if credentials else None
            return self._session.get(realm, params=params, auth=auth, **kwargs)  # type: ignore[arg-type]
        except requests.exceptions.SSLError as err:
            raise self._tls_error(err) from None

    def _auth_failure(self, why: str) -> RegistryAuthError:
        credentials = self._credentials
        who = (
            f"as {credentials.username!r}"
            if credentials and not credentials.is_identity_token
            else "anonymously"
        )
        return RegistryAuthError(
            f"authentication to {self.registry} failed ({who}): {why}. Run 'docker login "
            f"{self.registry}' or set COGW_REGISTRY_USERNAME and COGW_REGISTRY_PASSWORD",
            status=401,
        )


def _token_from(response: requests.Response, realm: str) -> str:
    try:
        answer = response.json()
    except ValueError:
        answer = None
    token = answer.get("token") or answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise RegistryAuthError(f"token server {_display(realm)} sent no token")
    return token


class _ChunkedUpload:
    """A PATCH-per-chunk upload that streams (no chunk buffers) and, when a chunk fails,
    asks the registry how much it kept and carries on from there."""

    def __init__(
        self,
        client: RegistryClient,
        location: str,
        scopes: tuple[str, ...],
        chunk_size: int,
        transfer: _Transfer,
        on_bytes: Callable[[int], None] | None,
    ) -> None:
        self.client = client
        self.location = location
        self.scopes = scopes
        self.chunk_size = chunk_size
        self.transfer = transfer
        self.on_bytes = on_bytes

    def run(self, digest: str, size: int, open_stream: Callable[[], Iterable[bytes]]) -> None:
        reader = _HashingReader(open_stream())
        offset, failures = 0, 0
        while offset < size:
            n = min(self.chunk_size, size - offset)
            try:
                self._patch(reader, offset, n)
                offset += n
                failures = 0
            except _StreamLengthMismatch as err:
                raise _stream_mismatch(digest, size, err.consumed) from None
            except _RETRY_CANDIDATES as err:
                if not _worth_resuming(err):
                    raise
                failures += 1
                self.client._pause_or_raise(
                    f"chunk upload of {digest}", failures, str(err), None, self.transfer
                )
                offset = self._server_offset()
                reader = _HashingReader(open_stream())
                reader.skip(offset)  # hashed again, not sent again
        _check_upload(reader, digest, size)
        self._commit(digest)

    def _patch(self, reader: _HashingReader, offset: int, n: int) -> None:
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + n - 1}",  # no "bytes " prefix: distribution
        }
        body = _SizedBody(self._counted(reader.take(n)), n)
        response = self.client._exchange(
            "PATCH", self.location, self.scopes, self.transfer, headers, body
        )
        with response:
            if response.status_code not in (201, 202, 204):
                raise self.client._status_error("PATCH", self.location, response)
            expected_end = offset + n - 1
            if _range_end(response.headers.get("Range")) not in (None, expected_end):
                raise _Interrupted(
                    f"registry holds {response.headers['Range']}, not 0-{expected_end}"
                )
            if response.headers.get("Location"):
                self.location = urljoin(self.location, response.headers["Location"])

    def _counted(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            RegistryClient._check_cancel(self.transfer)
            yield piece
            if self.on_bytes is not None:
                self.on_bytes(len(piece))

    def _server_offset(self) -> int:
        """How many bytes the registry kept (GET on the upload URL answers ``Range: 0-<end>``)."""
        response = self.client._request(
            "GET", self.location, self.scopes, self.transfer, ok={204, 200}
        )
        response.close()
        if response.headers.get("Location"):
            self.location = urljoin(self.location, response.headers["Location"])
        end = _range_end(response.headers.get("Range"))
        # "0-0" means both "empty" and "one byte"; restarting at 0 is the safe reading.
        return 0 if end is None or end == 0 else end + 1

    def _commit(self, digest: str) -> None:
        url = _with_query(self.location, {"digest": digest})
        headers = {"Content-Type": "application/octet-stream"}
        self.client._request(
            "PUT", url, self.scopes, self.transfer, ok={201}, headers=headers, body=b""
        ).close()


def _is_certificate_problem(err: requests.exceptions.SSLError) -> bool:
    text = str(err)
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower()


def _range_end(value: str | None) -> int | None:
    match = re.fullmatch(r"\s*(?:bytes=)?0-(\d+)\s*", value or "")
    return int(match.group(1)) if match else None


def _worth_resuming(err: BaseException) -> bool:
    """Chunk failures a resume from the registry's offset may fix."""
    if isinstance(err, RegistryAuthError | RegistryCancelled | RegistryDigestMismatch):
        return False
    if isinstance(err, RegistryError):
        return err.status in RETRYABLE_STATUSES
    return True


def _worth_restarting(err: BaseException) -> bool:
    """Upload failures a fresh upload session may fix: transient ones, and a session the
    registry forgot or rejected (distribution kills a session after a bad chunk)."""
    if isinstance(err, RegistryAuthError | RegistryCancelled | RegistryDigestMismatch):
        return False
    if isinstance(err, RegistryError):
        return err.status in RETRYABLE_STATUSES or err.status in (400, 404, 416)
    return True


def _positive_int(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    number = int(value)
    return number if number > 0 else None


def _body_length(response: requests.Response) -> int | None:
    if response.status_code != 200:
        return None
    return _positive_int(response.headers.get("Content-Length"))


def _check_not_oversized(digest: str, received: int, expected_size: int | None) -> None:
    if expected_size is not None and received > expected_size:
        raise RegistryDigestMismatch(
            f"blob {digest} is larger than the expected {expected_size} bytes"
        )


def _check_blob(digest: str, actual: str, size: int, expected_size: int | None) -> None:
    if expected_size is not None and size != expected_size:
        raise RegistryDigestMismatch(f"blob {digest} has {size} bytes, expected {expected_size}")
    if actual != digest:
        raise RegistryDigestMismatch(f"blob {digest} arrived with digest {actual}")


def _stream_mismatch(digest: str, size: int, consumed: int) -> RegistryDigestMismatch:
    return RegistryDigestMismatch(
        f"upload of {digest} cancelled: the content ended after {consumed} bytes, expected {size}"
    )


def _check_upload(reader: _HashingReader, digest: str, size: int) -> None:
    if not reader.at_end():
        raise RegistryDigestMismatch(
            f"upload of {digest} cancelled: the content is longer than {size} bytes"
        )
    if reader.digest != digest:
        raise RegistryDigestMismatch(
            f"upload of {digest} cancelled: the content has digest {reader.digest}"
        )


def _media_type_in(raw: bytes) -> str:
    try:
        value = json.loads(raw).get("mediaType")
    except Exception:  # not JSON, or not an object: no media type to be found
        return ""
    return value if isinstance(value, str) else ""
