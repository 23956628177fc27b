"""Registry credentials from the environment, Docker's config.json and credential helpers."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from cogw.shell.registry.credentials import (
    ChainedCredentials,
    Credentials,
    CredentialsError,
    DockerConfigCredentials,
    EnvCredentials,
    containers_auth_file,
    credentials_from_environment,
    default_credentials,
    normalize_registry,
)

HOST = "127.0.0.1:5000"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_config(directory: Path, config: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(config))
    return path


HELPER = """#!/bin/sh
# A Docker credential helper stand-in: answers for the servers it knows, logs what it was asked.
read server
echo "$server" >> "{log}"
case "$server" in
  {known}) printf '{{"ServerURL":"%s","Username":"{user}","Secret":"{secret}"}}' "$server" ;;
  broken.example.com) echo "keychain locked" >&2; exit 3 ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"""


def install_helper(
    bin_dir: Path, name: str, known: str, user: str = "helper-user", secret: str = "helper-pw"
) -> Path:
    """Write docker-credential-<name> into bin_dir; returns the file where it logs requests."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    log = bin_dir / f"{name}.log"
    script = bin_dir / f"docker-credential-{name}"
    script.write_text(HELPER.format(log=log, known=known, user=user, secret=secret))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return log


def env_with_path(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", **extra}


def test_credentials_repr_hides_the_password() -> None:
    text = repr(Credentials("alice", "hunter2-secret"))
    assert "hunter2-secret" not in text and "alice" in text
    assert "hunter2-secret" not in str(Credentials("alice", "hunter2-secret"))


def bound_env(username: str, password: str, host: str = HOST) -> dict[str, str]:
    return {
        "COGW_REGISTRY_USERNAME": username,
        "COGW_REGISTRY_PASSWORD": password,
        "COGW_REGISTRY_HOST": host,
    }


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        (HOST, Credentials("u", "p")),
        ("127.0.0.1:5001", None),
        ("127.0.0.1", None),
        ("evil.example", None),
    ],
    ids=["bound-host", "other-port", "no-port", "other-host"],
)
def test_env_credentials_apply_only_to_the_host_they_are_bound_to(
    asked: str, expected: Credentials | None
) -> None:
    assert EnvCredentials(bound_env("u", "p")).get(asked) == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"COGW_REGISTRY_USERNAME": "u", "COGW_REGISTRY_PASSWORD": "p"}, "COGW_REGISTRY_HOST"),
        ({"COGW_REGISTRY_USERNAME": "u", "COGW_REGISTRY_HOST": HOST}, "PASSWORD is empty"),
        ({"COGW_REGISTRY_PASSWORD": "p", "COGW_REGISTRY_HOST": HOST}, "USERNAME is empty"),
    ],
    ids=["no-host", "username-only", "password-only"],
)
def test_incomplete_env_credentials_are_an_error_and_never_used(
    env: dict[str, str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(CredentialsError, match=message):
        EnvCredentials(env).get(HOST)
    problems = credentials_from_environment(env, tmp_path).failure()
    assert message in problems[0].summary and "COGW_REGISTRY_HOST" in problems[0].hint


def test_no_env_credentials_means_none(tmp_path: Path) -> None:
    assert EnvCredentials({}).get(HOST) is None
    assert credentials_from_environment({}, tmp_path).unwrap().get(HOST) is None


def test_containers_auth_json_is_read_per_host_as_podman_does(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    (runtime / "containers").mkdir(parents=True)
    auths = {"auths": {f"{HOST}/some/repo": {"auth": b64("pod:man")}}}
    (runtime / "containers" / "auth.json").write_text(json.dumps(auths))
    env = {"XDG_RUNTIME_DIR": str(runtime), "DOCKER_CONFIG": str(tmp_path / "none")}
    assert containers_auth_file(env, tmp_path) == runtime / "containers" / "auth.json"
    assert default_credentials(env, tmp_path).get(HOST) == Credentials("pod", "man")
    assert default_credentials(env, tmp_path).get("other.example") is None


def test_registry_auth_file_wins_over_the_default_locations(tmp_path: Path) -> None:
    explicit = tmp_path / "mine.json"
    explicit.write_text(json.dumps({"auths": {HOST: {"username": "a", "password": "b"}}}))
    (tmp_path / ".config" / "containers").mkdir(parents=True)
    (tmp_path / ".config" / "containers" / "auth.json").write_text(
        json.dumps({"auths": {HOST: {"username": "home", "password": "x"}}})
    )
    env = {"REGISTRY_AUTH_FILE": str(explicit), "DOCKER_CONFIG": str(tmp_path / "none")}
    assert default_credentials(env, tmp_path).get(HOST) == Credentials("a", "b")
    fallback = {"DOCKER_CONFIG": str(tmp_path / "none")}
    assert default_credentials(fallback, tmp_path).get(HOST) == Credentials("home", "x")


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"auth": b64("alice:pa:ss")}, Credentials("alice", "pa:ss")),
        ({"username": "bob", "password": "pw"}, Credentials("bob", "pw")),
        ({"identitytoken": "tok-123"}, Credentials("<token>", "tok-123")),
        ({}, None),
    ],
    ids=["base64-auth", "username-password", "identity-token", "empty-entry"],
)
def test_docker_config_auths_entry_gives_credentials(
    entry: dict[str, str], expected: Credentials | None, tmp_path: Path
) -> None:
    write_config(tmp_path / "cfg", {"auths": {HOST: entry}})
    source = DockerConfigCredentials({"DOCKER_CONFIG": str(tmp_path / "cfg")}, tmp_path)
    assert source.get(HOST) == expected
    assert source.get("other.example.com") is None


def test_docker_config_is_read_from_home_when_docker_config_is_unset(tmp_path: Path) -> None:
    write_config(tmp_path / ".docker", {"auths": {HOST: {"auth": b64("home:pw")}}})
    assert DockerConfigCredentials({}, tmp_path).get(HOST) == Credentials("home", "pw")


def test_missing_docker_config_means_no_credentials(tmp_path: Path) -> None:
    assert DockerConfigCredentials({}, tmp_path).get(HOST) is None


@pytest.mark.parametrize(
    "key",
    ["https://index.docker.io/v1/", "docker.io", "index.docker.io", "registry-1.docker.io"],
    ids=["legacy-url", "docker.io", "index", "registry-1"],
)
@pytest.mark.parametrize("asked", ["docker.io", "index.docker.io", "registry-1.docker.io"], ids=str)
def test_docker_hub_aliases_find_the_same_entry(key: str, asked: str, tmp_path: Path) -> None:
    write_config(tmp_path / ".docker", {"auths": {key: {"auth": b64("hub:pw")}}})
    assert DockerConfigCredentials({}, tmp_path).get(asked) == Credentials("hub", "pw")


@pytest.mark.parametrize(
    ("server", "host"),
    [
        ("https://registry.example.com/v2/", "registry.example.com"),
        ("http://127.0.0.1:5000", "127.0.0.1:5000"),
        ("Registry.Example.com", "registry.example.com"),
        ("https://index.docker.io/v1/", "docker.io"),
    ],
    ids=["https-with-path", "http-with-port", "upper-case", "docker-hub"],
)
def test_config_keys_are_normalised_to_bare_hosts(server: str, host: str) -> None:
    assert normalize_registry(server) == host


def test_cred_helpers_entry_runs_the_named_helper_with_the_server_on_stdin(
    tmp_path: Path,
) -> None:
    log = install_helper(tmp_path / "bin", "test", known=HOST)
    write_config(tmp_path / "cfg", {"credHelpers": {HOST: "test"}, "auths": {HOST: {}}})
    env = env_with_path(tmp_path, DOCKER_CONFIG=str(tmp_path / "cfg"))
    assert DockerConfigCredentials(env, tmp_path).get(HOST) == Credentials(
        "helper-user", "helper-pw"
    )
    assert log.read_text().splitlines() == [HOST]


def test_creds_store_is_asked_with_the_docker_hub_server_url(tmp_path: Path) -> None:
    log = install_helper(tmp_path / "bin", "store", known="https://index.docker.io/v1/")
    write_config(tmp_path / "cfg", {"credsStore": "store", "auths": {"docker.io": {}}})
    env = env_with_path(tmp_path, DOCKER_CONFIG=str(tmp_path / "cfg"))
    assert DockerConfigCredentials(env, tmp_path).get("registry-1.docker.io") == Credentials(
        "helper-user", "helper-pw"
    )
    assert log.read_text().splitlines() == ["https://index.docker.io/v1/"]


def test_helper_without_credentials_for_the_server_gives_none(tmp_path: Path) -> None:
    install_helper(tmp_path / "bin", "store", known="elsewhere.example.com")
    write_config(tmp_path / "cfg", {"credsStore": "store"})
    env = env_with_path(tmp_path, DOCKER_CONFIG=str(tmp_path / "cfg"))
    assert DockerConfigCredentials(env, tmp_path).get(HOST) is None


def test_inline_auths_win_over_the_creds_store(tmp_path: Path) -> None:
    install_helper(tmp_path / "bin", "store", known=HOST)
    write_config(
        tmp_path / "cfg", {"credsStore": "store", "auths": {HOST: {"auth": b64("inline:pw")}}}
    )
    env = env_with_path(tmp_path, DOCKER_CONFIG=str(tmp_path / "cfg"))
    assert DockerConfigCredentials(env, tmp_path).get(HOST) == Credentials("inline", "pw")


@pytest.mark.parametrize(
    ("config", "asked", "message"),
    [
        ({"credHelpers": {HOST: "absent"}}, HOST, "docker-credential-absent is not on PATH"),
        ({"credHelpers": {"broken.example.com": "test"}}, "broken.example.com", "keychain locked"),
        ({"auths": {HOST: {"auth": "%%%"}}}, HOST, "not base64"),
        ({"auths": {HOST: {"auth": b64("no-colon")}}}, HOST, "not base64 of user:password"),
    ],
    ids=["helper-not-installed", "helper-fails", "bad-base64", "auth-without-colon"],
)
def test_unusable_credential_configuration_raises_a_clear_error(
    config: dict[str, object], asked: str, message: str, tmp_path: Path
) -> None:
    install_helper(tmp_path / "bin", "test", known="nothing")
    write_config(tmp_path / "cfg", config)
    env = env_with_path(tmp_path, DOCKER_CONFIG=str(tmp_path / "cfg"))
    with pytest.raises(CredentialsError, match=message):
        DockerConfigCredentials(env, tmp_path).get(asked)


def test_invalid_json_config_raises_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text("{not json")
    with pytest.raises(CredentialsError, match="not valid JSON"):
        DockerConfigCredentials({"DOCKER_CONFIG": str(tmp_path / "cfg")}, tmp_path).get(HOST)


def test_chained_credentials_return_the_first_answer() -> None:
    first = EnvCredentials({})
    second = EnvCredentials(bound_env("b", "2"))
    third = EnvCredentials(bound_env("c", "3"))
    assert ChainedCredentials(first, second, third).get(HOST) == Credentials("b", "2")
    assert ChainedCredentials(first).get(HOST) is None


def test_default_credentials_prefer_the_environment_over_docker_config(tmp_path: Path) -> None:
    write_config(tmp_path / ".docker", {"auths": {HOST: {"auth": b64("docker:pw")}}})
    env = bound_env("env", "pw")
    assert default_credentials(env, tmp_path).get(HOST) == Credentials("env", "pw")
    assert default_credentials(env, tmp_path).get("other:1") is None
    assert default_credentials({}, tmp_path).get(HOST) == Credentials("docker", "pw")
