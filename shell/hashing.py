"""SHA-256 of weight files: one streaming read, threads in parallel, a persistent stat cache.

This module knows how to read a regular file once and feed one or two digests
from that single read: the file's own ``sha256:`` digest and, when the caller
passes the tar framing bytes of a standalone uncompressed layer, the layer
digest over ``prefix + file + suffix``. It does not know what a weight, a
source or a tar header is; callers compute the framing (``cogw.core``) and
decide what the digests mean.

The stat cache (shell/statcache.py) makes re-imports O(files) instead of
O(bytes): a file whose stat is unchanged is not read again.

``hashlib`` releases the GIL while hashing large buffers, so a thread pool
scales across cores without processes.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from cogw.core.digest import PREFIX
from cogw.core.plan.workers import read_buffer_size
from cogw.shell.splitpool import run_on_files

# The stat cache lives in shell/statcache.py; its callers know it from here.
from cogw.shell.statcache import STAT_CACHE_NAME as STAT_CACHE_NAME
from cogw.shell.statcache import Framing as Framing
from cogw.shell.statcache import StatCache as StatCache
from cogw.shell.statcache import cached_layer_digest as cached_layer_digest
from cogw.shell.statcache import framing_key as framing_key

OnBytes = Callable[[int], None]
#: How much of a large file is read at a time.
CHUNK_SIZE = 1 << 20


class SourceChanged(Exception):
    """A file's size or modification time changed while it was being read."""

    def __init__(self, path: Path | str, message: str) -> None:
        super().__init__(message)
        self.path = path


class HashCancelled(Exception):
    """Hashing stopped because the caller's cancel event was set."""


class NotRegularFile(Exception):
    """The path names a directory, device, fifo or socket, not a regular file."""


@dataclass(frozen=True, slots=True)
class HashResult:
    digest: str  # sha256:<hex> of the file content
    size: int  # bytes read (equal to the file's size, or SourceChanged was raised)
    layer_digest: str | None = None  # sha256:<hex> of prefix + content + suffix, when framed


def hash_file(
    path: Path,
    framing: Framing | None = None,
    chunk_size: int = CHUNK_SIZE,
    cancel: threading.Event | None = None,
    on_bytes: OnBytes | None = None,
) -> HashResult:
    """Digest one file with a single read; ``on_bytes`` gets each chunk's length.

    Raises SourceChanged when the file's size or mtime differs after the read,
    HashCancelled when ``cancel`` is set, OSError when the file cannot be read.
    """
    stop = cancel.is_set if cancel is not None else _never
    result, _ = _hash_path(path, framing, chunk_size, stop, on_bytes)
    return result


def _never() -> bool:
    return False


def _hash_path(
    path: Path | str,
    framing: Framing | None,
    chunk_size: int,
    stop: Callable[[], bool],
    on_bytes: OnBytes | None,
) -> tuple[HashResult, os.stat_result]:
    """Hash ``path`` and return the fstat of the inode actually read (the cache key)."""
    f, before = _open_regular(path)
    with f:
        file_hash = hashlib.sha256()
        layer_hash = hashlib.sha256(framing[0]) if framing is not None else None
        size = _feed(
            f, file_hash, layer_hash, read_buffer_size(before.st_size, chunk_size), stop, on_bytes
        )
        after = os.fstat(f.fileno())
    _check_unchanged(path, before, after, size)
    layer_digest = None
    if layer_hash is not None and framing is not None:
        layer_hash.update(framing[1])
        layer_digest = PREFIX + layer_hash.hexdigest()
    return HashResult(PREFIX + file_hash.hexdigest(), size, layer_digest), before


def _open_regular(path: Path | str) -> tuple[io.FileIO, os.stat_result]:
    """The file opened for reading, and its fstat (the "before" of a change check)."""
    # O_NONBLOCK: opening a fifo must not hang; it has no effect on regular files.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(f"{path} is not a regular file")
        return io.FileIO(fd, "r", closefd=True), info
    except BaseException:
        os.close(fd)
        raise


def _feed(
    f: io.FileIO,
    file_hash: hashlib._Hash,
    layer_hash: hashlib._Hash | None,
    chunk_size: int,
    stop: Callable[[], bool],
    on_bytes: OnBytes | None,
) -> int:
    if layer_hash is None:
        return _read_chunks(f, file_hash.update, chunk_size, stop, on_bytes)
    return _read_pipelined(f, (file_hash, layer_hash), chunk_size, stop, on_bytes)


def _read_pipelined(
    f: io.FileIO,
    hashes: tuple[hashlib._Hash, hashlib._Hash],
    chunk_size: int,
    stop: Callable[[], bool],
    on_bytes: OnBytes | None,
) -> int:
    """Two digests of one large file (its own and its layer's): each on a thread of its
    own (hashlib releases the GIL) while this one reads the next chunk, so the read
    costs about the wall time of one hash, not of two hashes plus the disk."""
    buffers = (bytearray(chunk_size), bytearray(chunk_size))
    total, turn, n = 0, 0, -1
    hashing: list[Future[None]] = []  # the previous chunk's two updates
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="hash-pair") as side:
        try:
            while n:
                if stop():
                    raise HashCancelled("hashing cancelled")
                # This buffer last held the chunk before the previous one, already hashed.
                buffer = buffers[turn % 2]
                n = f.readinto(buffer)
                for update in hashing:
                    update.result()  # in order: a chunk's updates start after the last's end
                hashing = []
                if n:
                    view = memoryview(buffer)[:n]
                    hashing = [side.submit(h.update, view) for h in hashes]
                    total, turn = total + n, turn + 1
                    if on_bytes is not None:
                        on_bytes(n)
        finally:
            wait(hashing)  # a failed read must not leave a hash reading a buffer
    return total


def _read_chunks(
    f: io.FileIO,
    consume: Callable[[memoryview], None],
    chunk_size: int,
    stop: Callable[[], bool],
    on_bytes: OnBytes | None,
) -> int:
    # One reusable buffer: memory stays flat whatever the file size.
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    total = 0
    while True:
        if stop():
            raise HashCancelled("hashing cancelled")
        n = f.readinto(buf)
        if not n:
            return total
        consume(view[:n])
        total += n
        if on_bytes is not None:
            on_bytes(n)


def _check_unchanged(
    path: Path | str, before: os.stat_result, after: os.stat_result, read: int
) -> None:
    if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns) and read == (
        after.st_size
    ):
        return
    raise SourceChanged(
        path,
        f"{path} changed while it was being read (size {before.st_size} -> {after.st_size} "
        f"bytes, {read} read; modification time {before.st_mtime_ns} -> {after.st_mtime_ns} ns); "
        "wait until nothing is writing to it and try again",
    )


# --- parallel hashing -------------------------------------------------------------------------


def hash_files(
    paths: Sequence[Path | str],
    jobs: int,
    cache: StatCache | None,
    *,
    framings: Sequence[Framing | None] | None = None,
    known: Sequence[HashResult | None] | None = None,
    sizes: Sequence[int | None] | None = None,
    cancel: threading.Event | None = None,
    on_bytes: OnBytes | None = None,
) -> list[HashResult]:
    """Hash every path, the large files on up to ``jobs`` threads and the small ones on
    this one meanwhile (:func:`cogw.core.plan.workers.split_for_pool`); results in input
    order.

    ``framings[i]`` (optional) asks for the standalone layer digest of ``paths[i]``.
    ``known[i]`` (optional) is what the cache answered for ``paths[i]`` when the caller
    asked it (``cache_answers``), None where the file must be read; without it the cache
    is asked here. ``sizes[i]`` (optional) is the size the caller's stat found (None: not
    known, the pool's). ``on_bytes`` is called from worker threads and must be
    thread-safe; cache hits report no bytes. The first failure stops the other workers
    and is raised.
    """
    frames: Sequence[Framing | None] = framings if framings is not None else [None] * len(paths)
    if any(x is not None and len(x) != len(paths) for x in (frames, known, sizes)):
        raise ValueError("hash_files: framings, known answers or sizes and paths differ in length")
    if known is None:
        known, sizes = _ask_cache(cache, paths, frames, sizes)
    answers = list(known)
    todo = [i for i, hit in enumerate(answers) if hit is None]
    failed = threading.Event()

    def stop() -> bool:
        return failed.is_set() or (cancel is not None and cancel.is_set())

    def one(i: int) -> HashResult:
        return _hash_stored(paths[i], frames[i], cache, CHUNK_SIZE, stop, on_bytes)

    todo_sizes = [None if sizes is None else sizes[i] for i in todo]
    todo_paths = [paths[i] for i in todo]
    hashed = run_on_files(
        todo_paths, todo_sizes, lambda k: one(todo[k]), jobs, failed, HashCancelled, "hash"
    )
    for k, result in hashed.items():
        answers[todo[k]] = result
    return _all_known(answers)


def _ask_cache(
    cache: StatCache | None,
    paths: Sequence[Path | str],
    frames: Sequence[Framing | None],
    sizes: Sequence[int | None] | None,
) -> tuple[list[HashResult | None], Sequence[int | None] | None]:
    """The cache's answers, found in one pass (a stat per file, a few queries in all),
    and the files' sizes from the same stats unless the caller gave them."""
    stats = [stat_or_none(path) for path in paths] if cache is not None else None
    if sizes is None and stats is not None:
        sizes = [None if st is None else st.st_size for st in stats]
    return cache_answers(cache, paths, frames, stats), sizes


def cache_answers(
    cache: StatCache | None,
    paths: Sequence[Path | str],
    frames: Sequence[Framing | None],
    stats: Sequence[os.stat_result | None] | None = None,
) -> list[HashResult | None]:
    """What ``cache`` already knows of each path (None: it must be read). ``stats[i]``
    (optional) is the ``os.stat`` of ``paths[i]`` the caller just took (None if it
    failed), so the cache is asked without a second stat."""
    if cache is None:
        return [None] * len(paths)
    if stats is not None and len(stats) != len(paths):
        raise ValueError("cache_answers: stats and paths differ in length")
    taken = stats if stats is not None else [stat_or_none(path) for path in paths]
    return _cache_hits(taken, frames, cache)


def _all_known(results: list[HashResult | None]) -> list[HashResult]:
    done = [r for r in results if r is not None]
    if len(done) != len(results):
        raise AssertionError("hash_files: a file was neither found in the cache nor hashed")
    return done


def _cache_hits(
    taken: Sequence[os.stat_result | None], frames: Sequence[Framing | None], cache: StatCache
) -> list[HashResult | None]:
    """What the cache already knows for each stat, None where the file must be read: a
    changed stat, no entry, a path that is not a regular file or could not be stat'ed (the
    read then raises what it must)."""
    stats = [st if st is not None and stat.S_ISREG(st.st_mode) else None for st in taken]
    digests = cache.lookup_many(stats)
    hits: list[HashResult | None] = []
    for st, digest, framing in zip(stats, digests, frames, strict=True):
        if st is None or digest is None:
            hits.append(None)
        elif framing is None:
            hits.append(HashResult(digest, st.st_size))
        else:
            layer_digest = cache.lookup(st, framing_key(framing))
            hits.append(
                None if layer_digest is None else HashResult(digest, st.st_size, layer_digest)
            )
    return hits


def stat_or_none(path: Path | str) -> os.stat_result | None:
    """``os.stat(path)``, or None when it fails (the read that follows says why)."""
    try:
        return os.stat(path)
    except OSError:
        return None


def _hash_stored(
    path: Path | str,
    framing: Framing | None,
    cache: StatCache | None,
    chunk_size: int,
    stop: Callable[[], bool],
    on_bytes: OnBytes | None,
) -> HashResult:
    """Read and hash ``path``, and remember its digests in the cache."""
    result, st = _hash_path(path, framing, chunk_size, stop, on_bytes)
    if cache is not None:
        cache.store(st, result.digest)
        if result.layer_digest is not None and framing is not None:
            cache.store(st, result.layer_digest, framing_key(framing))
    return result
