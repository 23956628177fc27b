"""Streaming hashing, parallel hashing and the SQLite stat cache, on real files."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cogw.shell import hashing
from cogw.shell.hashing import (
    HashCancelled,
    NotRegularFile,
    SourceChanged,
    cache_answers,
    hash_file,
    hash_files,
)
from cogw.shell.statcache import (
    FLUSH_EVERY,
    StatCache,
    batch_size,
    cached_layer_digest,
    framing_key,
)

OLD_NS = 1_600_000_000 * 10**9  # a modification time far in the past: safe to cache


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write(path: Path, data: bytes, *, old: bool = True) -> Path:
    path.write_bytes(data)
    if old:
        os.utime(path, ns=(OLD_NS, OLD_NS))
    return path


class ByteCounter:
    """on_bytes callback that counts what was actually read, from any thread."""

    def __init__(self) -> None:
        self.total = 0
        self._lock = threading.Lock()

    def __call__(self, n: int) -> None:
        with self._lock:
            self.total += n


@pytest.mark.parametrize(
    "size",
    [0, 1, 7, 8, 9, 64, 1000],
    ids=["empty", "one-byte", "under-a-chunk", "exactly-a-chunk", "chunk-plus-one", "many", "more"],
)
def test_file_digest_and_size_match_hashlib_for_any_chunk_alignment(
    tmp_path: Path, size: int
) -> None:
    data = os.urandom(size)
    counter = ByteCounter()
    result = hash_file(write(tmp_path / "f", data), chunk_size=8, on_bytes=counter)
    assert (result.digest, result.size, result.layer_digest) == (sha(data), size, None)
    assert counter.total == size


def test_one_read_feeds_the_file_digest_and_the_framed_layer_digest(tmp_path: Path) -> None:
    data = b"weights" * 1000
    prefix, suffix = b"H" * 1536, b"\0" * 1024
    result = hash_file(write(tmp_path / "f", data), framing=(prefix, suffix), chunk_size=100)
    assert result.digest == sha(data)
    assert result.layer_digest == sha(prefix + data + suffix)


@settings(max_examples=30, deadline=None)
@given(
    data=st.binary(max_size=3000),
    prefix=st.binary(max_size=600),
    suffix=st.binary(max_size=600),
    chunk=st.integers(min_value=1, max_value=4096),
)
def test_hash_file_agrees_with_hashlib_for_any_content_framing_and_chunk_size(
    data: bytes, prefix: bytes, suffix: bytes, chunk: int
) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = write(Path(d) / "f", data)
        result = hash_file(path, framing=(prefix, suffix), chunk_size=chunk)
    assert (result.digest, result.size) == (sha(data), len(data))
    assert result.layer_digest == sha(prefix + data + suffix)


def test_a_file_that_grows_while_being_read_raises_source_changed(tmp_path: Path) -> None:
    path = write(tmp_path / "f", b"x" * 64)

    def append_once(n: int) -> None:
        if path.stat().st_size == 64:
            with path.open("ab") as f:
                f.write(b"more")

    with pytest.raises(SourceChanged, match="changed while it was being read") as info:
        hash_file(path, chunk_size=16, on_bytes=append_once)
    assert info.value.path == path


def test_a_file_rewritten_in_place_while_being_read_raises_source_changed(tmp_path: Path) -> None:
    path = write(tmp_path / "f", b"a" * 64)

    def rewrite_same_size(n: int) -> None:
        with path.open("r+b") as f:
            f.write(b"b" * 64)
        os.utime(path, ns=(OLD_NS + 5, OLD_NS + 5))

    with pytest.raises(SourceChanged):
        hash_file(path, chunk_size=16, on_bytes=rewrite_same_size)


def test_a_set_cancel_event_stops_hashing(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(HashCancelled):
        hash_file(write(tmp_path / "f", b"data"), cancel=cancel)


@pytest.mark.timeout(10)
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(NotRegularFile):
        hash_file(tmp_path / "pipe")


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotRegularFile):
        hash_file(tmp_path)


def test_parallel_results_come_back_in_input_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hashing, "CHUNK_SIZE", 4096)
    contents = [os.urandom(n * 997 % 50_000) for n in range(40)]
    paths = [write(tmp_path / f"f{i:02}", data) for i, data in enumerate(contents)]
    counter = ByteCounter()
    results = hash_files(paths[::-1], jobs=8, cache=None, on_bytes=counter)
    assert [r.digest for r in results] == [sha(d) for d in contents[::-1]]
    assert counter.total == sum(len(d) for d in contents)


def test_parallel_framings_apply_to_their_own_file(tmp_path: Path) -> None:
    a, b = write(tmp_path / "a", b"alpha"), write(tmp_path / "b", b"beta")
    results = hash_files([a, b], jobs=2, cache=None, framings=[None, (b"<", b">")])
    assert results[0].layer_digest is None
    assert results[1].layer_digest == sha(b"<beta>")


def test_the_first_failure_is_raised_not_the_cancellations_it_caused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hashing, "CHUNK_SIZE", 512)
    paths = [write(tmp_path / f"f{i}", b"x" * 10_000) for i in range(20)]
    paths.insert(5, tmp_path / "missing")
    with pytest.raises(FileNotFoundError):
        hash_files(paths, jobs=4, cache=None)


def test_a_cache_hit_reads_no_bytes(tmp_path: Path) -> None:
    paths = [write(tmp_path / f"f{i}", os.urandom(5000)) for i in range(5)]
    with StatCache(tmp_path / "cache.sqlite") as cache:
        cold, warm = ByteCounter(), ByteCounter()
        first = hash_files(paths, jobs=2, cache=cache, on_bytes=cold)
        second = hash_files(paths, jobs=2, cache=cache, on_bytes=warm)
    assert first == second
    assert (cold.total, warm.total) == (25_000, 0)


def test_a_cache_hit_trusts_the_stat_key_and_a_new_mtime_invalidates_it(tmp_path: Path) -> None:
    # Rewriting a file but restoring size and mtime fools the cache: proof that
    # the digest came from the cache, not from reading the file.
    path = write(tmp_path / "f", b"first")
    with StatCache(tmp_path / "cache.sqlite") as cache:
        hash_files([path], jobs=1, cache=cache)
        write(path, b"other")
        (stale,) = hash_files([path], jobs=1, cache=cache)
        os.utime(path, ns=(OLD_NS + 1, OLD_NS + 1))
        (fresh,) = hash_files([path], jobs=1, cache=cache)
    assert stale.digest == sha(b"first")
    assert fresh.digest == sha(b"other")


def test_a_just_modified_file_is_not_cached_because_its_mtime_may_not_change_again(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "f", b"fresh", old=False)
    with StatCache(tmp_path / "cache.sqlite") as cache:
        hash_files([path], jobs=1, cache=cache)
        counter = ByteCounter()
        hash_files([path], jobs=1, cache=cache, on_bytes=counter)
    assert counter.total == 5


def test_layer_digests_are_cached_per_framing(tmp_path: Path) -> None:
    path = write(tmp_path / "f", b"content")
    one, two = (b"<1", b">"), (b"<2", b">")
    with StatCache(tmp_path / "cache.sqlite") as cache:
        hash_files([path], jobs=1, cache=cache, framings=[one])
        same, other = ByteCounter(), ByteCounter()
        (r1,) = hash_files([path], jobs=1, cache=cache, framings=[one], on_bytes=same)
        (r2,) = hash_files([path], jobs=1, cache=cache, framings=[two], on_bytes=other)
    assert (same.total, other.total) == (0, 7)
    assert (r1.layer_digest, r2.layer_digest) == (sha(b"<1content>"), sha(b"<2content>"))
    assert framing_key(one) != framing_key(two)


def test_a_batch_lookup_answers_as_one_lookup_per_stat(tmp_path: Path) -> None:
    # More files than one query holds, some stored, some not, one twice, and a hole.
    paths = [write(tmp_path / f"f{i}", str(i).encode()) for i in range(batch_size(32766) + 200)]
    with StatCache(tmp_path / "cache.sqlite") as cache:
        for i, path in enumerate(paths):
            if i % 3:
                cache.store(path.stat(), sha(str(i).encode()))
        cache.store(paths[4].stat(), sha(b"layer"), "framed")
        stats = [p.stat() for p in paths] + [paths[7].stat(), None]
        batch = cache.lookup_many(stats)
        one_by_one = [cache.lookup(st) if st is not None else None for st in stats]
        layered = cache.lookup_many([paths[4].stat(), paths[5].stat()], "framed")
    assert batch == one_by_one
    assert batch[:3] == [None, sha(b"1"), sha(b"2")]
    assert batch[-2:] == [sha(b"7"), None]
    assert layered == [sha(b"layer"), None]


def test_a_batch_query_keeps_under_sqlites_parameter_limit() -> None:
    # Four parameters per key and one for the layer key.
    assert [batch_size(n) for n in (999, 32766, 250000, 3)] == [249, 2000, 2000, 1]
    assert 4 * batch_size(999) + 1 <= 999


def test_a_batch_lookup_on_an_unusable_cache_misses(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    path = write(tmp_path / "f", b"x")
    with StatCache(blocker / "cache.sqlite") as cache:
        assert cache.lookup_many([path.stat(), None]) == [None, None]


def test_stats_given_by_the_caller_are_the_cache_keys(tmp_path: Path) -> None:
    # The stat taken before a rewrite still finds the old digest: proof that hash_files
    # asked the cache with the caller's stat, not one of its own. None means: read it.
    a, b = write(tmp_path / "a", b"first"), write(tmp_path / "b", b"bee")
    with StatCache(tmp_path / "cache.sqlite") as cache:
        hash_files([a, b], jobs=2, cache=cache)
        before = a.stat()
        write(a, b"later!")
        counter = ByteCounter()
        known = cache_answers(cache, [a, b], [None, None], [before, None])
        ra, rb = hash_files([a, b], jobs=2, cache=cache, known=known, on_bytes=counter)
    assert (ra.digest, ra.size, rb.digest) == (sha(b"first"), 5, sha(b"bee"))
    assert counter.total == 3


def test_stats_and_paths_must_pair_up(tmp_path: Path) -> None:
    path = write(tmp_path / "f", b"x")
    with pytest.raises(ValueError, match="differ in length"):
        hash_files([path], jobs=1, cache=None, known=[])
    with StatCache(tmp_path / "cache.sqlite") as cache, pytest.raises(ValueError, match="differ"):
        cache_answers(cache, [path], [None], [])


def test_a_cache_hit_needs_a_regular_file_and_a_miss_reports_the_real_cause(
    tmp_path: Path,
) -> None:
    (tmp_path / "dir").mkdir()
    paths = [write(tmp_path / "f", b"x"), tmp_path / "dir"]
    with StatCache(tmp_path / "cache.sqlite") as cache:
        cache.store(paths[1].stat(), sha(b"a directory"))  # a stale entry for its inode
        with pytest.raises(NotRegularFile):
            hash_files(paths, jobs=2, cache=cache)
        with pytest.raises(FileNotFoundError):
            hash_files([paths[0], tmp_path / "gone"], jobs=1, cache=cache)


FRAME = (b"<head>", b"<tail>")


def _unchanged(path: Path) -> None:
    pass


def _touched(path: Path) -> None:
    os.utime(path, ns=(OLD_NS + 1, OLD_NS + 1))


def _rewritten_same_size_new_inode(path: Path) -> None:
    # A new inode with the old size and mtime: only the inode number tells it apart.
    other = write(path.with_name("new"), b"CONTENT")
    os.replace(other, path)


def _removed(path: Path) -> None:
    path.unlink()


def _replaced_by_a_directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_unchanged, sha(b"<head>content<tail>")),
        (_touched, None),
        (_rewritten_same_size_new_inode, None),
        (_removed, None),
        (_replaced_by_a_directory, None),
    ],
    ids=["unchanged", "touched", "new-inode", "removed", "now-a-directory"],
)
def test_a_cached_layer_digest_is_given_only_while_the_file_keeps_its_hashed_stat(
    tmp_path: Path, change: Callable[[Path], None], expected: str | None
) -> None:
    path = write(tmp_path / "f", b"content")
    with StatCache(tmp_path / "cache.sqlite") as cache:
        hash_files([path], jobs=1, cache=cache, framings=[FRAME])
        change(path)
        found = cached_layer_digest(cache, path, sha(b"content"), FRAME)
    assert found == expected


@pytest.mark.parametrize(
    ("digest", "framing", "framed_read"),
    [
        (sha(b"something else"), FRAME, True),
        (sha(b"content"), (b"<other>", b"<tail>"), True),
        (sha(b"content"), FRAME, False),
    ],
    ids=["another-file-digest", "another-framing", "hashed-without-framing"],
)
def test_a_cached_layer_digest_needs_the_same_file_digest_and_framing(
    tmp_path: Path, digest: str, framing: tuple[bytes, bytes], framed_read: bool
) -> None:
    path = write(tmp_path / "f", b"content")
    with StatCache(tmp_path / "cache.sqlite") as cache:
        hash_files([path], jobs=1, cache=cache, framings=[FRAME if framed_read else None])
        assert cached_layer_digest(cache, path, digest, framing) is None


def test_a_just_modified_file_has_no_cached_layer_digest(tmp_path: Path) -> None:
    path = write(tmp_path / "f", b"content", old=False)
    with StatCache(tmp_path / "cache.sqlite") as cache:
        hash_files([path], jobs=1, cache=cache, framings=[FRAME])
        assert cached_layer_digest(cache, path, sha(b"content"), FRAME) is None


def test_the_cache_persists_across_instances(tmp_path: Path) -> None:
    path = write(tmp_path / "f", b"kept")
    db = tmp_path / "nested" / "dir" / "stat-cache.sqlite"
    with StatCache(db) as cache:
        cache.store(path.stat(), sha(b"kept"))
    with StatCache(db) as cache:
        assert cache.lookup(path.stat()) == sha(b"kept")


def _fake_stat(anchor: Path, ino: int) -> os.stat_result:
    mode = anchor.stat().st_mode
    return os.stat_result((mode, ino, 1, 1, 0, 0, 10, 0, 0, 0), {"st_mtime_ns": 7})


def test_stored_entries_are_written_in_batches_and_all_of_them_at_close(tmp_path: Path) -> None:
    db = tmp_path / "stat-cache.sqlite"
    anchor = write(tmp_path / "anchor", b"")
    count = 2 * FLUSH_EVERY + 3
    with StatCache(db, min_age_ns=0) as writer:
        for i in range(count):
            writer.store(_fake_stat(anchor, i), "sha256:" + format(i, "064x"))
        with StatCache(db) as reader:  # another connection sees only what was committed
            seen = [reader.lookup(_fake_stat(anchor, i)) is not None for i in range(count)]
        assert seen == [True] * (2 * FLUSH_EVERY) + [False] * 3
        assert writer.lookup(_fake_stat(anchor, count - 1)) is not None  # its own, at once
    with StatCache(db) as reader:
        found = reader.lookup_many([_fake_stat(anchor, i) for i in range(count)])
    assert found == ["sha256:" + format(i, "064x") for i in range(count)]


@pytest.mark.parametrize(
    "garbage",
    [b"this is not a database" * 100, b"SQLite format 3\0" + b"\xff" * 4000],
    ids=["text", "truncated-header"],
)
def test_a_corrupt_cache_file_is_recreated_not_fatal(tmp_path: Path, garbage: bytes) -> None:
    db = tmp_path / "stat-cache.sqlite"
    db.write_bytes(garbage)
    path = write(tmp_path / "f", b"data")
    with StatCache(db) as cache:
        assert cache.lookup(path.stat()) is None
        cache.store(path.stat(), sha(b"data"))
        assert cache.lookup(path.stat()) == sha(b"data")


def test_an_unusable_cache_location_turns_the_cache_off(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    path = write(tmp_path / "f", b"data")
    with StatCache(blocker / "stat-cache.sqlite") as cache:
        cache.store(path.stat(), sha(b"data"))
        assert cache.lookup(path.stat()) is None
        (result,) = hash_files([path], jobs=1, cache=cache)
    assert result.digest == sha(b"data")


_WRITER = """
import os, sys
from pathlib import Path
from cogw.shell.hashing import StatCache
db, start = Path(sys.argv[1]), int(sys.argv[2])
fake = os.stat(sys.argv[3])
with StatCache(db, min_age_ns=0) as cache:
    for i in range(start, start + 1300):
        st = os.stat_result((fake.st_mode, i, 1, 1, 0, 0, 10, 0, 0, 0), {"st_mtime_ns": 7})
        cache.store(st, "sha256:" + format(i, "064x"))
"""


def test_two_processes_can_write_the_same_cache_at_once(tmp_path: Path) -> None:
    db = tmp_path / "stat-cache.sqlite"
    anchor = write(tmp_path / "anchor", b"")
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(db), str(start), str(anchor)])
        for start in (0, 1300)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    fake = anchor.stat()
    with StatCache(db) as cache:
        found = [
            cache.lookup(
                os.stat_result((fake.st_mode, i, 1, 1, 0, 0, 10, 0, 0, 0), {"st_mtime_ns": 7})
            )
            for i in range(2600)
        ]
    assert found == ["sha256:" + format(i, "064x") for i in range(2600)]


def test_cancelling_parallel_hashing_raises_hash_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hashing, "CHUNK_SIZE", 1024)
    paths = [write(tmp_path / f"f{i}", b"x" * 20_000) for i in range(16)]
    cancel = threading.Event()

    def cancel_after_first_chunk(n: int) -> None:
        cancel.set()

    with pytest.raises(HashCancelled):
        hash_files(
            paths,
            jobs=4,
            cache=None,
            cancel=cancel,
            on_bytes=cancel_after_first_chunk,
        )
