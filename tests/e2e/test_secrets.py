"""Credentials stay with their host and out of every output.

A registry that records the headers it receives stands in for the host a cog.yaml can be
edited to name; another echoes the request headers in its error body, as a proxy or a
misbehaving registry does. What must hold: environment credentials reach only the host
they are bound to, and no password, Basic value or token is ever printed, in text or JSON.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.e2e.conftest import SMALL_FILES, Project, write_tree
from tests.fixtures.echoserver import EchoRegistry
from tests.fixtures.registry import RunningRegistry

pytestmark = pytest.mark.registry

PASSWORD = "Sup3r-s3cret-CI-passw0rd"
WEIGHT = """weights:
  - name: alpha
    target: /src/weights/alpha
    source:
      uri: weights/alpha
"""


def project_at(tmp_path: Path, reg: RunningRegistry, host: str) -> Project:
    directory = tmp_path / "project"
    directory.mkdir(exist_ok=True)
    write_tree(directory / "weights" / "alpha", SMALL_FILES)
    project = Project(directory, tmp_path / "cache", reg, "secrets/alpha")
    project.write_config(WEIGHT, image=f"{host}/secrets/alpha")
    return project


def ci_env(tmp_path: Path, host: str | None) -> dict[str, str]:
    env = {
        "DOCKER_CONFIG": str(tmp_path / "no-docker"),
        "REGISTRY_AUTH_FILE": str(tmp_path / "no-auth.json"),
        "COGW_REGISTRY_USERNAME": "ci",
        "COGW_REGISTRY_PASSWORD": PASSWORD,
    }
    return env | ({"COGW_REGISTRY_HOST": host} if host else {})


def assert_no_secret(*texts: str) -> None:
    basic = base64.b64encode(f"ci:{PASSWORD}".encode()).decode()
    for text in texts:
        assert PASSWORD not in text and basic not in text and "Traceback" not in text


def test_env_credentials_never_reach_a_registry_they_are_not_bound_to(
    tmp_path: Path, registry: RunningRegistry, echo_registry: EchoRegistry
) -> None:
    project = project_at(tmp_path, registry, echo_registry.host)
    result = project.run("import", env=ci_env(tmp_path, "registry.ci.example"))
    assert result.exit_code == 1
    assert echo_registry.seen, "the project's registry was asked"
    assert echo_registry.authorizations() == []
    assert_no_secret(result.stdout, result.stderr)
    # Bound to this host, the same credentials are sent: the check above can fail.
    project.run("import", env=ci_env(tmp_path, echo_registry.host))
    assert echo_registry.authorizations()


def test_env_credentials_without_a_host_are_refused_before_any_request(
    tmp_path: Path, registry: RunningRegistry, echo_registry: EchoRegistry
) -> None:
    project = project_at(tmp_path, registry, echo_registry.host)
    result = project.run("import", env=ci_env(tmp_path, None))
    assert result.exit_code == 1
    assert "COGW_REGISTRY_HOST" in result.stderr
    assert echo_registry.authorizations() == []
    assert_no_secret(result.stdout, result.stderr)


def test_a_username_without_a_password_is_an_error(
    tmp_path: Path, registry: RunningRegistry, echo_registry: EchoRegistry
) -> None:
    project = project_at(tmp_path, registry, echo_registry.host)
    env = ci_env(tmp_path, echo_registry.host) | {"COGW_REGISTRY_PASSWORD": ""}
    result = project.run("import", env=env)
    assert result.exit_code == 1
    assert "COGW_REGISTRY_PASSWORD is empty" in result.stderr
    assert echo_registry.authorizations() == []


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_a_registry_error_that_echoes_the_request_headers_is_redacted(
    tmp_path: Path, registry: RunningRegistry, echo_registry: EchoRegistry, as_json: bool
) -> None:
    echo_registry.echo_status = 501  # not retried: the echo reaches the message at once
    project = project_at(tmp_path, registry, echo_registry.host)
    flags = ["--json"] if as_json else []
    result = project.run("import", *flags, env=ci_env(tmp_path, echo_registry.host))
    assert result.exit_code == 1
    assert echo_registry.authorizations(), "the credentials were sent to their own host"
    assert "<redacted>" in result.stdout + result.stderr, "the echoed header was shown"
    assert_no_secret(result.stdout, result.stderr)


@pytest.mark.parametrize("command", ["status", "import"])
def test_credentials_written_into_the_image_are_refused_without_being_echoed(
    tmp_path: Path, registry: RunningRegistry, command: str
) -> None:
    project = project_at(tmp_path, registry, f"ci:{PASSWORD}@{registry.host}")
    result = project.run(command, env=ci_env(tmp_path, registry.host))
    assert result.exit_code == 1
    assert "credentials" in result.stderr
    assert_no_secret(result.stdout, result.stderr)
