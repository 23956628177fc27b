"""A large standalone layer (a raw tar holding one file) fetched straight into its blob.

Such a layer is the file's bytes between a header and the end-of-archive marker, so
its bytes go, by offset, into the file's own temp file in the store: no tar reader,
no copy between buffers, one fsync. The layer is fetched in byte ranges, several at
once when it is large (core/artifact/ranges.py decides), each resumed on its own after a break.
A thread hashes the file as far as it has arrived contiguously, for both digests (the
layer's: header + file + trailer; the file's), so with one stream the hashing keeps
pace with the download. The file becomes visible only after the layer digest, the file
digest and size and the trailer (nothing but the end-of-archive marker) all check out.

Anything else (a compressed layer, several files, a first entry that is not the file,
a registry that answers ``Range`` with the whole blob) returns False before anything
is written, and the layer takes the streaming path of shell/pull.py.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Protocol, cast

from cogw.core.artifact.ranges import (
    PROBE_BYTES,
    STREAMS_THRESHOLD,
    ByteRange,
    split_ranges,
    streams_after_probe,
    streams_for,
)
from cogw.core.digest import PREFIX
from cogw.core.lock.lockfile import LockFile
from cogw.core.plan.events import Event, EventKind
from cogw.core.plan.planner import FetchLayer
from cogw.shell.layerstream import GZIP_MAGIC, ZSTD_MAGIC, HostileLayer
from cogw.shell.registry.download import BackgroundHasher, RangeIgnored
from cogw.shell.registry.errors import RegistryDigestMismatch
from cogw.shell.runtime import Runtime
from cogw.shell.store import Cancelled, FileStore
from cogw.shell.untar import first_file, is_archive_end
from cogw.shell.writeback import start_writeback

HEAD_BYTES = 64 << 10  # the tar header (and any PAX/long-name entry) must fit in here
MAX_TAIL = 1 << 20  # padding, end-of-archive marker and record padding after the file
HASH_CHUNK = 4 << 20
#: Chunks queued per hasher: reading back runs ahead of sha256, and each waiting chunk
#: is HASH_CHUNK bytes of resident memory (both hashers share the same chunk objects).
HASH_DEPTH = 3


class _Progress:
    """How far each range has been written; the contiguous prefix may be hashed."""

    def __init__(self, ranges: tuple[ByteRange, ...], written_before: int) -> None:
        self._ranges = ranges
        self._received = [0] * len(ranges)
        self._before = written_before
        self._cond = threading.Condition()
        self._closed = False

    def add(self, index: int, n: int) -> None:
        with self._cond:
            self._received[index] += n
            self._cond.notify_all()

    def _contiguous(self) -> int:
        end = self._before
        for piece, got in zip(self._ranges, self._received, strict=True):
            end = piece.start + got
            if got < piece.size:
                break
        return end

    def wait_past(self, pos: int) -> int:
        """The contiguous end once it is beyond ``pos``; ``pos`` itself after close()."""
        with self._cond:
            while (end := self._contiguous()) <= pos and not self._closed:
                self._cond.wait()
            return end

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _hash_following(
    fd: int, progress: _Progress, total: int, head: bytes
) -> tuple[BackgroundHasher, str]:
    """The layer's hasher (fed the header and the file) and the file's digest, hashed as
    the file arrives; the two hashes run on two threads (hashlib releases the GIL)."""
    layer, file = BackgroundHasher(HASH_DEPTH), BackgroundHasher(HASH_DEPTH)
    layer.update(head)
    try:
        pos = 0
        while pos < total:
            end = progress.wait_past(pos)
            if end <= pos:
                raise Cancelled("operation cancelled")
            while pos < end:
                data = os.pread(fd, min(HASH_CHUNK, end - pos), pos)
                if not data:
                    raise OSError(f"temp file ends at {pos} bytes, {end} were written")
                layer.update(data)
                file.update(data)
                start_writeback(fd, pos, len(data))
                pos += len(data)
        return layer, PREFIX + file.hexdigest()
    except BaseException:
        layer.close()
        raise
    finally:
        file.close()


def _layout(step: FetchLayer, head: bytes) -> tuple[LockFile, int] | None:
    if head.startswith(GZIP_MAGIC) or head.startswith(ZSTD_MAGIC):
        return None
    found = first_file(head, {f.path: f for f in step.files})
    if found is None:
        return None
    wanted, start = found
    tail = step.layer.size - (start + wanted.size)
    if start + wanted.size < len(head) or not 0 <= tail <= MAX_TAIL:
        return None
    return found


def fetch_direct(step: FetchLayer, rt: Runtime, repo: str) -> LockFile | None:
    """Store a large standalone layer's file straight from its byte ranges; None (with
    nothing written) when the layer is not one or the registry does not serve ranges."""
    client, _ = rt.registry()
    store = rt.store
    if (
        not isinstance(store, FileStore)
        or not hasattr(client, "fetch_range")
        or step.layer.size < STREAMS_THRESHOLD
        or len(step.files) != 1
        or step.layer.media_type.endswith(("gzip", "zstd"))
    ):
        return None
    head = bytearray(HEAD_BYTES)

    def into_head(offset: int, view: memoryview) -> None:
        head[offset : offset + len(view)] = view

    try:
        client.fetch_range(
            repo, step.layer.digest, ByteRange(0, HEAD_BYTES), into_head, cancel=rt.cancel
        )
    except RangeIgnored:
        return None
    found = _layout(step, bytes(head))
    if found is None or store.exists(found[0].digest):
        return None
    _fetch_file(step, rt, repo, store, (found[0], found[1], bytes(head)))
    return found[0]


def _fetch_file(
    step: FetchLayer, rt: Runtime, repo: str, store: FileStore, found: tuple[LockFile, int, bytes]
) -> None:
    wanted, start, head = found
    fd, tmp = store.open_temp(wanted.digest)
    try:
        try:
            os.pwrite(fd, head[start:], 0)
            tail, actual = _fetch_and_check(step, rt, repo, fd, found)
            if not is_archive_end(tail, wanted.size):
                raise HostileLayer(f"layer {step.layer.digest} holds more than {wanted.path}")
            store.publish_temp(wanted.digest, wanted.size, fd, tmp, actual)
        finally:
            os.close(fd)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


Writer = Callable[[int, memoryview], None]


class _RangeClient(Protocol):
    def fetch_range(
        self,
        repo: str,
        digest: str,
        piece: ByteRange,
        write: Writer,
        *,
        cancel: threading.Event | None = None,
    ) -> None: ...


def _wait_all(jobs: list[Future[None]], stop: threading.Event, progress: _Progress) -> None:
    """Wait for every range; on the first failure stop the others, then raise it."""
    failure: BaseException | None = None
    for job in as_completed(jobs):
        error = job.exception()
        if error is not None and failure is None:
            failure = error
            stop.set()
            progress.close()
    progress.close()  # the hasher stops waiting for bytes that will not come
    if failure is not None:
        raise failure


def _into(buffer: bytearray, base: int) -> Writer:
    """A writer that puts the blob's bytes from offset ``base`` on into ``buffer``."""

    def write(offset: int, view: memoryview) -> None:
        buffer[offset - base : offset - base + len(view)] = view

    return write


def _file_writer(
    step: FetchLayer, rt: Runtime, fd: int, start: int, stop: threading.Event
) -> Callable[[_Progress | None, int], Writer]:
    """Writers that put the layer's bytes at their offset in the file (the layer's header
    is ``start`` bytes), count them for the hasher and report them."""
    weight, digest = step.weight, step.layer.digest

    def writer(progress: _Progress | None, index: int) -> Writer:
        def write(offset: int, view: memoryview) -> None:
            if stop.is_set() or rt.cancel.is_set():
                raise Cancelled("operation cancelled")
            os.pwrite(fd, view, offset - start)
            if progress is not None:
                progress.add(index, len(view))
            rt.emit(Event(EventKind.BYTES, weight=weight, layer_digest=digest, nbytes=len(view)))

        return write

    return writer


def _probe_then_split(
    rt: Runtime, repo: str, digest: str, span: ByteRange, write: Writer, start: int
) -> tuple[tuple[ByteRange, ...], bool]:
    """The file's ranges from ``span.start`` on, and whether the first is already written.
    A number of streams someone asked for is used as it is. Otherwise (the default), when
    several are allowed, the first PROBE_BYTES are fetched (with ``write``) and timed in
    one stream, and the link's speed decides how the rest is split (core/artifact/ranges.py):
    on a fast local link more streams only compete for the CPU."""
    allowed = streams_for(span.end, rt.streams)
    if not rt.streams_probe or allowed <= 1:
        return split_ranges(span.start, span.end, allowed), False
    probe = ByteRange(span.start, min(span.end, span.start + PROBE_BYTES))
    client = cast(_RangeClient, rt.registry()[0])
    began = time.monotonic()
    client.fetch_range(repo, digest, _shifted(probe, start), write, cancel=rt.cancel)
    seconds = time.monotonic() - began
    count = streams_after_probe(allowed, probe.size, seconds, span.end - probe.end)
    return (probe, *split_ranges(probe.end, span.end, count)), True


def _shifted(piece: ByteRange, by: int) -> ByteRange:
    return ByteRange(piece.start + by, piece.end + by)


def _fetch_and_check(
    step: FetchLayer, rt: Runtime, repo: str, fd: int, found: tuple[LockFile, int, bytes]
) -> tuple[bytes, str]:
    """Fetch the file's ranges and the trailer and check the layer digest; return the
    trailer and the file's digest."""
    wanted, start, head = found
    layer = step.layer
    client = cast(_RangeClient, rt.registry()[0])
    stop = threading.Event()
    writer = _file_writer(step, rt, fd, start, stop)
    span = ByteRange(len(head) - start, wanted.size)
    ranges, probed = _probe_then_split(rt, repo, layer.digest, span, writer(None, 0), start)
    progress = _Progress(ranges, span.start)
    if probed:
        progress.add(0, ranges[0].size)
    pieces = [
        (_shifted(r, start), writer(progress, i)) for i, r in enumerate(ranges) if i or not probed
    ]
    tail = bytearray(layer.size - start - wanted.size)
    if tail:
        pieces.append(
            (ByteRange(start + wanted.size, layer.size), _into(tail, start + wanted.size))
        )
    with ThreadPoolExecutor(len(pieces) + 1, thread_name_prefix="layer-range") as pool:
        hashing = pool.submit(_hash_following, fd, progress, wanted.size, head[:start])
        jobs = [
            pool.submit(client.fetch_range, repo, layer.digest, piece, write, cancel=rt.cancel)
            for piece, write in pieces
        ]
        try:
            _wait_all(jobs, stop, progress)
        finally:
            progress.close()
        layer_hasher, file_digest = hashing.result()
    layer_hasher.update(bytes(tail))
    actual = PREFIX + layer_hasher.hexdigest()
    if actual != layer.digest:
        raise RegistryDigestMismatch(f"blob {layer.digest} arrived with digest {actual}")
    return bytes(tail), file_digest
