"""Pulls through registry mirrors, falling back to the origin: a registry client wrapper.

``MirroredRegistry`` offers the read methods the pull runner uses (``get_manifest``,
``iter_blob``, ``head_manifest``, ``blob_exists``) over an ordered list of endpoints that
``cogw.core.mirrors.pull_endpoints`` chose: the mirrors, then the origin. It holds one
``RegistryClient`` per endpoint host; each gets its own credentials (looked up per host).

Why a mirror is safe to trust with nothing: the clients check every manifest and blob
against the digest asked for, and the store checks every file against weights.lock, so the
worst a mirror can do is waste one attempt. Why a dead mirror costs one attempt: mirror
clients do not retry (the origin is the retry), and a mirror that could not be reached at
all is skipped for the rest of the run. Failures the wrapper cannot see — the consumer of
a blob stream finding a file whose digest is wrong — are reported back through
``retry_layer``, which excludes that endpoint for that blob, so the pull runner can fetch the
layer again from the next one.

Pushes never come here: they use the origin's own client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from returns.result import Failure

from cogw.core.digest import is_digest
from cogw.core.mirrors import Endpoint, Mirror, MirrorConfig, pull_endpoints
from cogw.core.reference import Repository
from cogw.shell.registry import (
    Manifest,
    RegistryAuthError,
    RegistryCancelled,
    RegistryClient,
    RegistryDigestMismatch,
    RegistryError,
    RegistryNotFound,
    RegistryOptions,
)
from cogw.shell.registry.credentials import CredentialSource

_ANSWERED = (RegistryNotFound, RegistryDigestMismatch, RegistryAuthError)

T = TypeVar("T")
MIRROR_CONNECT_TIMEOUT = 3.0


class MirroredRegistry:
    """Read-only access to one origin registry through its mirrors. Thread-safe."""

    def __init__(
        self,
        origin: str,
        config: MirrorConfig,
        overrides: Sequence[Mirror],
        options: RegistryOptions,
        credentials: CredentialSource | None,
    ) -> None:
        self.registry = origin
        self._config = config
        self._overrides = tuple(overrides)
        self._options = options
        self._credentials = credentials
        self._clients: dict[tuple[str, bool], RegistryClient] = {}
        self._dead: set[str] = set()  # endpoint hosts that could not be reached at all
        self._excluded: set[tuple[str, str]] = set()  # (endpoint name, digest) that failed
        self._served: dict[tuple[str, str], Endpoint] = {}  # (origin repo, digest) → source
        self._lock = threading.Lock()

    # ---- which endpoints -----------------------------------------------------------

    def endpoints(self, repo: str, by_digest: bool = True) -> tuple[Endpoint, ...]:
        """Where ``repo`` (a path on the origin) is pulled from, in order."""
        result = pull_endpoints(
            Repository(self.registry, repo), self._config, self._overrides, by_digest
        )
        if isinstance(result, Failure):
            raise RegistryError(result.failure().summary)
        return result.unwrap()

    def _client(self, endpoint: Endpoint) -> RegistryClient:
        with self._lock:
            key = (endpoint.registry, endpoint.mirror)
            if key not in self._clients:
                self._clients[key] = RegistryClient(
                    endpoint.registry, self._options_for(endpoint), self._credentials
                )
            return self._clients[key]

    def _options_for(self, endpoint: Endpoint) -> RegistryOptions:
        insecure = self._options.insecure_hosts | (
            {endpoint.registry} if endpoint.insecure else set()
        )
        if not endpoint.mirror:
            return replace(self._options, insecure_hosts=frozenset(insecure))
        return replace(
            self._options,
            insecure_hosts=frozenset(insecure),
            max_retries=0,  # the origin is the retry
            connect_timeout=min(self._options.connect_timeout, MIRROR_CONNECT_TIMEOUT),
        )

    def _candidates(self, repo: str, digest: str, by_digest: bool) -> list[Endpoint]:
        with self._lock:
            return [
                e
                for e in self.endpoints(repo, by_digest)
                if not e.mirror
                or (e.registry not in self._dead and (e.name, digest) not in self._excluded)
            ]

    def _failed(self, endpoint: Endpoint, digest: str, exc: BaseException) -> None:
        with self._lock:
            # No HTTP status and not a content or auth problem: nothing answered there.
            silent = isinstance(exc, RegistryError) and not isinstance(exc, _ANSWERED)
            if silent and getattr(exc, "status", None) is None:
                self._dead.add(endpoint.registry)
            self._excluded.add((endpoint.name, digest))

    def _first(self, repo: str, ref: str, attempt: Callable[[RegistryClient, Endpoint], T]) -> T:
        """``attempt`` on each endpoint in turn until one succeeds; the origin's error wins."""
        candidates = self._candidates(repo, ref, is_digest(ref))
        for endpoint in candidates:
            try:
                return attempt(self._client(endpoint), endpoint)
            except RegistryCancelled:
                raise
            except Exception as exc:
                if not endpoint.mirror:
                    raise
                self._failed(endpoint, ref, exc)
        raise AssertionError("the origin is always the last endpoint")

    # ---- the read interface ----------------------------------------------------------

    def get_manifest(self, repo: str, ref: str) -> Manifest:
        return self._first(repo, ref, lambda client, e: client.get_manifest(e.path, ref))

    def head_manifest(self, repo: str, ref: str) -> str | None:
        origin = self.endpoints(repo)[-1]
        return self._client(origin).head_manifest(origin.path, ref)

    def blob_exists(self, repo: str, digest: str) -> bool:
        origin = self.endpoints(repo)[-1]
        return self._client(origin).blob_exists(origin.path, digest)

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
        """The blob from the first endpoint that starts sending it. A failure after the
        first byte is raised (the consumer has the bytes); ``retry_layer`` decides then."""
        for endpoint in self._candidates(repo, digest, True):
            stream = self._client(endpoint).iter_blob(
                endpoint.path,
                digest,
                expected_size=expected_size,
                chunk_size=chunk_size,
                cancel=cancel,
                on_bytes=on_bytes,
            )
            try:
                first = next(stream, None)
            except RegistryCancelled:
                raise
            except Exception as exc:
                if not endpoint.mirror:
                    raise
                self._failed(endpoint, digest, exc)
                continue
            with self._lock:
                self._served[(repo, digest)] = endpoint
            if first is not None:
                yield first
            try:
                yield from stream
            except RegistryCancelled:
                raise
            except Exception as exc:
                if endpoint.mirror:
                    self._failed(endpoint, digest, exc)
                raise
            return
        raise AssertionError("the origin is always the last endpoint")

    # ---- what the pull runner asks after a layer ----------------------------------------

    def source_of(self, repo: str, digest: str) -> str:
        """Where the last stream of ``digest`` came from: ``mirror HOST`` or ``origin HOST``."""
        with self._lock:
            endpoint = self._served.get((repo, digest))
        if endpoint is None:
            return ""
        return f"{'mirror' if endpoint.mirror else 'origin'} {endpoint.registry}"

    def retry_layer(self, repo: str, digest: str) -> bool:
        """After a consumer failed on ``digest``: exclude the endpoint that served it and
        say whether another endpoint remains to try."""
        with self._lock:
            endpoint = self._served.pop((repo, digest), None)
            if endpoint is None or not endpoint.mirror:
                return False
            self._excluded.add((endpoint.name, digest))
        return True

    def __getattr__(self, name: str) -> Any:
        # Everything else (pushes, uploads, pings) is the origin's: never a mirror's.
        if name.startswith("_"):
            raise AttributeError(name)
        origin = Endpoint(self.registry, "")
        return getattr(self._client(origin), name)

    def close(self) -> None:
        for client in list(self._clients.values()):
            client.close()

    def abort(self) -> None:
        for client in list(self._clients.values()):
            client.abort()
