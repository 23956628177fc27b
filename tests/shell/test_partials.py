"""shell/partials.py and the partials part of shell/storetemps.py, on a real disk: the lock
that keeps a second pull out, the progress record a later pull resumes from, and which
leftovers the next command opening the store reclaims."""

from __future__ import annotations

import errno
import hashlib
import os
import time
from pathlib import Path

import pytest

from cogw.core.artifact.ranges import ByteRange
from cogw.core.artifact.resume import MAX_PARTIAL_AGE, Failure, PartialKey, Resume
from cogw.shell.layerstream import HostileLayer
from cogw.shell.partials import TamperedPartial, failure_of, open_partial
from cogw.shell.registry.errors import RegistryCancelled, RegistryDigestMismatch, RegistryError
from cogw.shell.store import Cancelled, FileStore, open_store
from cogw.shell.storetemps import reclaim_temp_files

DATA = os.urandom(3 << 20)
FILE = "sha256:" + hashlib.sha256(DATA).hexdigest()
KEY = PartialKey("sha256:" + "1" * 64, len(DATA) + 2048, FILE, len(DATA), 512)


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return open_store(tmp_path / "weights")


def _names(store: FileStore) -> list[str]:
    return sorted(p.name for p in store.blob_dir(FILE).iterdir())


def _half_written(store: FileStore) -> None:
    """A partial with its first MiB recorded as verified, its lock released."""
    partial = open_partial(store, KEY, 0, 1, time.time())
    os.pwrite(partial.fd, DATA[: 1 << 20], 0)
    prefix = "sha256:" + hashlib.sha256(DATA[: 1 << 20]).hexdigest()
    partial.checkpoint(1 << 20, prefix, (ByteRange(0, 1 << 20),))
    partial.close()


def test_a_recorded_partial_is_resumed_from_its_verified_prefix(store: FileStore) -> None:
    _half_written(store)
    partial = open_partial(store, KEY, 0, 1, time.time())
    try:
        assert partial.resumable and isinstance(partial.plan, Resume)
        assert partial.plan.verified == 1 << 20
        assert partial.plan.fetch == (ByteRange(1 << 20, len(DATA)),)
    finally:
        partial.close()


def test_a_second_writer_gets_a_private_temp_while_the_first_holds_the_partial(
    store: FileStore,
) -> None:
    _half_written(store)
    first = open_partial(store, KEY, 0, 1, time.time())
    second = open_partial(store, KEY, 0, 1, time.time())
    try:
        assert first.resumable and not second.resumable and second.plan is None
        assert second.path.name.startswith("put-")
        second.discard()
        assert first.path.exists() and first.plan is not None  # untouched by the second
    finally:
        first.close()
        second.close()


def test_a_partial_for_another_layer_is_started_over(store: FileStore) -> None:
    _half_written(store)
    other = PartialKey("sha256:" + "9" * 64, KEY.layer_size, FILE, KEY.file_size, 512)
    partial = open_partial(store, other, 0, 1, time.time())
    try:
        assert partial.plan is None and "another layer" in partial.why_not
        assert os.fstat(partial.fd).st_size == 0
        assert not any(n.endswith(".resume") for n in _names(store))
    finally:
        partial.close()


def test_the_next_store_opening_keeps_a_resumable_partial(store: FileStore) -> None:
    _half_written(store)
    before = _names(store)
    assert reclaim_temp_files(store.files_dir, time.time()) == []
    assert _names(store) == before and len(before) == 2


def test_a_partial_nobody_resumed_for_a_day_is_reclaimed(store: FileStore) -> None:
    _half_written(store)
    removed = reclaim_temp_files(store.files_dir, time.time() + MAX_PARTIAL_AGE + 60)
    assert len(removed) == 2 and _names(store) == []


def test_a_partial_whose_blob_exists_is_reclaimed(store: FileStore) -> None:
    _half_written(store)
    (store.blob_dir(FILE) / FILE.removeprefix("sha256:")).write_bytes(DATA)
    reclaim_temp_files(store.files_dir, time.time())
    assert _names(store) == [FILE.removeprefix("sha256:")]


def test_a_partial_without_its_record_and_a_stray_record_are_reclaimed(
    store: FileStore,
) -> None:
    partial = open_partial(store, KEY, 0, 1, time.time())
    os.pwrite(partial.fd, b"x" * 100, 0)
    partial.close()
    stray = store.blob_dir(FILE) / ("part-" + "4" * 64 + ".resume")
    stray.write_bytes(b"{}")
    reclaim_temp_files(store.files_dir, time.time())
    assert _names(store) == []


def test_a_partial_a_live_writer_holds_is_never_reclaimed(store: FileStore) -> None:
    partial = open_partial(store, KEY, 0, 1, time.time())
    try:
        assert reclaim_temp_files(store.files_dir, time.time() + 10 * MAX_PARTIAL_AGE) == []
        assert partial.path.exists()
    finally:
        partial.discard()
        partial.close()


@pytest.mark.parametrize(
    ("exc", "failure"),
    [
        (KeyboardInterrupt(), Failure.INTERRUPTED),
        (Cancelled("x"), Failure.INTERRUPTED),
        (RegistryCancelled("x"), Failure.INTERRUPTED),
        (RegistryError("connection reset"), Failure.NETWORK),
        (RegistryDigestMismatch("x"), Failure.CORRUPT),
        (HostileLayer("x"), Failure.CORRUPT),
        (TamperedPartial("x"), Failure.CORRUPT),
        (OSError(errno.ENOSPC, "No space left on device"), Failure.DISK),
    ],
)
def test_what_a_failure_means_for_the_partial(exc: BaseException, failure: Failure) -> None:
    assert failure_of(exc) is failure
