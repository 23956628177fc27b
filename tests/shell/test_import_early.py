"""Uploads an import starts while it plans (shell/import_early.py), against the real
registry and a real store: adopted only for the planned digests, cancelled otherwise."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from pyrsistent import pvector

from cogw.core.artifact.inventory import Inventory, InventoryFile
from cogw.core.config.weights import ProjectConfig, WeightSpec
from cogw.shell.import_early import EarlyPushes
from cogw.shell.layers import digest_file_and_layer
from cogw.shell.registry import RegistryClient
from cogw.shell.store import FileStore, open_store
from tests.fixtures.registry import RunningRegistry
from tests.shell.test_registry import SMALL_CHUNKS, ProxyFactory, fast_options, new_repo

URI = "file://./weights/alpha"


def _config(include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> ProjectConfig:
    spec = WeightSpec("alpha", "/src/alpha", URI, pvector(include), pvector(exclude))
    return ProjectConfig(weights=pvector([spec]))


@pytest.fixture
def tensor(tmp_path: Path) -> tuple[Path, bytes, str, str]:
    data = os.urandom(3 << 20)
    path = tmp_path / "src" / "model.safetensors"
    path.parent.mkdir()
    path.write_bytes(data)
    with path.open("rb") as reader:
        digest, layer = digest_file_and_layer("model.safetensors", len(data), reader)
    return path, data, digest, layer.digest


def _early(
    client: RegistryClient, repo: str, store: FileStore, config: ProjectConfig, limit: int = 4
) -> EarlyPushes:
    return EarlyPushes(config, store, lambda: (client, repo), "copy", limit)


def _uploads_left(registry: RunningRegistry, repo: str) -> list[Path]:
    uploads = registry.root / "docker/registry/v2/repositories" / repo / "_uploads"
    return sorted(uploads.iterdir()) if uploads.exists() else []


def _nothing(_: int) -> None:
    pass


def test_an_upload_started_while_planning_is_adopted_for_the_planned_digests(
    registry: RunningRegistry, tmp_path: Path, tensor
) -> None:
    path, data, digest, layer_digest = tensor
    repo = new_repo("early")
    client = RegistryClient(registry.host, fast_options(**SMALL_CHUNKS))
    store = open_store(tmp_path / "cache")
    early = _early(client, repo, store, _config())
    hashed = early.reader_hook(URI, None)("model.safetensors", path, len(data))
    assert hashed is not None
    push = early.take(path)
    assert push is not None and early.take(path) is None  # adopted once
    sent: list[int] = []
    assert push.adopt(digest, layer_digest, "", sent.append)
    push.close()
    early.close()
    assert client.blob_exists(repo, layer_digest)
    assert sum(sent) > len(data)  # the layer's bytes, framing included, were reported
    assert store.path(digest).read_bytes() == data  # copied from the upload's reads
    assert _uploads_left(registry, repo) == []


def test_an_upload_whose_reads_are_not_the_plan_is_cancelled_and_never_committed(
    registry: RunningRegistry, fault_proxy: ProxyFactory, tmp_path: Path, tensor
) -> None:
    path, data, _, layer_digest = tensor
    repo = new_repo("early")
    proxy = fault_proxy(registry)
    client = RegistryClient(proxy.host, fast_options(**SMALL_CHUNKS))
    early = _early(client, repo, open_store(tmp_path / "cache"), _config())
    early.reader_hook(URI, None)("model.safetensors", path, len(data))
    push = early.take(path)
    assert push is not None
    other = "sha256:" + hashlib.sha256(b"the plan saw other bytes").hexdigest()
    assert not push.adopt(other, layer_digest, "", _nothing)
    push.close()
    assert proxy.requests_matching("PUT", "/blobs/uploads/") == []
    assert len(proxy.requests_matching("DELETE", "/blobs/uploads/")) == 1
    assert not client.blob_exists(repo, layer_digest)


def test_the_command_ending_cancels_every_upload_nobody_adopted(
    registry: RunningRegistry, tmp_path: Path, tensor
) -> None:
    path, data, _, layer_digest = tensor
    repo = new_repo("early")
    client = RegistryClient(registry.host, fast_options(**SMALL_CHUNKS))
    early = _early(client, repo, open_store(tmp_path / "cache"), _config())
    early.reader_hook(URI, None)("model.safetensors", path, len(data))
    early.close()
    assert early.take(path) is None
    assert not client.blob_exists(repo, layer_digest)
    assert _uploads_left(registry, repo) == []


def test_a_layer_the_registry_has_stops_the_upload_once_the_file_is_hashed(
    registry: RunningRegistry, fault_proxy: ProxyFactory, tmp_path: Path, tensor
) -> None:
    path, data, digest, layer_digest = tensor
    repo = new_repo("early")
    client = RegistryClient(registry.host, fast_options(**SMALL_CHUNKS))
    with path.open("rb") as reader:
        body = reader.read()
    before, after = _framing(len(data))
    client.push_blob(repo, layer_digest, len(before + body + after), lambda: [before, body, after])
    proxy = fault_proxy(registry)
    slow = RegistryClient(proxy.host, fast_options(**SMALL_CHUNKS))
    early = _early(slow, repo, open_store(tmp_path / "cache"), _config())
    hashed = early.reader_hook(URI, None)("model.safetensors", path, len(data))
    assert hashed is not None
    push = early.take(path)
    assert push is not None
    push._thread.join()  # the worst case: every byte sent before the registry is asked
    hashed(digest, layer_digest)
    assert not push.adopt(digest, layer_digest, "", _nothing)  # pushed as usual: "exists"
    push.close()
    early.close()
    assert proxy.requests_matching("PUT", "/blobs/uploads/") == []


def _framing(size: int) -> tuple[bytes, bytes]:
    from cogw.core.artifact.tarformat import standalone_framing

    return standalone_framing("model.safetensors", size)


Hook = Callable[[str, Path, int], object]


@pytest.mark.parametrize(
    ("config", "recorded", "why"),
    [
        (_config(exclude=("*.safetensors",)), None, "the weight's filters drop it"),
        (_config(), "same size", "weights.lock records it with this size"),
    ],
)
def test_no_upload_starts_for_a_file_the_plan_will_not_push(
    registry: RunningRegistry, tmp_path: Path, tensor, config, recorded, why
) -> None:
    path, data, digest, _ = tensor
    client = RegistryClient(registry.host, fast_options(**SMALL_CHUNKS))
    early = _early(client, new_repo("early"), open_store(tmp_path / "cache"), config)
    lock = (
        Inventory(pvector([InventoryFile("model.safetensors", len(data), digest)]), "sha256:x")
        if recorded
        else None
    )
    hook: Hook = early.reader_hook(URI, lock)
    assert hook("model.safetensors", path, len(data)) is None, why
    assert early.take(path) is None
    early.close()


def test_no_more_uploads_start_than_the_limit(
    registry: RunningRegistry, tmp_path: Path, tensor
) -> None:
    path, data, _, _ = tensor
    second = path.with_name("second.safetensors")
    second.write_bytes(data[::-1])
    client = RegistryClient(registry.host, fast_options(**SMALL_CHUNKS))
    early = _early(client, new_repo("early"), open_store(tmp_path / "cache"), _config(), limit=1)
    hook = early.reader_hook(URI, None)
    assert hook("model.safetensors", path, len(data)) is not None
    assert hook("second.safetensors", second, len(data)) is None
    early.close()
