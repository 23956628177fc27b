"""Batched puts: nothing is visible before its bytes are synced, and everything after."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

import cogw.shell.storebatch as storebatch
from cogw.shell.store import DigestMismatch, open_store
from cogw.shell.storebatch import BatchedStore, batched


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


BODIES = [f"file {i}\n".encode() * (i + 1) for i in range(20)]


def _temps(root: Path) -> list[Path]:
    return sorted(root.rglob("put-*"))


def _put_all(store: object) -> None:
    for body in BODIES:
        store.put_file(_digest(body), len(body), io.BytesIO(body))  # type: ignore[attr-defined]


@pytest.mark.parametrize("syncfs", [True, False], ids=["syncfs", "fsync-each"])
def test_no_blob_is_visible_until_the_batch_synced_its_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncfs: bool
):
    store = open_store(tmp_path / "weights")
    syncs: list[list[bool]] = []  # at each sync: which blobs were already visible
    real_sync, real_fsync = storebatch.sync_filesystem, storebatch._fsync_path

    def visible() -> list[bool]:
        return [store.exists(_digest(b)) for b in BODIES]

    def sync_filesystem(directory: Path) -> bool:
        syncs.append(visible())
        return real_sync(directory) if syncfs else False

    def fsync_path(path: Path, directory: bool = False) -> None:
        syncs.append(visible())
        real_fsync(path, directory)

    monkeypatch.setattr(storebatch, "sync_filesystem", sync_filesystem)
    monkeypatch.setattr(storebatch, "_fsync_path", fsync_path)
    with batched(store) as batch:
        assert isinstance(batch, BatchedStore)
        _put_all(batch)
        assert not any(visible())
        assert len(_temps(tmp_path)) == len(BODIES)
    assert all(visible()) and _temps(tmp_path) == []
    first_data_sync = syncs[0]
    assert not any(first_data_sync)  # bytes flushed before any name points at them
    assert any(all(seen) for seen in syncs)  # and the names flushed once they exist
    assert all(store.verify(_digest(b)) for b in BODIES)


def test_a_failed_batch_keeps_the_verified_files_and_no_temp(tmp_path: Path):
    store = open_store(tmp_path / "weights")
    with pytest.raises(DigestMismatch), batched(store) as batch:
        _put_all(batch)
        batch.put_file(_digest(b"other"), 5, io.BytesIO(b"wrong"))
    assert all(store.exists(_digest(b)) for b in BODIES)
    assert not store.exists(_digest(b"other"))
    assert _temps(tmp_path) == []


def test_an_interrupted_batch_leaves_nothing(tmp_path: Path):
    store = open_store(tmp_path / "weights")
    with pytest.raises(KeyboardInterrupt), batched(store) as batch:
        _put_all(batch)
        raise KeyboardInterrupt
    assert not any(store.exists(_digest(b)) for b in BODIES)
    assert _temps(tmp_path) == []


def test_a_store_that_is_not_on_disk_is_used_as_it_is():
    marker = object()
    with batched(marker) as same:
        assert same is marker


def test_a_digest_said_absent_skips_the_check_and_a_twin_already_there_is_kept(tmp_path: Path):
    store = open_store(tmp_path / "weights")
    there, fresh = BODIES[0], BODIES[1]
    store.put_file(_digest(there), len(there), io.BytesIO(there))
    inode = store.path(_digest(there)).stat().st_ino
    checked: list[str] = []
    with batched(store, {_digest(there), _digest(fresh)}) as batch:
        real_exists = batch.exists
        batch.exists = lambda d: checked.append(d) or real_exists(d)  # type: ignore[method-assign]
        for body in (there, fresh, BODIES[2]):
            batch.put_file(_digest(body), len(body), io.BytesIO(body))
    assert checked == [_digest(BODIES[2])]  # only the one not said absent was stat'ed
    assert store.path(_digest(there)).stat().st_ino == inode  # the twin was not replaced
    assert all(store.verify(_digest(b)) for b in BODIES[:3]) and _temps(tmp_path) == []
