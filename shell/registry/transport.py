"""One request to a registry: scheme, auth, redirects, retries with backoff, cancellation.

``Transport`` owns the session (connection pool), the ``Authorizer`` and the cancel watcher
of one registry host. ``request`` sends until an expected status arrives, retrying transient
failures (resets, timeouts, 429/5xx with ``Retry-After``) on the schedule of
``core.registryrules.retry_delay``; ``exchange`` is one attempt. Redirects are followed by
hand so an Authorization header never reaches another host (blob storage); TLS verification
always uses the CA bundle given here, because requests lets ``REQUESTS_CA_BUNDLE`` silently
override a session's ``verify``.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from urllib.parse import urljoin

import requests
import urllib3.exceptions

from cogw.core.registry import registryfaults as faults
from cogw.core.registry import registryrules as rules
from cogw.core.registry.registryrules import RETRYABLE_STATUSES, FailureKind, parse_challenge
from cogw.shell.registry.authorization import Authorizer
from cogw.shell.registry.cancel import CancelWatcher, Transfer, sending_for
from cogw.shell.registry.connections import new_session
from cogw.shell.registry.credentials import CredentialSource
from cogw.shell.registry.errors import (
    RegistryAuthError,
    RegistryBusy,
    RegistryCancelled,
    RegistryDigestMismatch,
    RegistryError,
    RegistryNotFound,
    RegistryTLSError,
    is_certificate_problem,
    tls_failure,
)
from cogw.shell.registry.options import RegistryOptions, RetryNotice
from cogw.shell.registry.streams import SizedBody
from cogw.shell.registry.urls import display, host_of

ABANDON_TIMEOUT = 2.0  # seconds a DELETE after a cancel may take, to connect and to answer
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
_ERROR_BODY_LIMIT = 64 * 1024
_DOCKER_HUB_API = "registry-1.docker.io"

Body = bytes | SizedBody | None


class Interrupted(Exception):
    """A transfer broke off in a way a retry or resume may fix."""


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.Timeout,
    Interrupted,
)
# Raised by urllib3 itself while a streamed body is read (requests wraps only iter_content).
BODY_ERRORS: tuple[type[BaseException], ...] = (
    *TRANSIENT_ERRORS,
    urllib3.exceptions.HTTPError,
    OSError,
)
RETRY_CANDIDATES: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, RegistryError)
# How a request fails when its socket is shut down under it (TLS may report a bad record).
_ABORT_SYMPTOMS: tuple[type[BaseException], ...] = (*BODY_ERRORS, RegistryTLSError)


def transport_reason(err: BaseException) -> str:
    """A short reason for a connection-level failure ("connection refused")."""
    timed_out = isinstance(err, requests.exceptions.Timeout)
    return rules.transport_reason(str(err), type(err).__name__, timed_out)


def failure_kind(err: BaseException) -> tuple[FailureKind, int | None]:
    """What the core's resume and restart rules need to know about an upload failure."""
    if isinstance(err, RegistryAuthError | RegistryCancelled | RegistryDigestMismatch):
        return FailureKind.FINAL, None
    if isinstance(err, RegistryError):
        return FailureKind.STATUS, err.status
    return FailureKind.TRANSPORT, None


def _is_tls_port_answer(response: requests.Response) -> bool:
    """Whether a plain-HTTP answer says the port speaks TLS (Go's servers, distribution
    among them, answer 400 "Client sent an HTTP request to an HTTPS server")."""
    return response.status_code == 400 and b"HTTPS" in _error_body(response)


def _error_body(response: requests.Response) -> bytes:
    try:
        return next(response.iter_content(_ERROR_BODY_LIMIT), b"")
    except Exception:  # a body that breaks off says nothing; the status alone must do
        return b""


class Transport:
    """Requests to one registry host. Thread-safe: parallel layer transfers share its
    connection pool and its token cache."""

    def __init__(
        self,
        registry: str,
        options: RegistryOptions,
        credentials: CredentialSource | None,
    ) -> None:
        self.registry = registry
        self.options = options
        api_host = _DOCKER_HUB_API if registry in ("docker.io", "index.docker.io") else registry
        self._api_host = api_host
        # Loopback and insecure hosts may speak either scheme; probed on first use.
        https_only = rules.registry_scheme(registry, options.insecure_hosts) == "https"
        self._base_url: str | None = f"https://{api_host}" if https_only else None
        self._lock = threading.Lock()
        self._session = new_session(options.pool_size)
        # With --ca-bundle the bundle is passed on every request, so REQUESTS_CA_BUNDLE
        # cannot replace it; without it, requests' default (system CAs or that variable).
        self._verify: bool | str = options.ca_bundle if options.ca_bundle else True
        self._timeout = (options.connect_timeout, options.read_timeout)
        self.watcher = CancelWatcher()
        self.auth = Authorizer(registry, self._session, credentials, self._timeout, self._verify)

    def close(self) -> None:
        self._session.close()

    @property
    def base_url(self) -> str:
        """``scheme://host``. A host allowed plain HTTP (loopback, or listed insecure) is
        asked over HTTP first: a plain endpoint that ignores a TLS hello would otherwise
        cost the whole connect timeout. A server that turns out to speak TLS is then
        spoken to over HTTPS, verified; an untrusted certificate is an error, never a
        reason to drop to HTTP."""
        if self._base_url is None:
            scheme = self._probe_scheme()
            with self._lock:
                self._base_url = f"{scheme}://{self._api_host}"
        return self._base_url

    def _probe_scheme(self) -> str:
        try:
            with self._session.get(
                f"http://{self._api_host}/v2/",
                timeout=self._timeout,
                allow_redirects=False,
                stream=True,
            ) as answer:
                if not _is_tls_port_answer(answer):
                    return "http"
        except requests.exceptions.RequestException:
            pass  # no plain HTTP here (a TLS server hangs up); HTTPS decides below
        try:
            self._session.get(
                f"https://{self._api_host}/v2/",
                timeout=self._timeout,
                verify=self._verify,
                allow_redirects=False,
            ).close()
        except requests.exceptions.SSLError as err:
            if is_certificate_problem(err):
                raise tls_failure(self.registry, err) from None
            return "http"  # the server answered, but not with TLS
        except requests.exceptions.RequestException:
            return "http"  # unreachable either way; let the real request report the failure
        return "https"

    def abandon(self, url: str, scopes: tuple[str, ...]) -> None:
        """One brief, best-effort DELETE (an upload session) after a cancel: outside any
        transfer, with the authorization already held and no retries."""
        headers = {}
        authorization = self.auth.cached_header(scopes)
        if authorization and host_of(url) == self._api_host.lower():
            headers["Authorization"] = authorization
        with contextlib.suppress(Exception):
            self._session.delete(
                url,
                headers=headers,
                timeout=(ABANDON_TIMEOUT, ABANDON_TIMEOUT),
                verify=self._verify,
                allow_redirects=False,
            ).close()

    # ---- until an expected answer ------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        scopes: tuple[str, ...],
        transfer: Transfer,
        *,
        ok: set[int],
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send until a status in ``ok`` arrives, retrying transient failures with backoff;
        any other status becomes a RegistryError."""
        failures, started = 0, time.monotonic()
        while True:
            transfer.check()
            retry_after = None
            try:
                response = self.exchange(method, url, scopes, transfer, headers, body, stream)
            except TRANSIENT_ERRORS as err:
                reason = transport_reason(err)
            except RegistryBusy as err:
                reason, retry_after = str(err), err.retry_after
            else:
                if response.status_code in ok:
                    return response
                if response.status_code not in RETRYABLE_STATUSES:
                    raise self.status_error(method, url, response)
                reason = f"HTTP {response.status_code}"
                retry_after = rules.retry_after_seconds(
                    response.headers.get("Retry-After"), now=time.time()
                )
                if failures + 1 >= self.options.max_retries + 1:
                    raise self.status_error(method, url, response)
                response.close()
            failures += 1
            what = f"{method} {display(url)}"
            self.pause_or_raise(what, failures, reason, retry_after, transfer, started=started)

    def pause_or_raise(
        self,
        what: str,
        failures: int,
        reason: str,
        retry_after: float | None,
        transfer: Transfer,
        *,
        started: float | None = None,
    ) -> None:
        """Wait before the next attempt, or give up when the retry budget (attempts, or
        the deadline counted from ``started``) is spent; a cancelled transfer is never
        retried, and a refused connection only once."""
        transfer.check()
        attempts = self.options.max_retries + 1
        delay = rules.retry_delay(
            failures,
            self.options.backoff_base,
            jitter=random.random(),
            retry_after=retry_after,
            retry_after_cap=self.options.retry_after_cap,
        )
        delay = faults.refused_delay(reason, delay)
        elapsed = 0.0 if started is None else time.monotonic() - started
        budget = faults.Budget(attempts, self.options.deadline)
        if faults.give_up(failures, reason, elapsed, delay, budget):
            message = faults.giving_up_message(what, self.registry, failures, reason)
            raise RegistryError(message)
        if self.options.on_retry is not None:
            self.options.on_retry(RetryNotice(what, failures, attempts, delay, reason))
        if transfer.wait(delay):
            raise RegistryCancelled(f"{what}: cancelled")

    def status_error(self, method: str, url: str, response: requests.Response) -> RegistryError:
        """The error for an unexpected status, with the registry's OCI code and message."""
        code, message = rules.oci_error(_error_body(response))
        response.close()
        status = response.status_code
        text = f"{method} {display(url)}: HTTP {status}"
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

    # ---- one attempt ---------------------------------------------------------------------

    def exchange(
        self,
        method: str,
        url: str,
        scopes: tuple[str, ...],
        transfer: Transfer,
        headers: dict[str, str] | None = None,
        body: Body = None,
        stream: bool = False,
    ) -> requests.Response:
        """One exchange on behalf of ``transfer``: its connections (token server included)
        are the ones a cancel breaks, and a failure caused by that break is
        RegistryCancelled, never a network error to retry."""
        try:
            with sending_for(transfer):
                response = self._authorized_exchange(method, url, scopes, headers, body, stream)
        except _ABORT_SYMPTOMS:
            if transfer.cancelled:
                raise RegistryCancelled(f"{method} {display(url)}: cancelled") from None
            raise
        if not stream:
            transfer.detach()  # the connection went back to the pool with the whole body
        return response

    def _authorized_exchange(
        self,
        method: str,
        url: str,
        scopes: tuple[str, ...],
        headers: dict[str, str] | None,
        body: Body,
        stream: bool,
    ) -> requests.Response:
        """One authenticated exchange: on 401, re-authenticate once from the challenge and,
        when the body can be sent again, resend; a streamed body raises Interrupted."""
        response = self._send(method, url, scopes, headers, body, stream)
        if response.status_code != 401:
            return response
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        response.close()
        if challenge is None:
            raise self.auth.failure("the registry sent no WWW-Authenticate challenge")
        self.auth.authenticate(challenge, scopes)
        if isinstance(body, SizedBody):
            raise Interrupted("authorization expired during a streamed upload")
        response = self._send(method, url, scopes, headers, body, stream)
        if response.status_code == 401:
            response.close()
            raise self.auth.failure("the registry refused the credentials")
        return response

    def _send(
        self,
        method: str,
        url: str,
        scopes: tuple[str, ...],
        headers: dict[str, str] | None,
        body: Body,
        stream: bool,
    ) -> requests.Response:
        """One request, following redirects by hand: the Authorization header goes only to
        the registry's own host, never to blob storage elsewhere."""
        authorization = self.auth.header_for(scopes)
        for _ in range(MAX_REDIRECTS + 1):
            sent = dict(headers or {})
            if authorization and host_of(url) == self._api_host.lower():
                sent["Authorization"] = authorization
            response = self._raw_send(method, url, sent, body, stream)
            location = response.headers.get("Location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                return response
            if method not in ("GET", "HEAD"):
                return response
            response.close()
            url = urljoin(url, location)
        raise RegistryError(f"{method} {display(url)}: more than {MAX_REDIRECTS} redirects")

    def _raw_send(
        self, method: str, url: str, headers: dict[str, str], body: Body, stream: bool
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
            raise tls_failure(self.registry, err) from None
