"""Environment credentials bound to one registry host."""

from __future__ import annotations

import pytest

from cogw.core.registry.credscope import (
    ENV_HOST,
    ENV_PASSWORD,
    ENV_USERNAME,
    env_credentials,
    is_host,
    normalize_registry,
)


def pair(**extra: str) -> dict[str, str]:
    return {ENV_USERNAME: "ci", ENV_PASSWORD: "secret-pw", **extra}


@pytest.mark.parametrize(
    ("bound", "registry", "same"),
    [
        ("reg.example", "reg.example", True),
        ("REG.example", "https://reg.example/v2/", True),
        ("reg.example:5000", "reg.example:5000", True),
        ("reg.example", "reg.example:5000", False),
        ("reg.example:5000", "reg.example", False),
        ("reg.example", "reg.example.evil.com", False),
        ("docker.io", "index.docker.io", True),
        ("docker.io", "registry-1.docker.io", True),
    ],
)
def test_credentials_are_bound_to_exactly_one_host(bound: str, registry: str, same: bool) -> None:
    assert is_host(bound, registry) is same


def test_a_complete_bound_pair_is_read_with_its_host_normalised() -> None:
    found = env_credentials(pair(**{ENV_HOST: "https://Reg.Example:443/"})).unwrap()
    assert found is not None
    assert (found.host, found.username, found.password) == ("reg.example:443", "ci", "secret-pw")
    assert "secret-pw" not in repr(found)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (pair(), ENV_HOST),
        ({ENV_USERNAME: "ci", ENV_HOST: "r.io"}, f"{ENV_PASSWORD} is empty"),
        ({ENV_PASSWORD: "pw", ENV_HOST: "r.io"}, f"{ENV_USERNAME} is empty"),
        (pair(**{ENV_HOST: "not a host!"}), "not a host"),
    ],
    ids=["no-host", "no-password", "no-username", "bad-host"],
)
def test_incomplete_or_unbound_credentials_are_refused_without_echoing_them(
    env: dict[str, str], says: str
) -> None:
    problem = env_credentials(env).failure()
    assert says in problem.summary
    assert "pw" not in problem.summary and "secret" not in " ".join(problem.lines())


def test_no_credentials_is_not_a_problem() -> None:
    assert env_credentials({ENV_HOST: "r.io"}).unwrap() is None
    assert normalize_registry("") == ""
