"""Image repository names: where weight artifacts are pushed (Cog's ``parseRepoOnly``).

Parses cog.yaml's ``image:`` into a fully qualified repository (registry host
plus path) with the Docker reference rules: Docker Hub defaults to
``index.docker.io`` with ``library/`` for single-segment names, the first
segment is a registry when it has a ``.`` or ``:``, is ``localhost`` or has
uppercase letters, and path components are lowercase with single separators.
Weight tags are generated, so a tag or digest in ``image:`` is refused.

It knows nothing about registries themselves (whether the host answers, plain
HTTP or TLS): ``is_loopback_host`` only tells the shell which hosts may be
spoken to over plain HTTP without asking.

Difference from Cog, which uses go-containerregistry: ``localhost/x`` names the
registry ``localhost`` (Docker's rule) rather than ``index.docker.io/localhost/x``,
and path components follow Docker's stricter grammar (``a..b`` is refused here,
where go-containerregistry accepts it and the registry refuses it at push time).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from returns.result import Failure, Result, Success

from cogw.core.digest import go_quote

DOCKER_HUB = "index.docker.io"
_MAX_NAME = 255

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")


@dataclass(frozen=True, slots=True)
class Repository:
    """A fully qualified repository: ``registry`` host[:port] and ``path`` inside it."""

    registry: str
    path: str

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.path}"


def parse_repository(image: str) -> Result[Repository, str]:
    """The repository ``image`` names, or Cog's message for why it is not one.

    >>> parse_repository("test/m").unwrap().name
    'index.docker.io/test/m'
    >>> parse_repository("localhost:5000/test/m").unwrap().name
    'localhost:5000/test/m'
    """
    if image == "":
        return Failure(_invalid(image, "a repository name must be specified"))
    if has_userinfo(image):
        return Failure(USERINFO_REFUSED)
    rest, reference = _split_reference(image)
    parsed = _parse_name(rest)
    if isinstance(parsed, str):
        return Failure(_invalid(image, parsed))
    if reference is None:
        return Success(parsed)
    if reference:
        return Failure(_invalid(image, reference))
    return Failure(
        f"image reference {go_quote(image)} includes a tag or digest"
        f" — provide only the repository (e.g., {go_quote(parsed.name)})"
    )


# Said without the reference: echoing it would print the password it carries.
USERINFO_REFUSED = (
    "invalid repository: credentials written into the name (user:password@host) are refused"
    " — remove them and log in with 'docker login HOST' or COGW_REGISTRY_HOST,"
    " COGW_REGISTRY_USERNAME and COGW_REGISTRY_PASSWORD"
)


def has_userinfo(image: str) -> bool:
    """Whether ``image`` carries URL-style credentials before its host.

    >>> has_userinfo("user:pass@reg.example/acme/m"), has_userinfo("https://u@reg/x")
    (True, True)
    >>> has_userinfo("reg.example/acme/m@sha256:" + "0" * 64), has_userinfo("ubuntu@sha256:00")
    (False, False)
    """
    _, scheme, rest = image.partition("://")
    authority, slash, _ = (rest if scheme else image).partition("/")
    return "@" in authority and (bool(slash) or bool(scheme))


def _invalid(image: str, reason: str) -> str:
    return f"invalid repository {go_quote(image)}: {reason}"


def _split_reference(image: str) -> tuple[str, str | None]:
    """``(name, None)`` without tag or digest; ``(name, "")`` with a valid one;
    ``(name, reason)`` with a malformed one."""
    rest, at, digest = image.partition("@")
    reason = ""
    if at and not _DIGEST.fullmatch(digest):
        reason = f"invalid digest {go_quote(digest)}"
    colon = rest.rfind(":")
    has_tag = colon > rest.rfind("/")
    if has_tag:
        tag = rest[colon + 1 :]
        rest = rest[:colon]
        if not _TAG.fullmatch(tag):
            reason = reason or f"invalid tag {go_quote(tag)}"
    return rest, (reason if at or has_tag else None)


def _parse_name(name: str) -> Repository | str:
    registry, path = _split_registry(name)
    if not _DOMAIN.fullmatch(registry):
        return f"invalid registry {go_quote(registry)}"
    if registry == "docker.io":
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in path:
        path = "library/" + path
    for component in path.split("/"):
        if component.lower() != component:
            return "repository name must be lowercase"
        if not _COMPONENT.fullmatch(component):
            return (
                f"invalid path component {go_quote(component)}: use lowercase letters and"
                ' digits joined by single ".", "_", "__" or "-" separators'
            )
    if len(registry) + 1 + len(path) > _MAX_NAME:
        return f"repository name must not be more than {_MAX_NAME} characters"
    return Repository(registry=registry, path=path)


def _split_registry(name: str) -> tuple[str, str]:
    first, slash, remainder = name.partition("/")
    looks_like_host = "." in first or ":" in first or first == "localhost" or first.lower() != first
    if slash and looks_like_host:
        return first, remainder
    return DOCKER_HUB, name


def is_loopback_host(registry: str) -> bool:
    """True for ``localhost``, ``127.0.0.0/8`` and ``::1``, with or without a port.

    >>> is_loopback_host("127.0.0.1:5000"), is_loopback_host("[::1]:443")
    (True, True)
    >>> is_loopback_host("registry.example.com")
    False
    """
    host = _host_of(registry)
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_of(registry: str) -> str:
    if registry.startswith("["):
        return registry[1:].partition("]")[0]
    if registry.count(":") > 1:
        return registry  # a bare IPv6 address such as ::1
    return registry.partition(":")[0]


def parse_reference(text: str) -> Result[tuple[Repository, bool], str]:
    """The repository a full reference names, and whether it carried a tag or digest.

    Unlike :func:`parse_repository` a tag or digest is allowed (``COG_MODEL``
    may name ``registry/repo:tag``); a malformed one is still refused.

    >>> repo, pinned = parse_reference("r8.im/acme/m:v2").unwrap()
    >>> repo.name, pinned
    ('r8.im/acme/m', True)
    """
    if text == "":
        return Failure("a repository name must be specified")
    rest, reference = _split_reference(text)
    if reference:
        return Failure(reference)
    parsed = _parse_name(rest)
    if isinstance(parsed, str):
        return Failure(parsed)
    return Success((parsed, reference is not None))


def is_registry_host(host: str) -> bool:
    """True when ``host`` is a bare registry host[:port] (no path, tag or digest)."""
    return bool(_DOMAIN.fullmatch(host))


def repository_path_problem(path: str) -> str | None:
    """Why ``path`` is not a repository path inside a registry (``acme/model``), or None."""
    for component in path.split("/"):
        if component.lower() != component:
            return "repository name must be lowercase"
        if not _COMPONENT.fullmatch(component):
            return f"invalid path component {go_quote(component)}"
    return None
