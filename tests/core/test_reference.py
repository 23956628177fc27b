"""Repository names from cog.yaml's image: (Cog's parseRepoOnly) and loopback hosts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from cogw.core.registry.reference import Repository, is_loopback_host, parse_repository

PARSED = [
    ("test/m", "index.docker.io", "test/m"),
    ("ubuntu", "index.docker.io", "library/ubuntu"),
    ("docker.io/ubuntu", "index.docker.io", "library/ubuntu"),
    ("docker.io/acme/m", "index.docker.io", "acme/m"),
    ("index.docker.io/acme/m", "index.docker.io", "acme/m"),
    ("localhost:5000/test/m", "localhost:5000", "test/m"),
    ("localhost/m", "localhost", "m"),
    ("127.0.0.1:5000/m", "127.0.0.1:5000", "m"),
    ("[::1]:5000/a/b", "[::1]:5000", "a/b"),
    ("r8.im/acme/model", "r8.im", "acme/model"),
    ("registry.example.com/acme/model", "registry.example.com", "acme/model"),
    ("Registry.Example.com/acme/model", "Registry.Example.com", "acme/model"),
    ("ghcr.io/a/b/c/d", "ghcr.io", "a/b/c/d"),
    ("host:5000/a_b/c__d/e-f/g.h/i--j", "host:5000", "a_b/c__d/e-f/g.h/i--j"),
]


@pytest.mark.parametrize(("image", "registry", "path"), PARSED, ids=[p[0] for p in PARSED])
def test_repository_is_fully_qualified_by_docker_rules(
    image: str, registry: str, path: str
) -> None:
    assert parse_repository(image) == Success(Repository(registry, path))


def test_repository_name_joins_registry_and_path() -> None:
    assert Repository("localhost:5000", "test/m").name == "localhost:5000/test/m"


TAGGED = [
    ("test/m:latest", "index.docker.io/test/m"),
    ("localhost:5000/test/m:v1", "localhost:5000/test/m"),
    ("ubuntu:22.04", "index.docker.io/library/ubuntu"),
    ("r8.im/a/m@sha256:" + "a" * 64, "r8.im/a/m"),
    ("r8.im/a/m:v1@sha256:" + "a" * 64, "r8.im/a/m"),
]


@pytest.mark.parametrize(("image", "repo"), TAGGED, ids=[t[0][:40] for t in TAGGED])
def test_tag_or_digest_is_refused_with_the_repository_to_use_instead(image: str, repo: str) -> None:
    assert parse_repository(image) == Failure(
        f'image reference "{image}" includes a tag or digest — provide only the repository '
        f'(e.g., "{repo}")'
    )


INVALID = [
    ("", "a repository name must be specified"),
    ("Acme/Model", "repository name must be lowercase"),
    ("r.example.com/Acme/m", "repository name must be lowercase"),
    (
        "acme//m",
        'invalid path component "": use lowercase letters and digits joined by single '
        '".", "_", "__" or "-" separators',
    ),
    (
        "acme/-m",
        'invalid path component "-m": use lowercase letters and digits joined by single '
        '".", "_", "__" or "-" separators',
    ),
    (
        "acme/m..x",
        'invalid path component "m..x": use lowercase letters and digits joined by single '
        '".", "_", "__" or "-" separators',
    ),
    (
        "acme/m/",
        'invalid path component "": use lowercase letters and digits joined by single '
        '".", "_", "__" or "-" separators',
    ),
    ("bad_host.com/m", 'invalid registry "bad_host.com"'),
    ("host:port/m", 'invalid registry "host:port"'),
    ("acme/m:", 'invalid tag ""'),
    ("acme/m@sha256:zz", 'invalid digest "sha256:zz"'),
    ("r.example.com/" + "a" * 250, "repository name must not be more than 255 characters"),
]


@pytest.mark.parametrize(("image", "reason"), INVALID, ids=[i[0][:30] or "empty" for i in INVALID])
def test_invalid_repository_is_reported_with_the_reason(image: str, reason: str) -> None:
    assert parse_repository(image) == Failure(f'invalid repository "{image}": {reason}')


@pytest.mark.parametrize(
    ("registry", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST:5000", True),
        ("127.0.0.1", True),
        ("127.5.6.7:8080", True),
        ("::1", True),
        ("[::1]", True),
        ("[::1]:5000", True),
        ("128.0.0.1", False),
        ("10.0.0.1:5000", False),
        ("localhost.example.com", False),
        ("registry.example.com:443", False),
        ("[::2]:5000", False),
        ("index.docker.io", False),
    ],
    ids=lambda v: str(v),
)
def test_loopback_hosts_are_recognised_with_or_without_port(registry: str, loopback: bool) -> None:
    assert is_loopback_host(registry) is loopback


_component = st.from_regex(r"[a-z0-9]{1,5}(?:[._-][a-z0-9]{1,5}){0,2}", fullmatch=True)
_host = st.sampled_from(["localhost:5000", "r.example.com", "127.0.0.1:5000", "ghcr.io"])


@pytest.mark.slow
@given(_host, st.lists(_component, min_size=1, max_size=4))
def test_a_parsed_name_parses_to_itself(host: str, components: list[str]) -> None:
    parsed = parse_repository(host + "/" + "/".join(components))
    assert isinstance(parsed, Success)
    assert parse_repository(parsed.unwrap().name) == parsed


@pytest.mark.parametrize(
    "image",
    [
        "ci:hunter2-pass@reg.example/acme/m",
        "ci@reg.example/acme/m",
        "https://ci:hunter2-pass@reg.example/acme/m",
    ],
)
def test_credentials_in_a_repository_are_refused_without_being_echoed(image: str) -> None:
    message = parse_repository(image).failure()
    assert "credentials" in message
    assert "hunter2" not in message and "ci@" not in message and "reg.example" not in message
