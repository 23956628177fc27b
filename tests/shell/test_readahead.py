"""Read-ahead of the small files the calling thread hashes (shell/readahead.py)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from cogw.core.plan.workers import READAHEAD_MIN_FILES
from cogw.shell import readahead
from cogw.shell.hashing import StatCache, hash_files
from cogw.shell.readahead import ReadAhead, advise


@pytest.fixture
def advised(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(readahead, "advise", lambda path: seen.append(str(path)))
    return seen


def test_the_first_lead_files_are_asked_for_at_once_then_one_per_file_read(
    advised: list[str],
) -> None:
    paths = [f"f{i}" for i in range(10)]
    ahead = ReadAhead(paths, lead=3)
    assert advised == ["f0", "f1", "f2"]
    for count in range(1, 11):
        ahead.reached(count)
    assert advised == paths  # each once, in order, none past the end


def test_fewer_files_than_the_lead_are_all_asked_for_at_once(advised: list[str]) -> None:
    ReadAhead(["a", "b"], lead=5).reached(1)
    assert advised == ["a", "b"]


def test_hash_files_reads_ahead_the_small_files_in_the_order_it_hashes_them(
    tmp_path: Path, advised: list[str]
) -> None:
    count = READAHEAD_MIN_FILES + 40
    paths = [tmp_path / f"f{i:03}" for i in range(count)]
    for i, path in enumerate(paths):
        path.write_bytes(os.urandom(100 + i))
    with StatCache(tmp_path / "cache.sqlite") as cache:  # its stats say the files are small
        hash_files(paths, jobs=4, cache=cache)
    assert advised == [str(p) for p in paths]


def test_a_few_small_files_are_not_read_ahead(tmp_path: Path, advised: list[str]) -> None:
    paths = [tmp_path / f"f{i}" for i in range(READAHEAD_MIN_FILES - 1)]
    for path in paths:
        path.write_bytes(b"x")
    hash_files(paths, jobs=1, cache=None)
    assert advised == []


def test_advise_leaves_what_it_cannot_or_must_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    done = threading.Event()

    def run() -> None:
        advise(fifo)  # opened without blocking, then left: not a regular file
        advise(tmp_path / "missing")
        advise(tmp_path)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(10), "advise blocked on a fifo"
    regular = tmp_path / "f"
    regular.write_bytes(b"data")
    advise(regular)
