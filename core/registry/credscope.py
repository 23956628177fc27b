"""Which registry host environment credentials belong to, and whether a host is it.

``COGW_REGISTRY_USERNAME``/``COGW_REGISTRY_PASSWORD`` are a CI secret. A cog.yaml can name
any registry in ``image:``, so credentials that applied to every host would go to whatever
host a pull request writes there. They apply only to the host named in
``COGW_REGISTRY_HOST`` (host or host:port, matched exactly; Docker Hub's aliases are one
host), as Docker and skopeo scope a login per host. A half-set pair, or a pair without a
host, is a configuration error: reported, never guessed at and never sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from returns.result import Failure, Result, Success

from cogw.core.diagnostics import Diagnostic

ENV_USERNAME = "COGW_REGISTRY_USERNAME"
ENV_PASSWORD = "COGW_REGISTRY_PASSWORD"
ENV_HOST = "COGW_REGISTRY_HOST"
DOCKER_HUB_ALIASES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
_HOST = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
    r"|\[[0-9a-f:]+\])(?::[0-9]{1,5})?"
)


@dataclass(frozen=True, slots=True)
class EnvCredentials:
    """The environment's username and password, and the one host they are for."""

    host: str
    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"EnvCredentials(host={self.host!r}, username={self.username!r}, password=<hidden>)"


def normalize_registry(server: str) -> str:
    """The bare host[:port] of a registry or config key; Docker Hub → ``docker.io``.

    >>> normalize_registry("https://Index.Docker.io/v1/"), normalize_registry("reg:5000/x")
    ('docker.io', 'reg:5000')
    """
    host = server.strip()
    for scheme in ("https://", "http://"):
        if host.lower().startswith(scheme):
            host = host[len(scheme) :]
    host = host.split("/", 1)[0].lower()
    return "docker.io" if host in DOCKER_HUB_ALIASES else host


def is_host(bound: str, registry: str) -> bool:
    """Whether ``registry`` is the host credentials were bound to (exactly, port included).

    >>> is_host("reg.example:5000", "reg.example:5000"), is_host("reg.example", "evil.example")
    (True, False)
    >>> is_host("reg.example", "reg.example:5000"), is_host("docker.io", "index.docker.io")
    (False, True)
    """
    return normalize_registry(bound) == normalize_registry(registry)


def env_credentials(env: Mapping[str, str]) -> Result[EnvCredentials | None, Diagnostic]:
    """The environment's credentials bound to their host; None when none are set.

    >>> env_credentials({}).unwrap() is None
    True
    >>> env_credentials({ENV_USERNAME: "u", ENV_PASSWORD: "p", ENV_HOST: "r.io"}).unwrap().host
    'r.io'
    >>> env_credentials({ENV_USERNAME: "u", ENV_PASSWORD: "p"}).failure().summary
    'COGW_REGISTRY_USERNAME and COGW_REGISTRY_PASSWORD are set but COGW_REGISTRY_HOST is not'
    """
    username, password = env.get(ENV_USERNAME, ""), env.get(ENV_PASSWORD, "")
    host = normalize_registry(env.get(ENV_HOST, ""))
    hint = f"set {ENV_HOST} to the registry they are for (host or host:port)"
    if not username and not password:
        return Success(None)
    if not password:
        return Failure(_problem(f"{ENV_USERNAME} is set but {ENV_PASSWORD} is empty", hint))
    if not username:
        return Failure(_problem(f"{ENV_PASSWORD} is set but {ENV_USERNAME} is empty", hint))
    if not host:
        return Failure(
            _problem(f"{ENV_USERNAME} and {ENV_PASSWORD} are set but {ENV_HOST} is not", hint)
        )
    if _HOST.fullmatch(host) is None:
        return Failure(_problem(f"{ENV_HOST} is not a host or host:port", hint))
    return Success(EnvCredentials(host, username, password))


def _problem(summary: str, hint: str) -> Diagnostic:
    return Diagnostic(
        summary,
        detail="the credentials were not used: they are sent only to the host they are for",
        hint=hint,
    )
