"""An OCI distribution client: manifests and blobs over HTTP(S), with auth, retries and resume.

What it knows: the OCI distribution API as CNCF distribution, Docker Hub and the cloud
registries speak it — Basic and Bearer (token server) auth from a ``WWW-Authenticate``
challenge, blob GETs resumed with ``Range`` after a reset or a stall, monolithic and
chunked uploads, cross-repository mounts, manifests by tag or digest. Every byte it moves is
hashed: a blob or manifest whose digest differs from the one asked for is an error, and an
upload whose stream does not match its digest is cancelled before the commit.

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
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import requests.adapters
import urllib3.exceptions

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
    buffer = bytearray()
    try:
        while piece := response.raw.read1(chunk_size - len(buffer), decode_content=False):
            buffer += piece
            if len(buffer) >= chunk_size:
                yield bytes(buffer)
                buffer.clear()
    except _BODY_ERRORS:
        if buffer:
            yield bytes(buffer)
        raise
    if buffer:
        yield bytes(buffer)


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


def _new_session(pool_size: int) -> requests.Session:
    session = requests.Session()
    # Retries are ours (they must resume, re-authenticate and re-open streams); urllib3's
    # would resend blindly.
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=4, pool_maxsize=pool_size, max_retries=0
    )
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

    def close(self) -> None:
        self._session.close()

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
        self._request("GET", f"{self.base_url}/v2/", (), ok={200}).close()

    def head_manifest(self, repo: str, ref: str) -> str | None:
        """The manifest's digest, or None when the registry does not have it."""
        _require_reference(ref)
        url = f"{self.base_url}/v2/{repo}/manifests/{ref}"
        headers = {"Accept": ACCEPT_MANIFESTS}
        response = self._request("HEAD", url, (pull_scope(repo),), ok={200, 404}, headers=headers)
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
        response = self._request(
            "GET",
            url,
            (pull_scope(repo),),
            ok={200},
            headers={"Accept": ACCEPT_MANIFESTS},
            stream=True,
        )
        with response:
            raw = self._read_limited(response, url)
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
        response = self._request(
            "PUT",
            url,
            (push_scope(repo),),
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
        return self._blob_exists(repo, digest, (pull_scope(repo),))

    def _blob_exists(self, repo: str, digest: str, scopes: tuple[str, ...]) -> bool:
        _require_digest(digest)
        url = f"{self.base_url}/v2/{repo}/blobs/{digest}"
        response = self._request("HEAD", url, scopes, ok={200, 404})
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
        end to get that guarantee (and RegistryDigestMismatch if it fails)."""
        _require_digest(digest)
        url = f"{self.base_url}/v2/{repo}/blobs/{digest}"
        hasher = hashlib.sha256()
        offset, failures = 0, 0
        total = expected_size
        while True:
            self._check_cancel(cancel)
            response = self._open_blob(url, repo, offset, cancel)
            total = total if total is not None else _body_length(response)
            before = offset
            try:
                with response:
                    for chunk in _body_chunks(response, chunk_size):
                        self._check_cancel(cancel)
                        hasher.update(chunk)
                        offset += len(chunk)
                        _check_not_oversized(digest, offset, expected_size)
                        if on_bytes is not None:
                            on_bytes(len(chunk))
                        yield chunk
                break
            except _BodyBroken as err:
                if total is not None and offset == total:
                    break  # every byte arrived; only the connection's end was lost
                failures = 0 if offset > before else failures + 1
                self._pause_or_raise(f"blob {digest}", failures, str(err), None, cancel)
        _check_blob(digest, "sha256:" + hasher.hexdigest(), offset, expected_size)

    def _open_blob(
        self, url: str, repo: str, offset: int, cancel: threading.Event | None
    ) -> requests.Response:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = self._request(
            "GET",
            url,
            (pull_scope(repo),),
            ok={200, 206},
            headers=headers,
            stream=True,
            cancel=cancel,
        )
        if offset == 0:
            return response
        if response.status_code == 200:
            response.close()
            raise RegistryError(
                f"{_display(url)}: the registry ignored a Range request, so the download "
                f"cannot resume after {offset} bytes"
            )
        start = re.match(r"bytes\s+(\d+)-", response.headers.get("Content-Range", ""))
        if start is None or int(start.group(1)) != offset:
            response.close()
            raise RegistryError(
                f"{_display(url)}: asked to resume at byte {offset}, the registry answered "
                f"Content-Range {response.headers.get('Content-Range', '(none)')!r}"
            )
        return response

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
        including bytes re-sent after a failure."""
        _require_digest(digest)
        sources = [s for s in mount_from if s != repo]
        scopes = (push_scope(repo), *(pull_scope(s) for s in sources))
        if self._blob_exists(repo, digest, scopes):
            return "exists"
        for source in sources:
            if self._try_mount(repo, digest, source, scopes):
                return "mounted"
        failures = 0
        while True:
            self._check_cancel(cancel)
            try:
                self._upload(repo, digest, size, open_stream, scopes, cancel, on_bytes)
                return "uploaded"
            except _RETRY_CANDIDATES as err:
                if not _worth_restarting(err):
                    raise
                failures += 1
                self._pause_or_raise(f"upload of {digest}", failures, str(err), None, cancel)
                # A commit whose answer was lost may have landed after all.
                if self._blob_exists(repo, digest, scopes):
                    return "uploaded"

    def _try_mount(self, repo: str, digest: str, source: str, scopes: tuple[str, ...]) -> bool:
        url = _with_query(
            f"{self.base_url}/v2/{repo}/blobs/uploads/", {"mount": digest, "from": source}
        )
        response = self._request("POST", url, scopes, ok={201, 202})
        response.close()
        if response.status_code == 201:
            return True
        # 202: the registry could not mount and opened an ordinary upload; drop it.
        self._cancel_upload(self._location(response, url), scopes)
        return False

    def _upload(
        self,
        repo: str,
        digest: str,
        size: int,
        open_stream: Callable[[], Iterable[bytes]],
        scopes: tuple[str, ...],
        cancel: threading.Event | None,
        on_bytes: Callable[[int], None] | None,
    ) -> None:
        location, chunk = self._start_upload(repo, scopes)
        upload = _ChunkedUpload(self, location, scopes, chunk, cancel, on_bytes)
        try:
            if size <= self.options.monolithic_limit:
                self._upload_monolithic(location, digest, size, open_stream(), scopes, on_bytes)
            else:
                upload.run(digest, size, open_stream)
        except BaseException:
            self._cancel_upload(upload.location, scopes)
            raise

    def _start_upload(self, repo: str, scopes: tuple[str, ...]) -> tuple[str, int]:
        url = f"{self.base_url}/v2/{repo}/blobs/uploads/"
        response = self._request("POST", url, scopes, ok={202})
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

    def _upload_monolithic(
        self,
        location: str,
        digest: str,
        size: int,
        chunks: Iterable[bytes],
        scopes: tuple[str, ...],
        on_bytes: Callable[[int], None] | None,
    ) -> None:
        # Small blobs are read whole (bounded by the limit) so they can be verified before
        # a single PUT commits them.
        reader = _HashingReader(chunks)
        try:
            data = b"".join(reader.take(size))
        except _StreamLengthMismatch as err:
            raise _stream_mismatch(digest, size, err.consumed) from None
        _check_upload(reader, digest, size)
        url = _with_query(location, {"digest": digest})
        headers = {"Content-Type": "application/octet-stream"}
        response = self._request("PUT", url, scopes, ok={201}, headers=headers, body=data)
        response.close()
        if on_bytes is not None:
            on_bytes(size)

    def _cancel_upload(self, location: str, scopes: tuple[str, ...]) -> None:
        # Best effort: registries purge abandoned uploads anyway.
        with contextlib.suppress(Exception):
            self._exchange("DELETE", location, scopes).close()

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
        *,
        ok: set[int],
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        stream: bool = False,
        cancel: threading.Event | None = None,
    ) -> requests.Response:
        """Send until a status in ``ok`` arrives, retrying transient failures with backoff;
        any other status becomes a RegistryError."""
        failures = 0
        while True:
            self._check_cancel(cancel)
            retry_after = None
            try:
                response = self._exchange(method, url, scopes, headers, body, stream)
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
            self._pause_or_raise(f"{method} {_display(url)}", failures, reason, retry_after, cancel)

    def _exchange(
        self,
        method: str,
        url: str,
        scopes: tuple[str, ...],
        headers: dict[str, str] | None = None,
        body: bytes | _SizedBody | None = None,
        stream: bool = False,
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
        cancel: threading.Event | None,
    ) -> None:
        """Wait before the next attempt, or give up when the retry budget is spent."""
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
        if cancel is not None:
            if cancel.wait(delay):
                raise RegistryCancelled(f"{what}: cancelled")
        else:
            time.sleep(delay)

    @staticmethod
    def _check_cancel(cancel: threading.Event | None) -> None:
        if cancel is not None and cancel.is_set():
            raise RegistryCancelled("cancelled")

    def _read_limited(self, response: requests.Response, url: str) -> bytes:
        declared = _positive_int(response.headers.get("Content-Length"))
        if declared is not None and declared > MAX_MANIFEST_BYTES:
            raise RegistryError(f"{_display(url)}: manifest of {declared} bytes is too large")
        parts, total = [], 0
        for chunk in response.iter_content(64 * 1024):
            total += len(chunk)
            if total > MAX_MANIFEST_BYTES:
                raise RegistryError(f"{_display(url)}: manifest larger than {MAX_MANIFEST_BYTES}")
            parts.append(chunk)
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
        cancel: threading.Event | None,
        on_bytes: Callable[[int], None] | None,
    ) -> None:
        self.client = client
        self.location = location
        self.scopes = scopes
        self.chunk_size = chunk_size
        self.cancel = cancel
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
                    f"chunk upload of {digest}", failures, str(err), None, self.cancel
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
        response = self.client._exchange("PATCH", self.location, self.scopes, headers, body)
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
            RegistryClient._check_cancel(self.cancel)
            yield piece
            if self.on_bytes is not None:
                self.on_bytes(len(piece))

    def _server_offset(self) -> int:
        """How many bytes the registry kept (GET on the upload URL answers ``Range: 0-<end>``)."""
        response = self.client._request("GET", self.location, self.scopes, ok={204, 200})
        response.close()
        if response.headers.get("Location"):
            self.location = urljoin(self.location, response.headers["Location"])
        end = _range_end(response.headers.get("Range"))
        # "0-0" means both "empty" and "one byte"; restarting at 0 is the safe reading.
        return 0 if end is None or end == 0 else end + 1

    def _commit(self, digest: str) -> None:
        url = _with_query(self.location, {"digest": digest})
        headers = {"Content-Type": "application/octet-stream"}
        self.client._request("PUT", url, self.scopes, ok={201}, headers=headers, body=b"").close()


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
