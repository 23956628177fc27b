"""The store copy a large file's push writes as it reads (shell/import_tee.py).

A real FileStore on disk and the real layer stream; the "push" is whoever reads the
stream, as the registry client does: all of it, then ``prove`` before the commit.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from pyrsistent import pvector

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.artifact.packing import LayerPlan
from cogw.core.lock.lockfile import MEDIA_TYPE_TAR
from cogw.core.plan.ingestway import copies_with_push
from cogw.shell.fs import LinkUnsupported, link_file
from cogw.shell.import_tee import WRITEBACK_BYTES, PushCopy
from cogw.shell.layers import LayerSourceError, digest_file_and_layer, stream_layer
from cogw.shell.registry.errors import RegistryDigestMismatch
from cogw.shell.registry.streams import HashingReader, SelfProvingStream, check_upload
from cogw.shell.store import FileStore, open_store


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def tensor(tmp_path: Path) -> tuple[Path, bytes]:
    # Larger than the writeback step, not a whole number of chunks: every path of the sink.
    data = os.urandom(WRITEBACK_BYTES + (3 << 20) + 12345)
    path = tmp_path / "src" / "model.safetensors"
    path.parent.mkdir()
    path.write_bytes(data)
    return path, data


def _plan(path: Path, data: bytes) -> tuple[LayerPlan, str]:
    f = InventoryFile("model.safetensors", len(data), _digest(data))
    plan = LayerPlan(pvector([f]), MEDIA_TYPE_TAR, None)
    with path.open("rb") as reader:
        _, layer = digest_file_and_layer(f.path, f.size, reader)
    return plan, layer.digest


def _where(plan: LayerPlan) -> tuple[str, int]:
    return plan.files[0].path, plan.files[0].size


def _store(tmp_path: Path) -> FileStore:
    return open_store(tmp_path / "cache")


def _temps(store: FileStore) -> list[Path]:
    return [p for p in store.files_dir.rglob("*") if p.is_file() and p.name.startswith("put-")]


def _push(stream: SelfProvingStream, layer_digest: str, size: int) -> bytes:
    """What the registry client does with the stream: take every byte, then prove it."""
    reader = HashingReader(stream)
    sent = b"".join(reader.take(size))
    check_upload(reader, layer_digest, size)
    return sent


def test_the_pushed_bytes_are_the_layer_and_the_copy_becomes_the_blob_at_the_proof(
    tmp_path, tensor
):
    path, data = tensor
    plan, layer_digest = _plan(path, data)
    store = _store(tmp_path)
    expected = b"".join(stream_layer(plan, lambda _: path.open("rb")))
    with PushCopy(store, *_where(plan), path, (_digest(data), layer_digest)) as copy:
        stream = copy.stream()
        assert isinstance(stream, SelfProvingStream)  # not hashed again by the client
        reader = HashingReader(stream)
        sent = b"".join(reader.take(len(expected)))
        assert not store.exists(_digest(data))  # nothing visible before the proof
        check_upload(reader, layer_digest, len(expected))
    assert sent == expected
    assert copy.stored
    assert store.path(_digest(data)).read_bytes() == data
    assert store.verify(_digest(data))
    assert _temps(store) == []


def test_a_file_rewritten_since_the_inventory_is_refused_and_nothing_is_stored(tmp_path, tensor):
    path, data = tensor
    plan, layer_digest = _plan(path, data)
    path.write_bytes(bytes(len(data)))  # same size, other bytes
    store = _store(tmp_path)
    with PushCopy(store, *_where(plan), path, (_digest(data), layer_digest)) as copy:
        stream = copy.stream()
        size = len(b"".join(stream_layer(plan, lambda _: path.open("rb"))))
        with pytest.raises(LayerSourceError, match="changed since it was inventoried"):
            _push(stream, layer_digest, size)
    assert not copy.stored
    assert not store.exists(_digest(data))
    assert _temps(store) == []


def test_a_layer_digest_that_does_not_frame_the_file_cancels_the_upload(tmp_path, tensor):
    # The layer digest came from the stat cache, not from this read: it is checked too.
    path, data = tensor
    plan, layer_digest = _plan(path, data)
    wrong = "sha256:" + "0" * 64
    store = _store(tmp_path)
    with PushCopy(store, *_where(plan), path, (_digest(data), wrong)) as copy:
        stream = copy.stream()
        size = len(b"".join(stream_layer(plan, lambda _: path.open("rb"))))
        with pytest.raises(RegistryDigestMismatch, match=layer_digest):
            _push(stream, wrong, size)
    assert not store.exists(_digest(data))
    assert _temps(store) == []


def test_a_retried_upload_starts_a_fresh_copy_and_only_the_last_stream_counts(tmp_path, tensor):
    path, data = tensor
    plan, layer_digest = _plan(path, data)
    store = _store(tmp_path)
    size = len(b"".join(stream_layer(plan, lambda _: path.open("rb"))))
    with PushCopy(store, *_where(plan), path, (_digest(data), layer_digest)) as copy:
        first = copy.stream()
        partial = HashingReader(first)
        b"".join(partial.take(5 << 20))  # the connection dropped here
        second = copy.stream()
        assert len(_temps(store)) == 1  # the first attempt's temp is gone
        reader = HashingReader(second)
        reader.skip(5 << 20)  # a resumed chunked upload reads the sent bytes again
        b"".join(reader.take(size - (5 << 20)))
        with pytest.raises(LayerSourceError, match="outlived its attempt"):
            first.prove()
        check_upload(reader, layer_digest, size)
    assert store.path(_digest(data)).read_bytes() == data
    assert _temps(store) == []


def test_a_push_that_never_read_its_stream_leaves_nothing(tmp_path, tensor):
    # The registry had the layer: the stream was opened (or not) and dropped unread.
    path, data = tensor
    plan, layer_digest = _plan(path, data)
    store = _store(tmp_path)
    with PushCopy(store, *_where(plan), path, (_digest(data), layer_digest)) as copy:
        copy.stream()
    assert not copy.stored
    assert _temps(store) == []
    with PushCopy(store, *_where(plan), path, (_digest(data), layer_digest)) as unopened:
        pass
    assert not unopened.stored and _temps(store) == []


def test_a_copy_that_cannot_be_written_fails_the_push_and_leaves_no_temp(
    tmp_path, tensor, monkeypatch
):
    # A closed descriptor stands in for a disk that refuses the write (EBADF, as ENOSPC
    # would): the error reaches the push, which stops, and the temp is removed.
    path, data = tensor
    plan, layer_digest = _plan(path, data)
    store = _store(tmp_path)
    real_open_temp = store.open_temp

    def read_only_temp(digest: str) -> tuple[int, Path]:
        fd, tmp = real_open_temp(digest)
        os.close(fd)
        return os.open(tmp, os.O_RDONLY), tmp

    monkeypatch.setattr(store, "open_temp", read_only_temp)
    size = len(b"".join(stream_layer(plan, lambda _: path.open("rb"))))
    with PushCopy(store, *_where(plan), path, (_digest(data), layer_digest)) as copy:
        stream = copy.stream()
        with pytest.raises(Exception, match=r"write the store copy of model\.safetensors"):
            _push(stream, layer_digest, size)
    assert not store.exists(_digest(data))
    assert _temps(store) == []


def test_the_store_is_asked_about_links_only_when_the_answer_decides():
    def never() -> bool:
        raise AssertionError("needs_copy was asked")

    assert copies_with_push("copy", False, never)
    assert not copies_with_push("copy", True, never)
    assert not copies_with_push("auto", True, never)
    assert not copies_with_push("hardlink", False, never)
    assert not copies_with_push("reflink", False, never)
    assert copies_with_push("auto", False, lambda: True)
    assert not copies_with_push("auto", False, lambda: False)


def _reflinks(directory: Path) -> bool:
    source, clone = directory / "probe-src", directory / "probe-clone"
    source.write_bytes(b"x" * 4096)
    try:
        link_file(source, clone, "reflink")
    except LinkUnsupported:
        return False
    finally:
        source.unlink()
        clone.unlink(missing_ok=True)
    return True


def test_needs_copy_links_where_it_can_and_leaves_no_trace(tmp_path, tensor):
    path, data = tensor
    store = _store(tmp_path)
    digest = _digest(data)
    # A writable file must be copied unless the filesystem clones it...
    assert store.needs_copy(digest, path) is not _reflinks(tmp_path)
    # ...and a read-only file of ours can always be hardlinked instead.
    path.chmod(0o444)
    assert store.needs_copy(digest, path) is False
    assert path.stat().st_nlink == 1
    assert _temps(store) == [] and not store.exists(digest)
