"""hash_files: large files on the pool, small ones on the calling thread meanwhile
(cogw.core.plan.workers), and a failure on either side stops the other."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from cogw.core.plan.workers import POOL_MIN_BYTES
from cogw.shell.hashing import HashCancelled, StatCache, hash_files

OLD_NS = 1_600_000_000 * 10**9


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    os.utime(path, ns=(OLD_NS, OLD_NS))
    return path


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class ThreadsBySize:
    """on_bytes that notes which thread read a chunk of each distinct size."""

    def __init__(self) -> None:
        self.by_size: dict[int, str] = {}
        self._lock = threading.Lock()

    def __call__(self, n: int) -> None:
        with self._lock:
            self.by_size[n] = threading.current_thread().name


def test_small_files_are_hashed_here_and_large_ones_on_the_pool(tmp_path: Path) -> None:
    small = [write(tmp_path / f"s{i}", os.urandom(100 + i)) for i in range(20)]
    large = [write(tmp_path / f"l{i}", os.urandom(POOL_MIN_BYTES + i)) for i in range(3)]
    paths = [*small[:10], *large, *small[10:]]
    seen = ThreadsBySize()
    with StatCache(tmp_path / "cache.sqlite") as cache:  # its stats size the files
        results = hash_files(paths, jobs=4, cache=cache, on_bytes=seen)
    assert [r.digest for r in results] == [sha(p.read_bytes()) for p in paths]
    here = threading.current_thread().name
    assert {seen.by_size[100 + i] for i in range(20)} == {here}
    assert all(seen.by_size[POOL_MIN_BYTES + i].startswith("hash") for i in range(3))


def test_given_sizes_decide_without_a_cache(tmp_path: Path) -> None:
    paths = [write(tmp_path / f"f{i}", os.urandom(1000 + i)) for i in range(4)]
    seen = ThreadsBySize()
    sizes = [10, POOL_MIN_BYTES, 10, None]  # as the caller's stats said; None: unknown
    hash_files(paths, jobs=2, cache=None, sizes=sizes, on_bytes=seen)
    here = threading.current_thread().name
    assert [seen.by_size[1000 + i] == here for i in range(4)] == [True, False, True, False]


def test_one_job_hashes_everything_here(tmp_path: Path) -> None:
    paths = [write(tmp_path / f"f{i}", os.urandom(POOL_MIN_BYTES + i)) for i in range(3)]
    seen = ThreadsBySize()
    hash_files(paths, jobs=1, cache=None, on_bytes=seen)
    assert set(seen.by_size.values()) == {threading.current_thread().name}


def test_a_pool_failure_stops_the_small_files_and_is_the_one_raised(tmp_path: Path) -> None:
    small = [write(tmp_path / f"s{i}", b"x" * 10) for i in range(2000)]
    read_here = []

    def count(n: int) -> None:
        if threading.current_thread() is threading.main_thread():
            read_here.append(n)
            if len(read_here) == 1:
                time.sleep(0.2)  # the pool has failed by now, whatever the scheduler did

    gone = tmp_path / "gone"  # said to be large, so the pool opens it first
    with pytest.raises(FileNotFoundError):
        hash_files(
            [gone, *small], jobs=2, cache=None, sizes=[1 << 30] + [10] * 2000, on_bytes=count
        )
    assert len(read_here) < 2000  # stopped at the failure, not after every small file


def test_a_failure_here_stops_the_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cogw.shell import hashing

    monkeypatch.setattr(hashing, "CHUNK_SIZE", 1024)
    large = [write(tmp_path / f"l{i}", b"y" * 2_000_000) for i in range(8)]
    pooled_bytes = []

    def count(n: int) -> None:
        if threading.current_thread() is not threading.main_thread():
            pooled_bytes.append(n)

    sizes = [2_000_000] * 8 + [10]
    with pytest.raises(FileNotFoundError):
        hash_files([*large, tmp_path / "gone"], jobs=2, cache=None, sizes=sizes, on_bytes=count)
    assert sum(pooled_bytes) < 8 * 2_000_000


def test_cancel_stops_both_sides(tmp_path: Path) -> None:
    small = [write(tmp_path / f"s{i}", b"z" * 10) for i in range(50)]
    large = [write(tmp_path / f"l{i}", b"w" * 200_000) for i in range(4)]
    cancel = threading.Event()
    cancel.set()
    sizes = [10] * 50 + [200_000] * 4
    with pytest.raises(HashCancelled):
        hash_files([*small, *large], jobs=2, cache=None, sizes=sizes, cancel=cancel)


def test_the_calling_thread_reports_each_file_it_finished() -> None:
    from cogw.shell.splitpool import run_split

    counts: list[int] = []
    done = run_split(
        [0], [1, 2, 3], lambda i: i * 10, 2, threading.Event(), HashCancelled, "t", counts.append
    )
    assert done == {0: 0, 1: 10, 2: 20, 3: 30}
    assert counts == [1, 2, 3]
