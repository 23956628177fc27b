"""The auth flow: from a registry's ``WWW-Authenticate`` challenge to an Authorization value.

Basic challenges get the credentials as they are; Bearer challenges send them (or nothing,
for anonymous access, or an identity token as a refresh token) to the token server the
challenge names, asking for the operation's scopes. Values are cached per scope set, and
once the challenge is known a new scope set is authorized up front, saving a 401 round trip
per repository. Where credentials come from is ``credentials``' business, not this module's.
"""

from __future__ import annotations

import base64
import threading
import time

import requests

from cogw.core.registry.registryrules import (
    RETRYABLE_STATUSES,
    Challenge,
    retry_after_seconds,
    token_scopes,
)
from cogw.shell.redaction import register_login, register_secret
from cogw.shell.registry.credentials import Credentials, CredentialSource
from cogw.shell.registry.errors import RegistryAuthError, RegistryBusy, tls_failure
from cogw.shell.registry.urls import display


class Authorizer:
    """Authorization values for one registry host. Thread-safe."""

    def __init__(
        self,
        registry: str,
        session: requests.Session,
        credentials: CredentialSource | None,
        timeout: tuple[float, float],
        verify: bool | str,
    ) -> None:
        self.registry = registry
        self._session = session
        self._credential_source = credentials
        self._credentials: Credentials | None = None
        self._credentials_loaded = False
        self._timeout = timeout
        self._verify = verify
        self._lock = threading.Lock()
        self._challenge: Challenge | None = None
        self._authorizations: dict[tuple[str, ...], str] = {}

    def header_for(self, scopes: tuple[str, ...]) -> str | None:
        """The Authorization value for these scopes: cached, or fetched up front once the
        registry's challenge is known (saves a 401 round trip per new repository)."""
        with self._lock:
            cached = self._authorizations.get(scopes)
            challenge = self._challenge
        if cached is not None or challenge is None:
            return cached
        return self.authenticate(challenge, scopes)

    def cached_header(self, scopes: tuple[str, ...]) -> str | None:
        """The Authorization value already held for these scopes; never a request."""
        with self._lock:
            return self._authorizations.get(scopes)

    def authenticate(self, challenge: Challenge, scopes: tuple[str, ...]) -> str:
        if challenge.scheme == "basic":
            value = self._basic_authorization()
        elif challenge.scheme == "bearer":
            value = "Bearer " + self._fetch_token(challenge, scopes)
        else:
            raise self.failure(f"unsupported auth scheme {challenge.scheme!r}")
        with self._lock:
            self._challenge = challenge
            self._authorizations[scopes] = value
        return value

    def failure(self, why: str) -> RegistryAuthError:
        """An authentication failure, saying as whom it was tried and how to log in."""
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

    def _get_credentials(self) -> Credentials | None:
        with self._lock:
            if not self._credentials_loaded and self._credential_source is not None:
                self._credentials = self._credential_source.get(self.registry)
                if self._credentials is not None:
                    register_login(self._credentials.username, self._credentials.password)
            self._credentials_loaded = True
            return self._credentials

    def _basic_authorization(self) -> str:
        credentials = self._get_credentials()
        if credentials is None or credentials.is_identity_token:
            raise self.failure("it requires a username and password")
        pair = f"{credentials.username}:{credentials.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def _fetch_token(self, challenge: Challenge, scopes: tuple[str, ...]) -> str:
        realm = challenge.params.get("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise self.failure(f"the token realm {realm!r} is not a URL")
        scope_list = token_scopes(scopes, challenge.params.get("scope", ""))
        credentials = self._get_credentials()
        response = self._token_response(
            realm, challenge.params.get("service"), scope_list, credentials
        )
        with response:
            if response.status_code in (401, 403):
                who = "anonymous access" if credentials is None else "the credentials"
                raise self.failure(f"the token server refused {who}")
            if response.status_code in RETRYABLE_STATUSES:
                raise RegistryBusy(
                    f"token server {display(realm)} answered HTTP {response.status_code}",
                    status=response.status_code,
                    retry_after=retry_after_seconds(
                        response.headers.get("Retry-After"), now=time.time()
                    ),
                )
            if response.status_code != 200:
                raise RegistryAuthError(
                    f"token server {display(realm)} answered HTTP {response.status_code}",
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
            raise tls_failure(self.registry, err) from None


def _token_from(response: requests.Response, realm: str) -> str:
    try:
        answer = response.json()
    except ValueError:  # cut short or garbled on the way: worth asking again
        raise RegistryBusy(
            f"token server {display(realm)} sent an unreadable answer",
            status=response.status_code,
            retry_after=None,
        ) from None
    token = answer.get("token") or answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise RegistryAuthError(f"token server {display(realm)} sent no token")
    register_secret(token)
    refresh = answer.get("refresh_token") if isinstance(answer, dict) else None
    if isinstance(refresh, str):
        register_secret(refresh)
    return token
