"""Staged uploads against the real registry: every byte sent before the digest is known,
nothing visible until the commit names it, nothing left when it is cancelled."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from cogw.core.digest import sha256_of
from cogw.shell.registry import RegistryClient, RegistryError
from cogw.shell.registry.streams import SelfProvingStream
from tests.fixtures.registry import RunningRegistry
from tests.shell.test_registry import (
    KIB,
    SMALL_CHUNKS,
    ProxyFactory,
    chunks_of,
    fast_options,
    new_repo,
    random_blob,
)


class Proven:
    """A stream that proves itself the way the import's copy does: by hashing what it
    hands out; ``refuse`` makes the proof fail."""

    def __init__(self, data: bytes, refuse: bool = False) -> None:
        self._pieces = chunks_of(data)()
        self._hasher = hashlib.sha256()
        self._refuse = refuse
        self.digest: str | None = None

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._pieces:
            self._hasher.update(piece)
            yield piece

    def prove(self) -> None:
        if self._refuse:
            raise ValueError("the file changed")
        self.digest = "sha256:" + self._hasher.hexdigest()


def test_a_staged_blob_is_invisible_until_its_commit_names_its_digest(
    registry: RunningRegistry,
) -> None:
    repo = new_repo("staged")
    data, digest = random_blob(700 * KIB)
    stream = Proven(data)
    assert isinstance(stream, SelfProvingStream)
    client = RegistryClient(registry.host, fast_options(**SMALL_CHUNKS))
    staged = client.stage_blob(repo, len(data), lambda: stream)
    assert stream.digest == digest
    assert client.blob_exists(repo, digest) is False
    client.commit_staged(staged, digest)
    assert client.blob_exists(repo, digest) is True
    assert b"".join(client.iter_blob(repo, digest)) == data


def test_a_commit_under_another_digest_is_refused_by_the_registry(
    registry: RunningRegistry,
) -> None:
    repo = new_repo("staged")
    data, digest = random_blob(300 * KIB)
    client = RegistryClient(registry.host, fast_options(**SMALL_CHUNKS))
    staged = client.stage_blob(repo, len(data), lambda: Proven(data))
    wrong = sha256_of(b"something else")
    with pytest.raises(RegistryError):
        client.commit_staged(staged, wrong)
    assert client.blob_exists(repo, wrong) is False
    assert client.blob_exists(repo, digest) is False


def test_a_cancelled_staged_upload_is_deleted_and_never_committed(
    registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    repo = new_repo("staged")
    data, digest = random_blob(500 * KIB)
    proxy = fault_proxy(registry)
    client = RegistryClient(proxy.host, fast_options(**SMALL_CHUNKS))
    staged = client.stage_blob(repo, len(data), lambda: Proven(data))
    client.cancel_staged(staged)
    deleted = proxy.requests_matching("DELETE", "/blobs/uploads/")
    assert len(deleted) == 1 and deleted[0].status in (202, 204), deleted
    assert proxy.requests_matching("PUT", "/blobs/uploads/") == []
    assert client.blob_exists(repo, digest) is False


def test_a_stream_whose_proof_fails_is_cancelled_before_any_commit(
    registry: RunningRegistry, fault_proxy: ProxyFactory
) -> None:
    repo = new_repo("staged")
    data, digest = random_blob(500 * KIB)
    proxy = fault_proxy(registry)
    client = RegistryClient(proxy.host, fast_options(**SMALL_CHUNKS))
    with pytest.raises(ValueError, match="the file changed"):
        client.stage_blob(repo, len(data), lambda: Proven(data, refuse=True))
    assert len(proxy.requests_matching("DELETE", "/blobs/uploads/")) == 1
    assert proxy.requests_matching("PUT", "/blobs/uploads/") == []
    assert client.blob_exists(repo, digest) is False


def test_a_pushed_self_proving_stream_is_checked_by_its_proof_not_hashed_again(
    registry: RunningRegistry,
) -> None:
    # push_blob with a stream that proves itself: a failing proof cancels the upload even
    # though the bytes are right (the proof, not a second hash, decides).
    repo = new_repo("proven")
    data, digest = random_blob(700 * KIB)
    client = RegistryClient(registry.host, fast_options(**SMALL_CHUNKS))
    with pytest.raises(ValueError, match="the file changed"):
        client.push_blob(repo, digest, len(data), lambda: Proven(data, refuse=True))
    assert client.blob_exists(repo, digest) is False
    assert client.push_blob(repo, digest, len(data), lambda: Proven(data)) == "uploaded"
    assert client.blob_exists(repo, digest) is True
