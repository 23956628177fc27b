"""Registry credentials: where a username and password for a registry host come from.

Sources, in the order ``default_credentials`` asks them:

1. ``COGW_REGISTRY_USERNAME`` and ``COGW_REGISTRY_PASSWORD`` (handy in CI, where there is
   no ``docker login``), for the one host named in ``COGW_REGISTRY_HOST`` only
   (``core.credscope``): a cog.yaml can name any registry, and a secret meant for one must
   never reach another.
2. containers' ``auth.json`` as skopeo and podman read it: ``$REGISTRY_AUTH_FILE``, else
   ``$XDG_RUNTIME_DIR/containers/auth.json``, else ``~/.config/containers/auth.json``
   (Docker's ``auths`` shape, keys may carry a repository path).
3. Docker's config file, ``$DOCKER_CONFIG/config.json`` or else ``~/.docker/config.json``:
   ``credHelpers`` (per registry), ``auths`` (base64 ``auth``, or ``username``/``password``,
   or ``identitytoken``) and ``credsStore``. Helpers run as ``docker-credential-<name> get``
   with the server URL on stdin, exactly as the Docker CLI runs them.

Docker Hub is known under several names (``docker.io``, ``index.docker.io``,
``registry-1.docker.io``, ``https://index.docker.io/v1/``); all of them find the same entry.

This module knows nothing about HTTP or how the registry challenges; it never logs or prints
a secret, and ``repr(Credentials)`` hides the password. An identity token is returned as
``Credentials("<token>", token)``, Docker's own convention, for the token exchange to use.
"""

from __future__ import annotations

import base64
import binascii
import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from returns.result import Failure, Result, Success

from cogw.core.diagnostics import Problems
from cogw.core.registry import credscope
from cogw.core.registry.credscope import normalize_registry
from cogw.shell.redaction import register_login
from cogw.shell.registry.errors import RegistryError

IDENTITY_TOKEN_USER = "<token>"
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
HELPER_TIMEOUT_SECONDS = 30


class CredentialsError(RegistryError):
    """The credential configuration cannot be used (bad JSON, a failing helper)."""


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=<hidden>)"

    @property
    def is_identity_token(self) -> bool:
        return self.username == IDENTITY_TOKEN_USER


class CredentialSource(Protocol):
    def get(self, registry: str) -> Credentials | None: ...


def helper_server_url(registry: str) -> str:
    """What Docker writes on a credential helper's stdin for this registry."""
    host = normalize_registry(registry)
    return DOCKER_HUB_SERVER if host == "docker.io" else host


@dataclass(frozen=True)
class EnvCredentials:
    """``COGW_REGISTRY_USERNAME`` / ``COGW_REGISTRY_PASSWORD``, for ``COGW_REGISTRY_HOST``
    only. A configuration ``core.credscope`` refuses raises CredentialsError on use."""

    env: Mapping[str, str]

    def get(self, registry: str) -> Credentials | None:
        match credscope.env_credentials(self.env):
            case Success(None):
                return None
            case Success(bound) if credscope.is_host(bound.host, registry):
                return Credentials(bound.username, bound.password)
            case Success(_):
                return None
            case Failure(problem):
                raise CredentialsError(f"{problem.summary}; {problem.hint}")
        raise AssertionError("unreachable")


class ChainedCredentials:
    """The first source that has credentials for the registry wins."""

    def __init__(self, *sources: CredentialSource) -> None:
        self.sources = sources

    def get(self, registry: str) -> Credentials | None:
        for source in self.sources:
            found = source.get(registry)
            if found is not None:
                return found
        return None


class DockerConfigCredentials:
    """Credentials from Docker's config.json (or a file of its shape) and its helpers."""

    def __init__(self, env: Mapping[str, str], home: Path, path: Path | None = None) -> None:
        directory = env.get("DOCKER_CONFIG")
        docker_path = Path(directory) / "config.json" if directory else home / ".docker/config.json"
        self.path = path or docker_path
        self.env = dict(env)

    def get(self, registry: str) -> Credentials | None:
        config = self._load()
        host = normalize_registry(registry)
        helper = _helpers(config).get(host)
        if helper:
            return run_credential_helper(helper, helper_server_url(registry), self.env)
        entry = _auth_entries(config).get(host)
        if entry is not None:
            found = _credentials_from_entry(entry, self.path)
            if found is not None:
                return found
        store = config.get("credsStore")
        if isinstance(store, str) and store:
            return run_credential_helper(store, helper_server_url(registry), self.env)
        return None

    def _load(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as err:
            raise CredentialsError(f"cannot read {self.path}: {err.strerror}") from None
        try:
            config = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as err:
            raise CredentialsError(f"{self.path} is not valid JSON: {err.msg}") from None
        if not isinstance(config, dict):
            raise CredentialsError(f"{self.path} must hold a JSON object")
        return config


def _helpers(config: Mapping[str, Any]) -> dict[str, str]:
    helpers = config.get("credHelpers")
    if not isinstance(helpers, dict):
        return {}
    return {normalize_registry(k): v for k, v in helpers.items() if isinstance(v, str)}


def _auth_entries(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    auths = config.get("auths")
    if not isinstance(auths, dict):
        return {}
    return {normalize_registry(k): v for k, v in auths.items() if isinstance(v, dict)}


def _credentials_from_entry(entry: Mapping[str, Any], path: Path) -> Credentials | None:
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        return Credentials(IDENTITY_TOKEN_USER, token)
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        return _decode_auth(encoded, path)
    username, password = entry.get("username"), entry.get("password")
    if isinstance(username, str) and isinstance(password, str) and username:
        return Credentials(username, password)
    return None  # an empty entry: docker login stored the secret in credsStore


def _decode_auth(encoded: str, path: Path) -> Credentials:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise CredentialsError(f"{path}: an 'auth' value is not base64 of user:password") from None
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        raise CredentialsError(f"{path}: an 'auth' value is not base64 of user:password")
    return Credentials(username, password)


def run_credential_helper(name: str, server_url: str, env: Mapping[str, str]) -> Credentials | None:
    """``docker-credential-<name> get``; None when the helper has nothing for the server."""
    program = f"docker-credential-{name}"
    try:
        done = subprocess.run(
            [program, "get"],
            input=server_url,
            capture_output=True,
            text=True,
            env=dict(env),
            timeout=HELPER_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError:
        raise CredentialsError(f"credential helper {program} is not on PATH") from None
    except subprocess.TimeoutExpired:
        raise CredentialsError(f"credential helper {program} did not answer in time") from None
    if done.returncode != 0:
        if "credentials not found" in done.stdout.lower():
            return None
        # Only the first stderr line: helpers print their own diagnostics, never secrets there.
        reason = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise CredentialsError(f"credential helper {program} failed: {reason}")
    return _parse_helper_output(done.stdout, program)


def _parse_helper_output(stdout: str, program: str) -> Credentials | None:
    try:
        answer = json.loads(stdout)
    except json.JSONDecodeError:
        raise CredentialsError(f"credential helper {program} returned invalid JSON") from None
    if not isinstance(answer, dict):
        raise CredentialsError(f"credential helper {program} returned invalid JSON")
    username, secret = answer.get("Username"), answer.get("Secret")
    if not isinstance(username, str) or not isinstance(secret, str) or not secret:
        return None
    return Credentials(username, secret)


def containers_auth_file(env: Mapping[str, str], home: Path) -> Path:
    """The auth.json skopeo and podman use: ``REGISTRY_AUTH_FILE``, else the runtime one
    when it exists, else the one in the user's config directory."""
    explicit = env.get("REGISTRY_AUTH_FILE")
    if explicit:
        return Path(explicit)
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and (Path(runtime) / "containers/auth.json").is_file():
        return Path(runtime) / "containers/auth.json"
    return home / ".config/containers/auth.json"


def default_credentials(env: Mapping[str, str], home: Path) -> CredentialSource:
    """Environment variables (for their host), containers' auth.json, Docker's config."""
    return ChainedCredentials(
        EnvCredentials(env),
        DockerConfigCredentials(env, home, containers_auth_file(env, home)),
        DockerConfigCredentials(env, home),
    )


def credentials_from_environment(
    env: Mapping[str, str], home: Path
) -> Result[CredentialSource, Problems]:
    """``default_credentials``, after checking the environment's credentials up front: a
    half-set or unbound pair is an error before any request, not a silent anonymous pull."""
    match credscope.env_credentials(env):
        case Failure(problem):
            return Failure((problem,))
        case Success(bound) if bound is not None:
            register_login(bound.username, bound.password)
    return Success(default_credentials(env, home))
