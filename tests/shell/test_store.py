"""FileStore on real disk: Cog's layout and messages, plus verified, atomic, read-only blobs."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cogw.shell.fs import CrossDeviceLink, LinkUnsupported
from cogw.shell.store import (
    CHUNK_SIZE,
    BlobNotFound,
    Cancelled,
    DigestMismatch,
    FileInfo,
    FileStore,
    InvalidDigest,
    LinkMode,
    SizeMismatch,
    StoreError,
    open_store,
)
from tests.shell.test_fs import mounted_tmpfs, mounted_xfs


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


DATA = b"model weights " * 10_000
DIGEST = digest_of(DATA)


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return open_store(tmp_path / "weights")


def leftovers(store: FileStore) -> list[str]:
    """Every file under files/sha256, blobs and temps alike, as relative paths."""
    found = []
    for directory, _, names in os.walk(store.files_dir):
        found += [os.path.relpath(os.path.join(directory, n), store.files_dir) for n in names]
    return sorted(found)


# --- digest validation: Cog's rejected examples, before any I/O --------------------------

REJECTED = [
    pytest.param("", 'invalid digest "": missing algorithm prefix', id="empty"),
    pytest.param("no-colon", 'invalid digest "no-colon": missing algorithm prefix', id="no colon"),
    pytest.param(
        "md5:" + "0" * 32,
        f'invalid digest "md5:{"0" * 32}": only sha256 is supported',
        id="md5",
    ),
    pytest.param(
        "sha256:", 'invalid digest "sha256:": expected 64 hex chars, got 0', id="empty hex"
    ),
    pytest.param(
        "sha256:tooShort",
        'invalid digest "sha256:tooShort": expected 64 hex chars, got 8',
        id="too short",
    ),
    pytest.param(
        "sha256:" + "Z" * 64,
        f'invalid digest "sha256:{"Z" * 64}": non-lowercase hex',
        id="upper case",
    ),
    pytest.param(
        "sha256:" + "g" * 64,
        f"invalid digest \"sha256:{'g' * 64}\": encoding/hex: invalid byte: U+0067 'g'",
        id="not hex",
    ),
]

OPERATIONS: dict[str, Callable[[FileStore, str], object]] = {
    "exists": lambda s, d: s.exists(d),
    "put_file": lambda s, d: s.put_file(d, 0, io.BytesIO(b"")),
    "ingest_path": lambda s, d: s.ingest_path(d, 0, Path("/nonexistent")),
    "path": lambda s, d: s.path(d),
    "delete": lambda s, d: s.delete(d),
    "verify": lambda s, d: s.verify(d),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize(("digest", "message"), REJECTED)
def test_every_operation_rejects_a_bad_digest_before_touching_disk(
    tmp_path: Path, operation: str, digest: str, message: str
) -> None:
    unopened = FileStore(tmp_path / "never-created")
    with pytest.raises(InvalidDigest) as caught:
        OPERATIONS[operation](unopened, digest)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)
    assert not unopened.root.exists()


# --- opening ------------------------------------------------------------------------------


def test_open_store_creates_the_cog_layout(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "cache" / "weights"))
    assert store.root == tmp_path / "cache" / "weights"
    assert (tmp_path / "cache" / "weights" / "files" / "sha256").is_dir()


def test_open_store_refuses_an_empty_root() -> None:
    with pytest.raises(StoreError, match=r"^file store: root directory must not be empty$"):
        open_store("")


def test_open_store_reports_a_root_it_cannot_create(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StoreError, match=r"^file store: create root: "):
        open_store(tmp_path / "file" / "weights")


# --- put / exists / path / list / delete -------------------------------------------------


def test_a_put_blob_exists_at_its_cog_path_read_only(store: FileStore) -> None:
    assert store.put_file(DIGEST, len(DATA), io.BytesIO(DATA)) is True
    hexpart = DIGEST.removeprefix("sha256:")
    blob = store.root / "files" / "sha256" / hexpart[:2] / hexpart
    assert store.exists(DIGEST)
    assert store.path(DIGEST) == blob
    assert blob.read_bytes() == DATA
    assert stat.S_IMODE(blob.stat().st_mode) == 0o444
    assert list(store.list()) == [FileInfo(DIGEST, len(DATA))]
    assert leftovers(store) == [f"{hexpart[:2]}/{hexpart}"]


def test_an_absent_blob_is_not_found_in_cogs_words(store: FileStore) -> None:
    assert store.exists(DIGEST) is False
    with pytest.raises(BlobNotFound) as caught:
        store.path(DIGEST)
    assert isinstance(caught.value, FileNotFoundError)
    assert str(caught.value) == f"path {DIGEST}: file does not exist"


def test_delete_removes_the_read_only_blob_and_is_idempotent(store: FileStore) -> None:
    store.put_file(DIGEST, len(DATA), io.BytesIO(DATA))
    store.delete(DIGEST)
    assert not store.exists(DIGEST)
    assert list(store.list()) == []
    store.delete(DIGEST)
    assert not store.exists(DIGEST)


def test_putting_a_present_blob_drains_the_reader_and_reports_no_write(store: FileStore) -> None:
    store.put_file(DIGEST, len(DATA), io.BytesIO(DATA))
    before = store.path(DIGEST).stat().st_ino
    reader = io.BytesIO(b"anything at all, even wrong bytes")
    assert store.put_file(DIGEST, len(DATA), reader) is False
    assert reader.read() == b""
    assert store.path(DIGEST).stat().st_ino == before


class _CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.asked: list[int] = []

    def read(self, n: int | None = -1) -> bytes:
        self.asked.append(-1 if n is None else n)
        return super().read(n)


def test_a_small_blob_is_read_as_promised_then_one_byte_for_its_end(store: FileStore) -> None:
    # Not read(1 MiB): a buffered file makes an object of the size asked for, even at its end.
    reader = _CountingReader(DATA)
    assert store.put_file(DIGEST, len(DATA), reader) is True
    assert reader.asked == [len(DATA), 1]


def test_a_negative_size_skips_the_size_check(store: FileStore) -> None:
    assert store.put_file(DIGEST, -1, io.BytesIO(DATA)) is True


def test_a_blob_spanning_several_read_chunks_is_stored_whole(store: FileStore) -> None:
    data = os.urandom(2 * CHUNK_SIZE + 1)
    assert store.put_file(digest_of(data), len(data), io.BytesIO(data)) is True
    assert store.path(digest_of(data)).read_bytes() == data
    assert store.verify(digest_of(data))


def test_an_empty_blob_can_be_stored(store: FileStore) -> None:
    assert store.put_file(digest_of(b""), 0, io.BytesIO(b"")) is True
    assert store.path(digest_of(b"")).read_bytes() == b""


def test_list_is_sorted_and_skips_temps_strays_and_directories(store: FileStore) -> None:
    blobs = [b"a", b"b", b"c", b"d"]
    for data in blobs:
        store.put_file(digest_of(data), len(data), io.BytesIO(data))
    hexpart = digest_of(b"a").removeprefix("sha256:")
    prefix_dir = store.files_dir / hexpart[:2]
    (prefix_dir / "put-123456").write_bytes(b"temp")
    (prefix_dir / ("Z" * 64)).write_bytes(b"not hex")
    (prefix_dir / (hexpart[:63] + "0")).mkdir()
    (store.files_dir / "zz").mkdir()
    (store.files_dir / "zz" / ("0" * 64)).write_bytes(b"wrong prefix dir")
    (store.files_dir / ("1" * 64)).write_bytes(b"not in a prefix dir")
    assert list(store.list()) == [FileInfo(d, 1) for d in sorted(map(digest_of, blobs))]


def test_list_of_a_store_without_files_dir_is_empty(tmp_path: Path) -> None:
    assert list(FileStore(tmp_path / "nothing-here").list()) == []


def test_verify_detects_a_blob_changed_behind_the_stores_back(store: FileStore) -> None:
    store.put_file(DIGEST, len(DATA), io.BytesIO(DATA))
    assert store.verify(DIGEST) is True
    blob = store.path(DIGEST)
    blob.chmod(0o644)
    blob.write_bytes(b"written through a mount hardlink")
    assert store.verify(DIGEST) is False


def test_verify_of_an_absent_blob_is_not_found(store: FileStore) -> None:
    with pytest.raises(BlobNotFound):
        store.verify(DIGEST)


# --- failed puts leave nothing -----------------------------------------------------------

BAD_STREAMS = [
    pytest.param(
        DATA[:-1], len(DATA), SizeMismatch,
        f"size mismatch for {DIGEST}: expected {len(DATA)} bytes, got {len(DATA) - 1}",
        id="truncated",
    ),
    pytest.param(
        DATA + b"!", len(DATA), SizeMismatch,
        f"size mismatch for {DIGEST}: expected {len(DATA)} bytes, got {len(DATA) + 1}",
        id="too long",
    ),
    pytest.param(
        DATA + bytes(3 * CHUNK_SIZE), len(DATA), SizeMismatch,
        f"size mismatch for {DIGEST}: expected {len(DATA)} bytes, got {len(DATA) + 3 * CHUNK_SIZE}",
        id="far too long",
    ),
    pytest.param(
        b"X" + DATA[1:], len(DATA), DigestMismatch,
        f"digest mismatch: expected {DIGEST}, got {digest_of(b'X' + DATA[1:])}",
        id="corrupted",
    ),
    pytest.param(
        DATA[:-1], -1, DigestMismatch,
        f"digest mismatch: expected {DIGEST}, got {digest_of(DATA[:-1])}",
        id="truncated, size unknown",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("data", "size", "error", "message"), BAD_STREAMS)
def test_a_bad_stream_is_rejected_and_leaves_no_blob_and_no_temp(
    store: FileStore, data: bytes, size: int, error: type[StoreError], message: str
) -> None:
    with pytest.raises(error) as caught:
        store.put_file(DIGEST, size, io.BytesIO(data))
    assert str(caught.value) == message
    assert not store.exists(DIGEST)
    assert leftovers(store) == []


class FailingReader(io.RawIOBase):
    """Yields ``good`` bytes, then calls ``fail`` on the next read (Cog's errReader)."""

    def __init__(self, good: bytes, fail: Callable[[], bytes]) -> None:
        self.good = good
        self.fail = fail

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.good:
            chunk, self.good = self.good[: max(size, 1)], self.good[max(size, 1) :]
            return chunk
        return self.fail()


class ReaderBroke(Exception):
    pass


def _interrupt() -> bytes:
    raise KeyboardInterrupt


def _break() -> bytes:
    raise ReaderBroke("connection reset")


@pytest.mark.parametrize(
    ("fail", "error"),
    [
        pytest.param(_interrupt, KeyboardInterrupt, id="ctrl-c mid-stream"),
        pytest.param(_break, ReaderBroke, id="reader error propagates unchanged"),
    ],
)
def test_a_stream_that_dies_midway_leaves_nothing(
    store: FileStore, fail: Callable[[], bytes], error: type[BaseException]
) -> None:
    reader = FailingReader(DATA, fail)
    with pytest.raises(error):
        store.put_file(DIGEST, len(DATA) + 1, reader)  # type: ignore[arg-type]
    assert not store.exists(DIGEST)
    assert leftovers(store) == []


def test_cancelling_stops_the_put_and_leaves_nothing(store: FileStore) -> None:
    cancel = threading.Event()

    def cancel_then_continue() -> bytes:
        cancel.set()
        return b"more"

    reader = FailingReader(DATA, cancel_then_continue)
    with pytest.raises(Cancelled):
        store.put_file(DIGEST, -1, reader, cancel=cancel)  # type: ignore[arg-type]
    assert leftovers(store) == []


def test_a_full_disk_is_a_store_error_and_leaves_nothing(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "small", "1m") as where:
        store = open_store(where / "weights")
        big = os.urandom(2 << 20)
        with pytest.raises(StoreError, match="No space left on device") as caught:
            store.put_file(digest_of(big), len(big), io.BytesIO(big))
        assert str(caught.value).startswith(f"write {digest_of(big)}: ")
        assert leftovers(store) == []


# --- concurrency --------------------------------------------------------------------------


def test_eight_threads_putting_the_same_blob_all_succeed(store: FileStore) -> None:
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def put() -> None:
        barrier.wait()
        try:
            store.put_file(DIGEST, len(DATA), io.BytesIO(DATA))
        except BaseException as err:  # collected so the main thread can assert on them
            errors.append(err)

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.path(DIGEST).read_bytes() == DATA
    assert len(leftovers(store)) == 1


def _put_in_child(root: str, start: multiprocessing.synchronize.Event) -> None:
    start.wait()
    FileStore(Path(root)).put_file(DIGEST, len(DATA), io.BytesIO(DATA))


def test_four_processes_putting_the_same_blob_all_succeed(store: FileStore) -> None:
    context = multiprocessing.get_context("fork")
    start = context.Event()
    children = [
        context.Process(target=_put_in_child, args=(str(store.root), start)) for _ in range(4)
    ]
    for child in children:
        child.start()
    start.set()
    for child in children:
        child.join(timeout=60)
    assert [child.exitcode for child in children] == [0, 0, 0, 0]
    assert store.path(DIGEST).read_bytes() == DATA
    assert len(leftovers(store)) == 1


# --- ingest_path --------------------------------------------------------------------------


def _source(directory: Path, data: bytes = DATA, mode: int = 0o644) -> Path:
    src = directory / "model.safetensors"
    src.write_bytes(data)
    src.chmod(mode)
    return src


def test_hardlink_ingest_makes_the_source_the_read_only_blob(
    store: FileStore, tmp_path: Path
) -> None:
    src = _source(tmp_path)
    assert store.ingest_path(DIGEST, len(DATA), src, "hardlink") is True
    assert store.path(DIGEST).stat().st_ino == src.stat().st_ino
    assert stat.S_IMODE(src.stat().st_mode) == 0o444
    assert len(leftovers(store)) == 1


@pytest.mark.parametrize(
    ("source_mode", "shares_inode"),
    [
        pytest.param(0o644, False, id="writable source is copied, never made read-only"),
        pytest.param(0o444, True, id="read-only source is hardlinked"),
    ],
)
def test_auto_ingest_on_ext4_hardlinks_only_read_only_sources(
    store: FileStore, tmp_path: Path, source_mode: int, shares_inode: bool
) -> None:
    src = _source(tmp_path, mode=source_mode)
    assert store.ingest_path(DIGEST, len(DATA), src) is True
    blob = store.path(DIGEST)
    assert (blob.stat().st_ino == src.stat().st_ino) is shares_inode
    assert stat.S_IMODE(src.stat().st_mode) == (0o444 if shares_inode else source_mode)
    assert stat.S_IMODE(blob.stat().st_mode) == 0o444
    assert blob.read_bytes() == DATA


def test_auto_ingest_asks_for_a_reflink_once_per_filesystem_that_refuses_it(
    store: FileStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cogw.shell.store as store_module

    modes: list[str] = []
    real = store_module.link_file

    def link_file(src: Path, dst: Path, mode: str) -> None:
        modes.append(mode)
        real(src, dst, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module, "link_file", link_file)
    bodies = [f"file {i}".encode() for i in range(5)]
    for i, body in enumerate(bodies):
        src = tmp_path / f"f{i}"
        src.write_bytes(body)
        assert store.ingest_path(digest_of(body), len(body), src) is True
    if store.path(digest_of(bodies[0])).stat().st_nlink == 1 and len(modes) == len(bodies):
        pytest.skip("this filesystem supports reflinks")
    assert modes == ["reflink"]  # ext4: refused once, then every file is copied
    assert all(store.path(digest_of(b)).read_bytes() == b for b in bodies)


def test_copy_ingest_leaves_the_source_alone(store: FileStore, tmp_path: Path) -> None:
    src = _source(tmp_path, mode=0o444)
    assert store.ingest_path(DIGEST, len(DATA), src, "copy") is True
    assert store.path(DIGEST).stat().st_ino != src.stat().st_ino
    assert src.stat().st_nlink == 1


def test_ingesting_a_present_blob_does_nothing(store: FileStore, tmp_path: Path) -> None:
    store.put_file(DIGEST, len(DATA), io.BytesIO(DATA))
    src = _source(tmp_path)
    assert store.ingest_path(DIGEST, len(DATA), src, "hardlink") is False
    assert src.stat().st_nlink == 1
    assert stat.S_IMODE(src.stat().st_mode) == 0o644


@pytest.mark.parametrize("mode", ["auto", "hardlink", "copy"])
def test_ingesting_a_source_with_other_content_leaves_nothing_and_source_untouched(
    store: FileStore, tmp_path: Path, mode: LinkMode
) -> None:
    src = _source(tmp_path, data=b"edited since the digest was taken", mode=0o644)
    with pytest.raises((SizeMismatch, DigestMismatch)):
        store.ingest_path(DIGEST, len(DATA), src, mode)
    assert leftovers(store) == []
    assert src.stat().st_nlink == 1
    assert stat.S_IMODE(src.stat().st_mode) == 0o644


def test_reflink_ingest_on_ext4_is_an_error_not_a_copy(store: FileStore, tmp_path: Path) -> None:
    src = _source(tmp_path)
    try:
        store.ingest_path(DIGEST, len(DATA), src, "reflink")
    except LinkUnsupported:
        assert leftovers(store) == []
    else:
        pytest.skip("this filesystem supports reflinks")


@pytest.fixture
def other_fs_source() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        yield _source(directory)
    finally:
        shutil.rmtree(directory)


def test_hardlink_ingest_across_filesystems_names_the_cache_dir_setting(
    store: FileStore, other_fs_source: Path
) -> None:
    with pytest.raises(CrossDeviceLink, match="COG_CACHE_DIR"):
        store.ingest_path(DIGEST, len(DATA), other_fs_source, "hardlink")
    assert leftovers(store) == []


def test_auto_ingest_across_filesystems_falls_back_to_a_copy(
    store: FileStore, other_fs_source: Path
) -> None:
    other_fs_source.chmod(0o444)
    assert store.ingest_path(DIGEST, len(DATA), other_fs_source) is True
    assert store.path(DIGEST).read_bytes() == DATA


@pytest.mark.parametrize("mode", ["auto", "reflink"])
def test_ingest_on_xfs_clones_without_touching_the_source(tmp_path: Path, mode: LinkMode) -> None:
    with mounted_xfs(tmp_path / "xfs") as where:
        store = open_store(where / "weights")
        src = _source(where)
        assert store.ingest_path(DIGEST, len(DATA), src, mode) is True
        blob = store.path(DIGEST)
        assert blob.stat().st_ino != src.stat().st_ino
        assert stat.S_IMODE(src.stat().st_mode) == 0o644
        assert blob.read_bytes() == DATA
        assert store.verify(DIGEST)


def test_opening_the_store_reclaims_temp_files_no_live_process_owns(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    from cogw.shell.store import open_store
    from cogw.shell.storetemps import STALE_TEMP_AGE

    prefix = tmp_path / "files" / "sha256" / "ab"
    prefix.mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    orphan = prefix / f"put-{dead_pid}-0123456789abcdef"
    live = prefix / f"put-{os.getpid()}-0123456789abcdef"
    foreign_fresh = prefix / "put-1234abcd"
    foreign_old = prefix / "put-5678abcd"
    blob = prefix / ("ab" + "0" * 62)
    for path in (orphan, live, foreign_fresh, foreign_old, blob):
        path.write_bytes(b"partial")
    old = time.time() - STALE_TEMP_AGE - 60
    os.utime(foreign_old, (old, old))

    open_store(tmp_path)
    assert sorted(p.name for p in prefix.iterdir()) == sorted(
        [live.name, foreign_fresh.name, blob.name]
    )


def test_store_temp_files_carry_the_writers_pid(tmp_path: Path) -> None:
    import threading

    from cogw.shell.store import open_store

    store = open_store(tmp_path)
    seen: list[str] = []
    data = b"x" * 10

    class Watching(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            seen.extend(p.name for p in store.files_dir.glob("*/put-*"))
            return super().read(size)

    store.put_file(digest_of(data), len(data), Watching(data), cancel=threading.Event())
    assert seen and all(name.startswith(f"put-{os.getpid()}-") for name in seen)
