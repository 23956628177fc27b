"""RegistryClient against real CNCF distribution registries on loopback (and a fault proxy)."""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cogw.core.digest import sha256_of
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
)
from cogw.shell.registry.credentials import Credentials, EnvCredentials
from cogw.shell.registry.download import drop_first
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
    reg: RunningRegistry, *, host: str | None = None, **overrides: object
) -> RegistryClient:
    if reg.ca_path is not None:
        overrides.setdefault("ca_bundle", str(reg.ca_path))
    credentials = FixedCredentials(reg.username, reg.password or "") if reg.username else None
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


# ---- auth and TLS failures -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["basic_registry", "token_registry"], ids=["basic", "token"])
def test_wrong_password_raises_auth_error_that_does_not_contain_the_password(
    mode: str, request: pytest.FixtureRequest
) -> None:
    reg: RunningRegistry = request.getfixturevalue(mode)
    secret = "wrong-Pa55word-xyz"
    client = RegistryClient(reg.host, fast_options(), FixedCredentials("cogw", secret))
    with pytest.raises(RegistryAuthError) as caught:
        client.ping()
    message = str(caught.value)
    assert secret not in message
    assert "cogw" in message and reg.host in message
    assert "docker login" in message


@pytest.mark.parametrize("mode", ["basic_registry", "token_registry"], ids=["basic", "token"])
def test_protected_registry_without_credentials_raises_auth_error(
    mode: str, request: pytest.FixtureRequest
) -> None:
    reg: RunningRegistry = request.getfixturevalue(mode)
    with pytest.raises(RegistryAuthError, match="anonymously"):
        RegistryClient(reg.host, fast_options()).blob_exists("a/b", sha256_of(b"x"))


def test_tls_registry_without_its_ca_raises_tls_error_that_says_how_to_pass_one(
    tls_registry: RunningRegistry,
) -> None:
    with pytest.raises(RegistryTLSError, match="CA bundle"):
        RegistryClient(tls_registry.host, fast_options()).ping()


def test_tls_registry_is_reached_by_localhost_name_with_its_ca(
    tls_registry: RunningRegistry,
) -> None:
    port = tls_registry.host.rsplit(":", 1)[1]
    with client_for(tls_registry, host=f"localhost:{port}") as client:
        client.ping()
        assert client.base_url == f"https://localhost:{port}"


def test_client_for_a_public_host_uses_https_without_touching_the_network() -> None:
    client = RegistryClient("registry.example.com")
    assert client.base_url == "https://registry.example.com"
    assert RegistryClient("docker.io").base_url == "https://registry-1.docker.io"


def test_plain_http_registry_on_loopback_is_reached_over_http(registry: RunningRegistry) -> None:
    with client_for(registry) as client:
        client.ping()
        assert client.base_url == registry.url


def test_bearer_tokens_are_cached_per_scope(token_registry: RunningRegistry) -> None:
    server = token_registry.token_server
    assert server is not None
    repo = new_repo()
    data, digest = random_blob(10 * KIB)
    with client_for(token_registry) as client:
        client.push_blob(repo, digest, len(data), chunks_of(data))
        before = server.token_requests
        for _ in range(3):
            assert client.blob_exists(repo, digest)
        pull_tokens = server.token_requests - before
        for _ in range(3):
            assert client.blob_exists(repo, digest)
    assert pull_tokens == 1
    assert server.token_requests - before == 1


def test_docker_config_credentials_log_in_to_a_basic_auth_registry(
    basic_registry: RunningRegistry, tmp_path: Path
) -> None:
    from cogw.shell.registry.credentials import DockerConfigCredentials

    pair = f"{basic_registry.username}:{basic_registry.password}".encode()
    import base64

    config = {"auths": {basic_registry.host: {"auth": base64.b64encode(pair).decode()}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    source = DockerConfigCredentials({"DOCKER_CONFIG": str(tmp_path)}, tmp_path)
    with RegistryClient(basic_registry.host, fast_options(), source) as client:
        client.ping()


def test_env_credentials_log_in_to_a_token_registry(token_registry: RunningRegistry) -> None:
    env = {
        "COGW_REGISTRY_USERNAME": "cogw",
        "COGW_REGISTRY_PASSWORD": "s3cret",
        "COGW_REGISTRY_HOST": token_registry.host,
    }
    with RegistryClient(token_registry.host, fast_options(), EnvCredentials(env)) as client:
        client.ping()
        assert client.head_manifest(new_repo(), "latest") is None


def test_token_requests_are_retried_through_busy_answers_and_cut_short_bodies(
    token_registry: RunningRegistry,
) -> None:
    server = token_registry.token_server
    assert server is not None
    server.faults = [503, 429, 0]
    env = {
        "COGW_REGISTRY_USERNAME": "cogw",
        "COGW_REGISTRY_PASSWORD": "s3cret",
        "COGW_REGISTRY_HOST": token_registry.host,
    }
    with RegistryClient(token_registry.host, fast_options(), EnvCredentials(env)) as client:
        assert client.head_manifest(new_repo(), "latest") is None
    assert server.faults == []


# ---- downloads: resume, retries, corruption --------------------------------------------

ProxyFactory = Callable[[RunningRegistry], FaultProxy]


def pushed_blob(reg: RunningRegistry, size: int) -> tuple[str, bytes, str]:
    repo = new_repo("dl")
    data, digest = random_blob(size)
    with client_for(reg) as client:
        client.push_blob(repo, digest, size, chunks_of(data))
    return repo, data, digest


@pytest.mark.parametrize("action", ["reset", "truncate"], ids=["connection-reset", "truncated"])
def test_interrupted_blob_download_resumes_with_range_and_sends_each_byte_once(
    action: str, registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    repo, data, digest = pushed_blob(registry, 3 * MIB)
    proxy = fault_proxy(registry)
    cut = 1 * MIB + 123
    proxy.add(FaultRule(action, path="/blobs/sha256:", after_bytes=cut))  # type: ignore[arg-type]
    client = RegistryClient(proxy.host, fast_options())
    got = b"".join(client.iter_blob(repo, digest, expected_size=len(data), chunk_size=64 * KIB))
    assert got == data
    gets = proxy.requests_matching("GET", "/blobs/sha256:")
    assert len(gets) == 2
    assert "range" not in gets[0].headers
    resumed_at = int(gets[1].headers["range"].removeprefix("bytes=").removesuffix("-"))
    # A reset discards bytes still in flight; a clean close delivers all of them.
    assert 0 < resumed_at <= cut if action == "reset" else resumed_at == cut
    assert gets[1].status == 206
    assert gets[1].body_bytes_sent == len(data) - resumed_at


def test_stalled_blob_download_times_out_and_resumes(
    registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    repo, data, digest = pushed_blob(registry, 1 * MIB)
    proxy = fault_proxy(registry)
    proxy.add(FaultRule("stall", path="/blobs/sha256:", after_bytes=300 * KIB, stall_seconds=20))
    # Long enough that a loaded machine never times out before the stall itself (the
    # head then comes from the proxy's buffer at once), far shorter than the stall.
    client = RegistryClient(proxy.host, fast_options(read_timeout=1.5))
    assert b"".join(client.iter_blob(repo, digest, expected_size=len(data))) == data
    gets = proxy.requests_matching("GET", "/blobs/sha256:")
    assert [g.headers.get("range") for g in gets] == [None, f"bytes={300 * KIB}-"]


def test_blob_download_fails_after_the_retry_budget_when_every_attempt_breaks(
    registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    repo, _data, digest = pushed_blob(registry, 100 * KIB)
    proxy = fault_proxy(registry)
    proxy.add(FaultRule("reset", path="/blobs/sha256:", after_bytes=0, times=10))
    client = RegistryClient(proxy.host, fast_options(max_retries=2))
    with pytest.raises(RegistryError, match="giving up after 3 attempts"):
        b"".join(client.iter_blob(repo, digest))
    assert len(proxy.requests_matching("GET", "/blobs/sha256:")) == 3


@pytest.mark.parametrize("status", [503, 500, 408], ids=["503", "500", "408"])
def test_transient_status_is_retried(
    status: int, registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    repo, data, digest = pushed_blob(registry, 10 * KIB)
    proxy = fault_proxy(registry)
    proxy.add(FaultRule("status", path="/blobs/sha256:", status=status, times=2))
    notices: list[RetryNotice] = []
    client = RegistryClient(proxy.host, fast_options(on_retry=notices.append))
    assert b"".join(client.iter_blob(repo, digest)) == data
    assert [n.attempt for n in notices] == [1, 2]
    assert all(f"HTTP {status}" in n.reason for n in notices)
    assert len(proxy.requests_matching("GET", "/blobs/sha256:")) == 3


def test_too_many_requests_waits_for_retry_after_capped_by_the_options(
    registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    repo, data, digest = pushed_blob(registry, 10 * KIB)
    proxy = fault_proxy(registry)
    proxy.add(FaultRule("status", path="/blobs/sha256:", status=429, headers={"Retry-After": "7"}))
    proxy.add(FaultRule("status", path="/blobs/sha256:", status=429, headers={"Retry-After": "0"}))
    notices: list[RetryNotice] = []
    options = fast_options(on_retry=notices.append, retry_after_cap=0.05)
    client = RegistryClient(proxy.host, options)
    assert b"".join(client.iter_blob(repo, digest)) == data
    assert [n.delay for n in notices] == [0.05, 0.0]


def test_persistent_server_error_surfaces_status_and_code_after_retries(
    registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    proxy = fault_proxy(registry)
    proxy.add(FaultRule("status", path="/v2/", status=503, times=10))
    client = RegistryClient(proxy.host, fast_options(max_retries=1))
    with pytest.raises(RegistryError) as caught:
        client.ping()
    assert caught.value.status == 503
    assert caught.value.code == "UNAVAILABLE"


def test_corrupted_registry_blob_raises_digest_mismatch(registry: RunningRegistry) -> None:
    repo, data, digest = pushed_blob(registry, 64 * KIB)
    stored = registry.blob_path(digest)
    corrupted = bytearray(stored.read_bytes())
    corrupted[1000] ^= 0xFF
    stored.write_bytes(bytes(corrupted))
    client = client_for(registry)
    with pytest.raises(RegistryDigestMismatch, match=digest):
        b"".join(client.iter_blob(repo, digest, expected_size=len(data)))


def test_blob_of_unexpected_size_raises_digest_mismatch(registry: RunningRegistry) -> None:
    repo, data, digest = pushed_blob(registry, 64 * KIB)
    client = client_for(registry)
    with pytest.raises(RegistryDigestMismatch, match="expected"):
        b"".join(client.iter_blob(repo, digest, expected_size=len(data) - 1))
    with pytest.raises(RegistryDigestMismatch, match="expected"):
        b"".join(client.iter_blob(repo, digest, expected_size=len(data) + 1))


def test_missing_blob_raises_not_found(registry: RunningRegistry) -> None:
    with pytest.raises(RegistryNotFound) as caught:
        b"".join(client_for(registry).iter_blob(new_repo(), sha256_of(b"absent")))
    assert caught.value.status == 404


def test_cancelled_download_stops_with_registry_cancelled(registry: RunningRegistry) -> None:
    repo, _data, digest = pushed_blob(registry, 1 * MIB)
    cancel = threading.Event()
    chunks = client_for(registry).iter_blob(repo, digest, chunk_size=64 * KIB, cancel=cancel)
    next(chunks)
    cancel.set()
    with pytest.raises(RegistryCancelled):
        next(chunks)


def test_download_reports_every_byte_to_on_bytes(registry: RunningRegistry) -> None:
    repo, data, digest = pushed_blob(registry, 300 * KIB)
    counted: list[int] = []
    chunks = client_for(registry).iter_blob(repo, digest, on_bytes=counted.append)
    assert b"".join(chunks) == data
    assert sum(counted) == len(data)


def test_redirected_blob_download_never_sends_authorization_to_the_other_host(
    basic_registry: RunningRegistry, registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    # Blob storage stand-in: the anonymous registry behind a second proxy, named "localhost".
    repo, data, digest = pushed_blob(registry, 50 * KIB)
    with client_for(basic_registry) as client:
        client.push_blob(repo, digest, len(data), chunks_of(data))
    storage = fault_proxy(registry)
    front = fault_proxy(basic_registry)
    port = storage.host.rsplit(":", 1)[1]
    front.add(
        FaultRule("redirect", path="/blobs/sha256:", location=f"http://localhost:{port}{{path}}")
    )
    client = client_for(basic_registry, host=front.host)
    client.ping()  # learns the Basic challenge, so the blob GET carries credentials
    assert b"".join(client.iter_blob(repo, digest)) == data
    assert front.requests_matching("GET", "/blobs/")[0].headers["authorization"].startswith("Basic")
    assert [r.headers.get("authorization") for r in storage.recorded] == [None]


# ---- uploads ---------------------------------------------------------------------------

SMALL_CHUNKS: dict[str, object] = {"monolithic_limit": 256 * KIB, "chunk_size": 128 * KIB}


def read_back(reg: RunningRegistry, repo: str, digest: str) -> bytes:
    return b"".join(client_for(reg).iter_blob(repo, digest))


@pytest.mark.parametrize(
    ("size", "patches"),
    [(200 * KIB, 0), (256 * KIB, 0), (256 * KIB + 1, 3), (1 * MIB, 8)],
    ids=["monolithic", "monolithic-at-limit", "chunked-just-over", "chunked-exact-chunks"],
)
def test_push_blob_uploads_monolithic_or_in_chunks_by_size(
    size: int, patches: int, registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    proxy = fault_proxy(registry)
    repo = new_repo("up")
    data, digest = random_blob(size)
    sent: list[int] = []
    client = RegistryClient(proxy.host, fast_options(**SMALL_CHUNKS))
    result = client.push_blob(repo, digest, size, chunks_of(data, 50 * KIB), on_bytes=sent.append)
    assert result == "uploaded"
    assert sum(sent) == size
    patch_requests = proxy.requests_matching("PATCH", "/blobs/uploads/")
    assert len(patch_requests) == patches
    ranges = [r.headers["content-range"] for r in patch_requests]
    assert all(not r.startswith("bytes") for r in ranges)
    assert [r.headers["content-type"] for r in patch_requests] == [
        "application/octet-stream"
    ] * patches
    assert read_back(registry, repo, digest) == data


def test_push_blob_reports_exists_when_the_registry_already_has_it(
    registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    repo, data, digest = pushed_blob(registry, 20 * KIB)
    proxy = fault_proxy(registry)
    client = RegistryClient(proxy.host, fast_options())
    assert client.push_blob(repo, digest, len(data), chunks_of(data)) == "exists"
    assert [r.method for r in proxy.recorded if "/blobs/" in r.target] == ["HEAD"]


@pytest.mark.parametrize("mode", ["registry", "token_registry"], ids=["anonymous", "token"])
def test_push_blob_mounts_from_another_repository_without_uploading(
    mode: str, request: pytest.FixtureRequest, fault_proxy: ProxyFactory
) -> None:
    reg: RunningRegistry = request.getfixturevalue(mode)
    source, data, digest = pushed_blob(reg, 300 * KIB)
    target = new_repo("mount")
    proxy = fault_proxy(reg)
    client = client_for(reg, host=proxy.host)
    assert client.push_blob(target, digest, len(data), chunks_of(data), mount_from=[source]) == (
        "mounted"
    )
    assert proxy.requests_matching("PATCH", "/blobs/uploads/") == []
    assert proxy.requests_matching("PUT", "/blobs/uploads/") == []
    assert read_back(reg, target, digest) == data


def test_push_blob_uploads_when_the_mount_source_lacks_the_blob(registry: RunningRegistry) -> None:
    repo = new_repo("mount")
    data, digest = random_blob(10 * KIB)
    with client_for(registry) as client:
        result = client.push_blob(repo, digest, len(data), chunks_of(data), mount_from=[new_repo()])
    assert result == "uploaded"
    assert read_back(registry, repo, digest) == data


def wrong_content(data: bytes, kind: str) -> bytes:
    if kind == "short":
        return data[:-1]
    if kind == "long":
        return data + b"!"
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01
    return bytes(flipped)


@pytest.mark.parametrize("kind", ["short", "long", "flipped"])
@pytest.mark.parametrize("size", [100 * KIB, 700 * KIB], ids=["monolithic", "chunked"])
def test_stream_that_does_not_match_its_digest_is_cancelled_and_never_committed(
    kind: str, size: int, registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    proxy = fault_proxy(registry)
    repo = new_repo("bad")
    data, digest = random_blob(size)
    client = RegistryClient(proxy.host, fast_options(**SMALL_CHUNKS))
    with pytest.raises(RegistryDigestMismatch, match="cancelled"):
        client.push_blob(repo, digest, size, chunks_of(wrong_content(data, kind)))
    commits = [
        r for r in proxy.requests_matching("PUT", "/blobs/uploads/") if "digest=" in r.target
    ]
    assert commits == []
    assert len(proxy.requests_matching("DELETE", "/blobs/uploads/")) == 1
    assert client_for(registry).blob_exists(repo, digest) is False


CHUNK_RANGES = [f"{i * 128 * KIB}-{(i + 1) * 128 * KIB - 1}" for i in range(5)]


@pytest.mark.parametrize(
    ("fault", "forwarded_ranges", "sessions"),
    [
        # Refused before reaching the registry: ask it how much it kept, carry on.
        (FaultRule("status", method="PATCH", status=503, skip=2), CHUNK_RANGES, 1),
        # Reached it, answer lost: distribution's signed upload state is now stale and
        # the session cannot be resumed, so the blob starts over in a new session.
        (FaultRule("drop", method="PATCH", skip=2), CHUNK_RANGES[:3] + CHUNK_RANGES, 2),
    ],
    ids=["chunk-refused-resumes", "chunk-answer-lost-restarts"],
)
def test_failed_chunk_resumes_from_the_registry_offset_or_restarts_the_blob(
    fault: FaultRule,
    forwarded_ranges: list[str],
    sessions: int,
    registry: RunningRegistry,
    fault_proxy: ProxyFactory,
) -> None:
    proxy = fault_proxy(registry)
    repo = new_repo("resume")
    size = 640 * KIB  # five chunks
    data, digest = random_blob(size)
    proxy.add(fault)
    opened: list[int] = []

    def open_stream() -> Iterator[bytes]:
        opened.append(1)
        return chunks_of(data, 50 * KIB)()

    client = RegistryClient(proxy.host, fast_options(**SMALL_CHUNKS))
    assert client.push_blob(repo, digest, size, open_stream) == "uploaded"
    patches = proxy.requests_matching("PATCH", "/blobs/uploads/")
    assert [p.headers["content-range"] for p in patches if p.fault != "status"] == (
        forwarded_ranges
    )
    assert len(proxy.requests_matching("POST", "/blobs/uploads/")) == sessions
    assert len(opened) == 2
    assert read_back(registry, repo, digest) == data


@pytest.mark.parametrize(
    ("fault", "opens"),
    [
        (FaultRule("drop", method="PUT", path="/blobs/uploads/"), 1),
        (FaultRule("status", method="PUT", path="/blobs/uploads/", status=404), 2),
    ],
    ids=["commit-answer-lost", "upload-session-forgotten"],
)
def test_failed_commit_is_retried_or_the_whole_blob_restarts(
    fault: FaultRule, opens: int, registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    proxy = fault_proxy(registry)
    repo = new_repo("restart")
    data, digest = random_blob(100 * KIB)
    proxy.add(fault)
    opened: list[int] = []

    def open_stream() -> Iterator[bytes]:
        opened.append(1)
        return chunks_of(data)()

    client = RegistryClient(proxy.host, fast_options())
    assert client.push_blob(repo, digest, len(data), open_stream) == "uploaded"
    assert len(opened) == opens
    assert len(proxy.requests_matching("POST", "/blobs/uploads/")) == opens
    assert read_back(registry, repo, digest) == data


def test_expired_token_mid_upload_is_refreshed_once_and_the_upload_resumes(
    token_registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    server = token_registry.token_server
    assert server is not None
    proxy = fault_proxy(token_registry)
    challenge = f'Bearer realm="{server.realm}",service="cogw-registry"'
    proxy.add(
        FaultRule(
            "status",
            method="PATCH",
            path="/blobs/uploads/",
            status=401,
            headers={"WWW-Authenticate": challenge},
        )
    )
    repo = new_repo("tok")
    data, digest = random_blob(400 * KIB)
    client = client_for(token_registry, host=proxy.host, **SMALL_CHUNKS)
    client.ping()
    before = server.token_requests
    assert client.push_blob(repo, digest, len(data), chunks_of(data)) == "uploaded"
    # One token for the push scope, one refresh after the 401.
    assert server.token_requests - before == 2
    assert read_back(token_registry, repo, digest) == data


def test_cancelled_upload_stops_and_leaves_no_blob(registry: RunningRegistry) -> None:
    repo = new_repo("cancel")
    data, digest = random_blob(700 * KIB)
    cancel = threading.Event()

    def open_stream() -> Iterator[bytes]:
        for i, piece in enumerate(chunks_of(data)()):
            if i == 3:
                cancel.set()
            yield piece

    client = RegistryClient(registry.host, fast_options(**SMALL_CHUNKS))
    with pytest.raises(RegistryCancelled):
        client.push_blob(repo, digest, len(data), open_stream, cancel=cancel)
    assert client.blob_exists(repo, digest) is False


def test_cancelled_upload_closes_its_upload_session_with_a_delete(
    registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    repo = new_repo("cancel")
    data, digest = random_blob(700 * KIB)
    cancel = threading.Event()
    proxy = fault_proxy(registry)

    def open_stream() -> Iterator[bytes]:
        for i, piece in enumerate(chunks_of(data)()):
            if i == 3:
                cancel.set()
            yield piece

    client = RegistryClient(proxy.host, fast_options(**SMALL_CHUNKS))
    with pytest.raises(RegistryCancelled):
        client.push_blob(repo, digest, len(data), open_stream, cancel=cancel)
    deleted = proxy.requests_matching("DELETE", "/blobs/uploads/")
    assert len(deleted) == 1 and deleted[0].status in (202, 204), deleted
    assert client.blob_exists(repo, digest) is False


# ---- manifests -------------------------------------------------------------------------


def test_manifest_round_trip_is_byte_identical_by_tag_and_by_digest(
    registry: RunningRegistry,
) -> None:
    repo = new_repo("m")
    with client_for(registry) as client:
        raw, digest = push_artifact(client, repo)
        assert digest == sha256_of(raw)
        assert (
            client.put_manifest(repo, "weights-w-0123456789ab", raw, MEDIA_OCI_MANIFEST) == digest
        )
        by_tag = client.get_manifest(repo, "weights-w-0123456789ab")
        by_digest = client.get_manifest(repo, digest)
    assert by_tag.raw == raw and by_digest.raw == raw
    assert by_tag.digest == digest and by_digest.digest == digest
    assert by_tag.media_type == MEDIA_OCI_MANIFEST


def test_index_is_stored_and_returned_with_its_media_type(registry: RunningRegistry) -> None:
    repo = new_repo("idx")
    with client_for(registry) as client:
        raw, digest = push_artifact(client, repo)
        index = {
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_INDEX,
            "manifests": [
                {
                    "mediaType": MEDIA_OCI_MANIFEST,
                    "artifactType": "application/vnd.cog.weight.v1",
                    "digest": digest,
                    "size": len(raw),
                    "platform": {"os": "unknown", "architecture": "unknown"},
                }
            ],
        }
        index_raw = json.dumps(index).encode()
        index_digest = client.put_manifest(repo, "bundle", index_raw, MEDIA_OCI_INDEX)
        got = client.get_manifest(repo, "bundle")
        assert client.head_manifest(repo, "bundle") == index_digest
    assert (got.raw, got.media_type, got.digest) == (index_raw, MEDIA_OCI_INDEX, index_digest)


def test_missing_manifest_is_none_for_head_and_not_found_for_get(
    registry: RunningRegistry,
) -> None:
    repo = new_repo("none")
    with client_for(registry) as client:
        push_artifact(client, repo)
        assert client.head_manifest(repo, "nosuchtag") is None
        assert client.head_manifest(repo, sha256_of(b"nothing")) is None
        with pytest.raises(RegistryNotFound) as caught:
            client.get_manifest(repo, "nosuchtag")
    assert caught.value.code == "MANIFEST_UNKNOWN"


def test_manifest_altered_in_the_registry_raises_digest_mismatch(
    registry: RunningRegistry,
) -> None:
    repo = new_repo("alter")
    with client_for(registry) as client:
        _raw, digest = push_artifact(client, repo)
        stored = registry.blob_path(digest)
        stored.write_bytes(stored.read_bytes().replace(b'"w"', b'"x"'))
        with pytest.raises(RegistryDigestMismatch, match=digest):
            client.get_manifest(repo, digest)


def test_oversized_manifest_is_refused_before_sending(
    registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    proxy = fault_proxy(registry)
    raw = b'{"pad":"' + b"x" * (4 * MIB) + b'"}'
    with pytest.raises(RegistryError, match="at most"):
        RegistryClient(proxy.host, fast_options()).put_manifest("a/b", "t", raw, MEDIA_OCI_MANIFEST)
    assert proxy.requests_matching("PUT", "/manifests/") == []


def test_manifest_put_by_a_digest_that_is_not_its_own_is_refused(
    registry: RunningRegistry,
) -> None:
    raw = b'{"schemaVersion":2}'
    with pytest.raises(RegistryDigestMismatch):
        client_for(registry).put_manifest("a/b", sha256_of(b"other"), raw, MEDIA_OCI_MANIFEST)


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo (apt-get install skopeo)")
def test_skopeo_copies_a_pushed_weight_manifest_byte_for_byte(
    registry: RunningRegistry, tmp_path: Path
) -> None:
    repo = new_repo("skopeo")
    with client_for(registry) as client:
        raw, digest = push_artifact(client, repo, size=300 * KIB)
    out = tmp_path / "layout"
    done = subprocess.run(
        [
            "skopeo",
            "copy",
            "--src-tls-verify=false",
            f"docker://{registry.host}/{repo}@{digest}",
            f"oci:{out}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    blobs = out / "blobs" / "sha256"
    assert (blobs / digest.partition(":")[2]).read_bytes() == raw
    for blob in blobs.iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name


def test_token_server_answering_only_access_token_is_understood(
    token_registry: RunningRegistry,
) -> None:
    server = token_registry.token_server
    assert server is not None
    server.fields = ("access_token",)
    try:
        with client_for(token_registry) as client:
            client.ping()
            assert client.head_manifest(new_repo(), "latest") is None
    finally:
        server.fields = ("token", "access_token")


def test_upload_stream_with_empty_pieces_is_not_mistaken_for_a_short_stream(
    registry: RunningRegistry,
) -> None:
    repo = new_repo("empty-pieces")
    data, digest = random_blob(600 * KIB)

    def open_stream() -> Iterator[bytes]:
        for piece in chunks_of(data, 70 * KIB)():
            yield b""
            yield piece
        yield b""

    client = RegistryClient(registry.host, fast_options(**SMALL_CHUNKS))
    assert client.push_blob(repo, digest, len(data), open_stream) == "uploaded"
    assert read_back(registry, repo, digest) == data


@pytest.mark.parametrize(
    "ref",
    ["sha256:abc", "sha512:" + "a" * 128, "has space", "-leading-dash", "x" * 129, ""],
    ids=["short-digest", "other-algorithm", "space", "leading-dash", "too-long", "empty"],
)
def test_invalid_manifest_reference_is_refused_before_any_request(
    ref: str, registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    proxy = fault_proxy(registry)
    client = RegistryClient(proxy.host, fast_options())
    with pytest.raises(RegistryError):
        client.get_manifest("a/b", ref)
    with pytest.raises(RegistryError):
        client.head_manifest("a/b", ref)
    assert [r for r in proxy.recorded if "/manifests/" in r.target] == []


@pytest.mark.parametrize(
    "cut", [1, 64 * KIB, 200 * KIB + 7], ids=["one-byte", "chunk-boundary", "mid-chunk"]
)
def test_download_continues_when_the_server_ignores_range_and_delivers_each_byte_once(
    cut: int, registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    repo, data, digest = pushed_blob(registry, 1 * MIB)
    proxy = fault_proxy(registry)
    proxy.add(FaultRule("truncate", path="/blobs/sha256:", after_bytes=cut))
    proxy.add(FaultRule("ignore-range", path="/blobs/sha256:"))
    counted: list[int] = []
    client = RegistryClient(proxy.host, fast_options())
    chunks = client.iter_blob(
        repo, digest, expected_size=len(data), chunk_size=64 * KIB, on_bytes=counted.append
    )
    assert b"".join(chunks) == data
    assert sum(counted) == len(data)
    gets = proxy.requests_matching("GET", "/blobs/sha256:")
    assert [(g.headers.get("range"), g.status, g.fault) for g in gets] == [
        (None, 200, "truncate"),
        (f"bytes={cut}-", 200, "ignore-range"),
    ]
    assert gets[1].body_bytes_sent == len(data)


def test_server_ignoring_range_with_other_content_raises_digest_mismatch(
    registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    # The resumed answer is a different blob (a redirect to the wrong one): the bytes the
    # client drops are not checked, but the digest at the end catches the splice.
    repo, data, digest = pushed_blob(registry, 1 * MIB)
    with client_for(registry) as client:
        other, other_digest = random_blob(len(data))
        client.push_blob(repo, other_digest, len(other), chunks_of(other))
    proxy = fault_proxy(registry)
    proxy.add(FaultRule("truncate", path="/blobs/sha256:", after_bytes=300 * KIB))
    proxy.add(
        FaultRule("redirect", path="/blobs/sha256:", location=f"/v2/{repo}/blobs/{other_digest}")
    )
    proxy.add(FaultRule("ignore-range", path=other_digest))
    client = RegistryClient(proxy.host, fast_options())
    with pytest.raises(RegistryDigestMismatch, match=digest):
        b"".join(client.iter_blob(repo, digest, expected_size=len(data)))


@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=8), st.integers(0, 220))
def test_dropping_a_prefix_from_pieces_equals_slicing_the_joined_bytes(
    data: bytes, cuts: list[int], n: int
) -> None:
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
    assert b"".join(drop_first(pieces, n)) == data[n:]


# ---- cancellation of blocked transfers ---------------------------------------------------

STALL_SECONDS = 20
# Far below the stall and the read timeout, far above a prompt cancel on a loaded machine.
PROMPT_BOUND_SECONDS = 10


class StopWhenStuck:
    """Calls ``stop`` (cancel.set, client.abort) 0.3 s after the proxy began spoiling a
    request, so the client is stuck on that request whatever the machine's load; records
    when, so the promptness bound starts there."""

    def __init__(self, proxy: FaultProxy, method: str, stop: Callable[[], object]) -> None:
        self.stopped_at: float | None = None
        self._proxy, self._method, self._stop = proxy, method, stop
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        deadline = time.monotonic() + 60
        while not any(r.fault for r in self._proxy.requests_matching(self._method, "/v2/")):
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        time.sleep(0.3)
        self.stopped_at = time.monotonic()
        self._stop()

    def assert_prompt(self) -> None:
        assert self.stopped_at is not None, "the client never got stuck"
        assert time.monotonic() - self.stopped_at < PROMPT_BOUND_SECONDS


def test_cancel_breaks_a_download_stalled_mid_body_without_retrying(
    registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    repo, _data, digest = pushed_blob(registry, 1 * MIB)
    proxy = fault_proxy(registry)
    proxy.add(
        FaultRule(
            "stall", path="/blobs/sha256:", after_bytes=300 * KIB, stall_seconds=STALL_SECONDS
        )
    )
    client = RegistryClient(proxy.host, fast_options(read_timeout=60))
    cancel = threading.Event()
    received: list[bytes] = []
    stuck = StopWhenStuck(proxy, "GET", cancel.set)
    with pytest.raises(RegistryCancelled):
        for chunk in client.iter_blob(repo, digest, chunk_size=64 * KIB, cancel=cancel):
            received.append(chunk)
    stuck.assert_prompt()
    assert sum(map(len, received)) <= 300 * KIB
    assert len(proxy.requests_matching("GET", "/blobs/sha256:")) == 1


def test_cancel_breaks_a_download_waiting_for_the_answer(
    registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    repo, _data, digest = pushed_blob(registry, 100 * KIB)
    proxy = fault_proxy(registry)
    proxy.add(FaultRule("hang", path="/blobs/sha256:", stall_seconds=STALL_SECONDS))
    client = RegistryClient(proxy.host, fast_options(read_timeout=60))
    cancel = threading.Event()
    stuck = StopWhenStuck(proxy, "GET", cancel.set)
    with pytest.raises(RegistryCancelled):
        b"".join(client.iter_blob(repo, digest, cancel=cancel))
    stuck.assert_prompt()
    assert len(proxy.requests_matching("GET", "/blobs/sha256:")) == 1


@pytest.mark.parametrize(
    ("size", "method"),
    [(100 * KIB, "PUT"), (700 * KIB, "PATCH")],
    ids=["monolithic-put", "chunk-patch"],
)
def test_cancel_breaks_an_upload_the_registry_stopped_reading_and_commits_nothing(
    size: int, method: str, registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    proxy = fault_proxy(registry)
    proxy.add(FaultRule("hang", method=method, path="/blobs/uploads/", stall_seconds=STALL_SECONDS))
    repo = new_repo("cancel")
    data, digest = random_blob(size)
    client = RegistryClient(proxy.host, fast_options(read_timeout=60, **SMALL_CHUNKS))
    cancel = threading.Event()
    stuck = StopWhenStuck(proxy, method, cancel.set)
    with pytest.raises(RegistryCancelled):
        client.push_blob(repo, digest, size, chunks_of(data), cancel=cancel)
    stuck.assert_prompt()
    assert len(proxy.requests_matching("POST", "/blobs/uploads/")) == 1
    assert len(proxy.requests_matching(method, "/blobs/uploads/")) == 1
    assert client_for(registry).blob_exists(repo, digest) is False


def test_abort_breaks_a_stalled_download_and_refuses_later_operations(
    registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    repo, _data, digest = pushed_blob(registry, 1 * MIB)
    proxy = fault_proxy(registry)
    proxy.add(
        FaultRule(
            "stall", path="/blobs/sha256:", after_bytes=100 * KIB, stall_seconds=STALL_SECONDS
        )
    )
    client = RegistryClient(proxy.host, fast_options(read_timeout=60))
    client.ping()
    chunks = client.iter_blob(repo, digest, chunk_size=64 * KIB)
    next(chunks)  # the download is under way, about to block on the stalled body
    stuck = StopWhenStuck(proxy, "GET", client.abort)
    with pytest.raises(RegistryCancelled):
        b"".join(chunks)
    stuck.assert_prompt()
    pings = len(proxy.requests_matching("GET", "^/v2/$"))
    with pytest.raises(RegistryCancelled):
        client.ping()
    assert len(proxy.requests_matching("GET", "^/v2/$")) == pings


def test_cancel_set_during_a_retry_wait_stops_without_another_attempt(
    registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    repo, _data, digest = pushed_blob(registry, 10 * KIB)
    proxy = fault_proxy(registry)
    proxy.add(FaultRule("status", path="/blobs/sha256:", status=503, times=5))
    cancel = threading.Event()
    client = RegistryClient(
        proxy.host, fast_options(backoff_base=STALL_SECONDS, on_retry=lambda _n: cancel.set())
    )
    with pytest.raises(RegistryCancelled):
        b"".join(client.iter_blob(repo, digest, cancel=cancel))
    assert len(proxy.requests_matching("GET", "/blobs/sha256:")) == 1
