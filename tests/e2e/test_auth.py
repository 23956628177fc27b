"""Registry auth and TLS through the CLI: import (push) then pull, per way of passing credentials.

Credentials come from Docker's config.json (``DOCKER_CONFIG``) or from
``COGW_REGISTRY_USERNAME`` / ``COGW_REGISTRY_PASSWORD``; the token registry exchanges them
for a Bearer token; the TLS registry needs its private CA passed with ``--ca-bundle`` or
``COGW_CA_BUNDLE``. Every test isolates ``DOCKER_CONFIG`` so the machine's own Docker login
never leaks in.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import SMALL_FILES, Project, mount_sources, tree, write_tree
from tests.fixtures.faultproxy import FaultProxy, FaultRule
from tests.fixtures.registry import RunningRegistry
from tests.fixtures.tokenserver import SERVICE

pytestmark = pytest.mark.registry

WEIGHT = """weights:
  - name: alpha
    target: /src/weights/alpha
    source:
      uri: weights/alpha
"""

ProjectFor = Callable[[RunningRegistry], Project]


def repo_name(request: pytest.FixtureRequest) -> str:
    # Parametrized test ids hold brackets, which repository names must not.
    return "auth/" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:60].strip("-")


@pytest.fixture
def project_for(tmp_path: Path, request: pytest.FixtureRequest) -> ProjectFor:
    """A project with the small weight, whose image points at the given registry."""

    def make(target: RunningRegistry) -> Project:
        directory = tmp_path / "project"
        directory.mkdir()
        write_tree(directory / "weights" / "alpha", SMALL_FILES)
        project = Project(directory, tmp_path / "cache", target, repo_name(request))
        project.write_config(WEIGHT)
        return project

    return make


def docker_config(directory: Path, host: str, username: str, password: str) -> dict[str, str]:
    """A DOCKER_CONFIG directory whose config.json logs in to ``host``, as `docker login` does."""
    directory.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    (directory / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return {"DOCKER_CONFIG": str(directory)}


def env_credentials(username: str, password: str) -> dict[str, str]:
    return {"COGW_REGISTRY_USERNAME": username, "COGW_REGISTRY_PASSWORD": password}


def credentials_env(
    mode: str, tmp_path: Path, reg: RunningRegistry, password: str
) -> dict[str, str]:
    assert reg.username is not None
    isolated = {"DOCKER_CONFIG": str(tmp_path / "no-docker-config")}
    if mode == "docker-config":
        return docker_config(tmp_path / "docker", reg.host, reg.username, password)
    return {**isolated, **env_credentials(reg.username, password), "COGW_REGISTRY_HOST": reg.host}


def import_pull_prepare(project: Project, env: dict[str, str], *flags: str) -> None:
    """Push with import, empty the cache, pull, and check prepare gives the source bytes."""
    imported = project.run("import", *flags, env=env)
    assert imported.exit_code == 0, imported.stderr
    shutil.rmtree(project.cache)
    pulled = project.run("pull", *flags, env=env)
    assert pulled.exit_code == 0, pulled.stderr
    assert "Pulling alpha... done" in pulled.stderr
    prepared = project.run("prepare", "--json", env=env)
    assert prepared.exit_code == 0, prepared.stderr
    mount = Path(mount_sources(prepared.stdout)["/src/weights/alpha"])
    assert tree(mount) == SMALL_FILES


def assert_clean_failure(stderr: str, secret: str | None = None) -> None:
    assert "Traceback" not in stderr
    if secret is not None:
        assert secret not in stderr


@pytest.mark.parametrize("mode", ["docker-config", "env"])
@pytest.mark.parametrize("which", ["basic_registry", "token_registry"])
def test_import_then_pull_authenticate_with_each_credential_source(
    which: str, mode: str, project_for: ProjectFor, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    reg: RunningRegistry = request.getfixturevalue(which)
    assert reg.password is not None
    project = project_for(reg)
    import_pull_prepare(project, credentials_env(mode, tmp_path, reg, reg.password))


@pytest.mark.parametrize("which", ["basic_registry", "token_registry"])
def test_missing_credentials_give_a_clear_auth_error(
    which: str, project_for: ProjectFor, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    reg: RunningRegistry = request.getfixturevalue(which)
    project = project_for(reg)
    result = project.run("import", env={"DOCKER_CONFIG": str(tmp_path / "none")})
    assert result.exit_code == 1
    assert_clean_failure(result.stderr)
    assert f"error: alpha: authentication to {reg.host} failed (anonymously)" in result.stderr
    assert f"docker login {reg.host}" in result.stderr and "COGW_REGISTRY_USERNAME" in result.stderr
    assert not project.lock.exists()


WRONG_PASSWORD = "n0t-the-Passw0rd-xyz"


@pytest.mark.parametrize("mode", ["docker-config", "env"])
@pytest.mark.parametrize("which", ["basic_registry", "token_registry"])
def test_a_wrong_password_is_a_clear_auth_error_that_never_shows_the_password(
    which: str, mode: str, project_for: ProjectFor, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    reg: RunningRegistry = request.getfixturevalue(which)
    project = project_for(reg)
    env = credentials_env(mode, tmp_path, reg, WRONG_PASSWORD)
    result = project.run("import", env=env)
    assert result.exit_code == 1
    assert_clean_failure(result.stderr + result.stdout, WRONG_PASSWORD)
    encoded = base64.b64encode(f"cogw:{WRONG_PASSWORD}".encode()).decode()
    assert encoded not in result.stderr + result.stdout
    assert f"authentication to {reg.host} failed (as 'cogw')" in result.stderr
    assert "refused the credentials" in result.stderr
    assert not project.lock.exists()


def test_a_wrong_password_on_pull_is_a_clear_error_per_weight(
    basic_registry: RunningRegistry, project_for: ProjectFor, tmp_path: Path
) -> None:
    assert basic_registry.password is not None
    project = project_for(basic_registry)
    good = credentials_env("env", tmp_path, basic_registry, basic_registry.password)
    assert project.run("import", env=good).exit_code == 0
    shutil.rmtree(project.cache)
    result = project.run(
        "pull", env=credentials_env("env", tmp_path, basic_registry, WRONG_PASSWORD)
    )
    assert result.exit_code == 1
    assert_clean_failure(result.stderr + result.stdout, WRONG_PASSWORD)
    assert "alpha" in result.stderr
    assert f"authentication to {basic_registry.host} failed (as 'cogw')" in result.stderr
    assert project.blobs() == []


@pytest.mark.parametrize("how", ["--ca-bundle", "COGW_CA_BUNDLE"])
def test_a_private_ca_passed_by_flag_or_environment_lets_import_and_pull_through(
    how: str, tls_registry: RunningRegistry, project_for: ProjectFor, tmp_path: Path
) -> None:
    assert tls_registry.ca_path is not None
    project = project_for(tls_registry)
    env = {"DOCKER_CONFIG": str(tmp_path / "none")}
    if how == "COGW_CA_BUNDLE":
        import_pull_prepare(project, {**env, "COGW_CA_BUNDLE": str(tls_registry.ca_path)})
    else:
        import_pull_prepare(project, env, "--ca-bundle", str(tls_registry.ca_path))


@pytest.mark.parametrize("command", ["import", "pull"])
def test_an_untrusted_certificate_fails_with_advice_to_pass_a_ca_bundle(
    command: str, tls_registry: RunningRegistry, project_for: ProjectFor, tmp_path: Path
) -> None:
    assert tls_registry.ca_path is not None
    project = project_for(tls_registry)
    env = {"DOCKER_CONFIG": str(tmp_path / "none")}
    if command == "pull":
        trusted = project.run("import", "--ca-bundle", str(tls_registry.ca_path), env=env)
        assert trusted.exit_code == 0, trusted.stderr
        shutil.rmtree(project.cache)
    result = project.run(command, env=env)
    assert result.exit_code == 1
    assert_clean_failure(result.stderr)
    assert "certificate verification failed" in result.stderr
    assert "--ca-bundle FILE" in result.stderr
    # Import ingests into the store before pushing; a failed pull stores nothing.
    assert not project.lock.exists() if command == "import" else project.blobs() == []


def test_a_token_rejected_mid_pull_is_renewed_and_the_pull_completes(
    token_registry: RunningRegistry,
    project_for: ProjectFor,
    tmp_path: Path,
    fault_proxy: Callable[[RunningRegistry], FaultProxy],
) -> None:
    """A registry may answer 401 to a token it issued (expired, revoked); ask for a new one."""
    server = token_registry.token_server
    assert token_registry.password is not None and server is not None
    project = project_for(token_registry)
    env = credentials_env("env", tmp_path, token_registry, token_registry.password)
    assert project.run("import", env=env).exit_code == 0
    proxy = fault_proxy(token_registry)
    project.write_config(WEIGHT, image=f"{proxy.host}/{project.repo}")
    env["COGW_REGISTRY_HOST"] = proxy.host  # the pull's registry is the proxy

    def tokens_for_a_pull() -> int:
        shutil.rmtree(project.cache)
        before = server.token_requests
        result = project.run("pull", env=env)
        assert result.exit_code == 0, result.stderr
        return server.token_requests - before

    plain = tokens_for_a_pull()
    challenge = (
        f'Bearer realm="{server.realm}",service="{SERVICE}",'
        f'scope="repository:{project.repo}:pull",error="invalid_token"'
    )
    proxy.add(
        FaultRule(
            "status", path="/blobs/sha256:", status=401, headers={"WWW-Authenticate": challenge}
        )
    )
    assert tokens_for_a_pull() == plain + 1
    assert [r.status for r in proxy.requests_matching("GET", "/blobs/sha256:")][-2:] == [401, 200]
