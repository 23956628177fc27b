"""RegistryClient against real CNCF distribution registries on loopback (and a fault proxy)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cogw.core.digest import sha256_of
from cogw.shell.auth import Credentials, EnvCredentials
from cogw.shell.registry import (
    MEDIA_OCI_INDEX,
    MEDIA_OCI_MANIFEST,
    RegistryAuthError,
    RegistryCancelled,
    RegistryClient,
    RegistryDigestMismatch,
    RegistryError,
    RegistryNotFound,
    RegistryOptions,
    RegistryTLSError,
    RetryNotice,
    parse_challenge,
    registry_scheme,
)
from tests.fixtures.faultproxy import FaultProxy, FaultRule
from tests.fixtures.registry import RunningRegistry

pytestmark = pytest.mark.registry

KIB = 1024
MIB = 1024 * KIB
EMPTY_CONFIG = b"{}"


class FixedCredentials:
    """A credential source that always answers the same pair (a real, trivial source)."""

    def __init__(self, username: str, password: str) -> None:
        self.credentials = Credentials(username, password)

    def get(self, registry: str) -> Credentials | None:
        return self.credentials


def fast_options(**overrides: object) -> RegistryOptions:
    base: dict[str, object] = {"backoff_base": 0.01, "connect_timeout": 5, "read_timeout": 5}
    base.update(overrides)
    return RegistryOptions(**base)  # type: ignore[arg-type]


def client_for(
    reg: RunningRegistry, host: str | None = None, **overrides: object
) -> RegistryClient:
    if reg.ca_path is not None:
        overrides.setdefault("ca_bundle", str(reg.ca_path))
    credentials = FixedCredentials(reg.username, reg.password) if reg.username else None
    return RegistryClient(host or reg.host, fast_options(**overrides), credentials)


def new_repo(prefix: str = "test") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


def random_blob(size: int) -> tuple[bytes, str]:
    data = uuid.uuid4().bytes * (size // 16 + 1)
    data = hashlib.sha256(data[:64]).digest() * (size // 32 + 1)  # varied but cheap
    data = (uuid.uuid4().bytes + data)[:size]
    return data, sha256_of(data)


def chunks_of(data: bytes, size: int = 100 * KIB) -> Callable[[], Iterator[bytes]]:
    def open_stream() -> Iterator[bytes]:
        for i in range(0, len(data), size):
            yield data[i : i + size]

    return open_stream


def manifest_for(config_digest: str, layer: tuple[str, int]) -> bytes:
    # Pretty-printed with unsorted keys on purpose: the registry must keep bytes verbatim.
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_MANIFEST,
        "artifactType": "application/vnd.cog.weight.v1",
        "config": {
            "mediaType": "application/vnd.cog.weight.config.v1+json",
            "digest": config_digest,
            "size": len(EMPTY_CONFIG),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer[0],
                "size": layer[1],
            }
        ],
        "annotations": {"run.cog.weight.name": "w"},
    }
    return json.dumps(manifest, indent=3).encode()


def push_artifact(client: RegistryClient, repo: str, size: int = 50 * KIB) -> tuple[bytes, str]:
    """Push a config blob, one layer and a manifest; returns (manifest bytes, digest)."""
    data, digest = random_blob(size)
    config_digest = sha256_of(EMPTY_CONFIG)
    client.push_blob(repo, config_digest, len(EMPTY_CONFIG), chunks_of(EMPTY_CONFIG))
    client.push_blob(repo, digest, size, chunks_of(data))
    raw = manifest_for(config_digest, (digest, size))
    return raw, client.put_manifest(repo, sha256_of(raw), raw, MEDIA_OCI_MANIFEST)


AUTH_MODES = ["registry", "basic_registry", "token_registry", "tls_registry"]


@pytest.mark.parametrize("mode", AUTH_MODES, ids=["anonymous", "basic", "token", "tls"])
def test_ping_manifests_and_blobs_work_on_every_auth_mode(
    mode: str, request: pytest.FixtureRequest
) -> None:
    reg: RunningRegistry = request.getfixturevalue(mode)
    repo = new_repo()
    with client_for(reg) as client:
        client.ping()
        data, digest = random_blob(200 * KIB)
        assert client.blob_exists(repo, digest) is False
        assert client.push_blob(repo, digest, len(data), chunks_of(data)) == "uploaded"
        assert client.blob_exists(repo, digest) is True
        assert b"".join(client.iter_blob(repo, digest, expected_size=len(data))) == data
        raw, manifest_digest = push_artifact(client, repo)
        client.put_manifest(repo, "v1", raw, MEDIA_OCI_MANIFEST)
        assert client.head_manifest(repo, "v1") == manifest_digest
        assert client.get_manifest(repo, manifest_digest).raw == raw
