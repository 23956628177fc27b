"""A large standalone layer (a raw tar holding one file) fetched straight into its blob.

Such a layer is the file's bytes between a header and the end-of-archive marker, so
its bytes go, by offset, into the file's own temp file in the store: no tar reader,
no copy between buffers, one fsync. The layer is fetched in byte ranges, several at
once when it is large (core/artifact/ranges.py decides), each resumed on its own after a break.
A thread hashes the file as far as it has arrived contiguously, for both digests (the
layer's: header + file + trailer; the file's), so with one stream the hashing keeps
pace with the download. The file becomes visible only after the layer digest, the file
digest and size and the trailer (nothing but the end-of-archive marker) all check out.

The file is written into a partial named after it (shell/partials.py) whose progress is
recorded as it goes, so a pull killed part-way leaves what the next pull resumes: it
re-hashes the recorded prefix and, when it still matches, asks only for the missing
ranges. A prefix that changed is started over at once.

Anything else (a compressed layer, several files, a first entry that is not the file,
a registry that answers ``Range`` with the whole blob) returns False before anything
is written, and the layer takes the streaming path of shell/pull.py.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Protocol, cast

from cogw.core.artifact.ranges import (
    PROBE_BYTES,
    STREAMS_THRESHOLD,
    ByteRange,
    split_ranges,
    stream_buffer,
    streams_after_probe,
    streams_for,
)
from cogw.core.artifact.resume import PartialKey, checkpoint_due, keep_partial
from cogw.core.digest import PREFIX
from cogw.core.lock.lockfile import LockFile
from cogw.core.plan.events import Event, EventKind
from cogw.core.plan.planner import FetchLayer
from cogw.shell.arrived import Arrived
from cogw.shell.layerstream import GZIP_MAGIC, ZSTD_MAGIC, HostileLayer
from cogw.shell.partials import Partial, TamperedPartial, failure_of, open_partial
from cogw.shell.rangeprogress import RangeProgress
from cogw.shell.registry.download import (
    RANGE_BUFFER,
    BackgroundHasher,
    RangeIgnored,
    RangeWriter,
)
from cogw.shell.registry.errors import RegistryDigestMismatch
from cogw.shell.runtime import Runtime
from cogw.shell.store import Cancelled, FileStore
from cogw.shell.untar import first_file, is_archive_end
from cogw.shell.writeback import start_writeback

HEAD_BYTES = 64 << 10  # the tar header (and any PAX/long-name entry) must fit in here
MAX_TAIL = 1 << 20  # padding, end-of-archive marker and record padding after the file
HASH_CHUNK = 4 << 20
#: Chunks queued for the layer's hasher: reading back runs ahead of sha256, and each
#: waiting chunk is HASH_CHUNK bytes of resident memory.
HASH_DEPTH = 3
#: Received buffers held for the file's hasher, so it need not read them back.
HELD_BUFFERS = 4


class _Hashers:
    """The layer's hash (header + file + trailer, on its own thread) and the file's hash
    (on the thread that reads the file back), and how far both have got."""

    def __init__(self, head: bytes) -> None:
        self.layer = BackgroundHasher(HASH_DEPTH)
        self.layer.update(head)
        self.file = hashlib.sha256()
        self.pos = 0

    def feed(self, data: bytes | memoryview) -> None:
        self.layer.update(data)
        self.file.update(data)
        self.pos += len(data)

    def file_digest(self) -> str:
        return PREFIX + self.file.copy().hexdigest()


def _read_into(
    fd: int, hashers: _Hashers, end: int, cancel: threading.Event, arrived: Arrived | None = None
) -> None:
    """Hash the file up to ``end``: from the buffers ``arrived`` holds where it has them
    (no read back), from the file elsewhere."""
    while hashers.pos < end:
        if cancel.is_set():
            raise Cancelled("operation cancelled")
        pos = hashers.pos
        data: bytes | memoryview | None = None if arrived is None else arrived.take(pos)
        if data is None:
            limit = end if arrived is None else arrived.read_limit(pos, end)
            data = os.pread(fd, min(HASH_CHUNK, limit - pos), pos)
            if not data:
                raise OSError(f"temp file ends at {pos} bytes, {end} were written")
        hashers.feed(data)
        if arrived is not None:
            arrived.hashed(hashers.pos)
        start_writeback(fd, pos, len(data))  # the final fsync has less to do


def _hash_following(
    partial: Partial,
    progress: RangeProgress,
    total: int,
    hashers: _Hashers,
    cancel: threading.Event,
    arrived: Arrived,
) -> None:
    """Hash the file as it arrives, recording progress in the partial now and then."""
    recorded, recorded_at = progress.written(), time.monotonic()
    try:
        while hashers.pos < total:
            end = progress.wait_past(hashers.pos)
            if end <= hashers.pos:
                raise Cancelled("operation cancelled")
            _read_into(partial.fd, hashers, end, cancel, arrived)
            written, now = progress.written(), time.monotonic()
            if checkpoint_due(written, recorded, now - recorded_at):
                spans = progress.spans()
                partial.checkpoint(hashers.pos, hashers.file_digest(), spans)
                recorded, recorded_at = written, now
    except BaseException:
        hashers.layer.close()
        raise


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
    """Fetch into the file's partial (resuming what an earlier pull kept), check, publish.
    A partial whose kept prefix no longer hashes as recorded is started over at once."""
    wanted, start, head = found
    key = PartialKey(step.layer.digest, step.layer.size, wanted.digest, wanted.size, start)
    partial = open_partial(store, key, len(head) - start, rt.streams, time.time())
    try:
        try:
            try:
                tail, actual = _fetch_and_check(step, rt, repo, partial, found)
            except TamperedPartial as err:
                partial.restart(str(err))
                tail, actual = _fetch_and_check(step, rt, repo, partial, found)
            if not is_archive_end(tail, wanted.size):
                raise HostileLayer(f"layer {step.layer.digest} holds more than {wanted.path}")
            store.publish_temp(wanted.digest, wanted.size, partial.fd, partial.path, actual)
            partial.finished()
        finally:
            partial.close()
    except BaseException as exc:
        if not (partial.resumable and keep_partial(failure_of(exc))):
            partial.discard()
        raise


Writer = RangeWriter


class _RangeClient(Protocol):
    def fetch_range(
        self,
        repo: str,
        digest: str,
        piece: ByteRange,
        write: Writer,
        *,
        cancel: threading.Event | None = None,
        buffer_size: int = ...,
    ) -> None: ...


def _wait_all(jobs: list[Future[None]], stop: threading.Event, progress: RangeProgress) -> None:
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
    step: FetchLayer, rt: Runtime, fd: int, start: int, stop: threading.Event, arrived: Arrived
) -> Callable[[RangeProgress | None, int], Writer]:
    """Writers that put the layer's bytes at their offset in the file (the layer's header
    is ``start`` bytes), offer them to the hasher, count them for it and report them.
    A writer returns whether the hasher kept the buffer (the reader must not reuse it)."""
    weight, digest = step.weight, step.layer.digest

    def writer(progress: RangeProgress | None, index: int) -> Writer:
        def write(offset: int, view: memoryview) -> bool:
            if stop.is_set() or rt.cancel.is_set():
                raise Cancelled("operation cancelled")
            os.pwrite(fd, view, offset - start)
            kept = False
            if progress is not None:
                kept = arrived.offer(offset - start, view)  # before the hasher may look
                progress.add(index, len(view))
            rt.emit(Event(EventKind.BYTES, weight=weight, layer_digest=digest, nbytes=len(view)))
            return kept

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


_Writers = Callable[[RangeProgress | None, int], Writer]


def _start(
    rt: Runtime,
    partial: Partial,
    found: tuple[LockFile, int, bytes],
    step: FetchLayer,
    writers: _Writers,
    repo: str,
) -> tuple[RangeProgress, tuple[ByteRange, ...], _Hashers, bool]:
    """What this download starts from: a fresh file (the head's bytes of it written, and
    on the default streams its probe range fetched) or the partial's kept prefix,
    re-hashed here and refused if it changed. The last value: the first range is done."""
    wanted, start, head = found
    plan = partial.plan
    if plan is None:
        os.pwrite(partial.fd, head[start:], 0)
        span = ByteRange(len(head) - start, wanted.size)
        ranges, probed = _probe_then_split(
            rt, repo, step.layer.digest, span, writers(None, 0), start
        )
        progress = RangeProgress(ranges, span.start)
        if probed:
            progress.add(0, ranges[0].size)
        return progress, ranges, _Hashers(head[:start]), probed
    hashers = _Hashers(head[:start])
    try:
        _read_into(partial.fd, hashers, plan.verified, rt.cancel)
        if hashers.file_digest() != plan.verified_digest:
            raise TamperedPartial("the kept partial changed since it was recorded")
    except OSError as err:
        hashers.layer.close()
        raise TamperedPartial(f"the kept partial could not be read back: {err}") from err
    except BaseException:
        hashers.layer.close()
        raise
    kept = plan.verified + sum(k.size for k in plan.kept)
    rt.emit(Event(EventKind.BYTES, weight=step.weight, layer_digest=step.layer.digest, nbytes=kept))
    return RangeProgress(plan.fetch, plan.verified, plan.kept), plan.fetch, hashers, False


def _fetch_and_check(
    step: FetchLayer, rt: Runtime, repo: str, partial: Partial, found: tuple[LockFile, int, bytes]
) -> tuple[bytes, str]:
    """Fetch the file's missing ranges and the trailer and check the layer digest; return
    the trailer and the file's digest."""
    wanted, start, _ = found
    layer = step.layer
    client = cast(_RangeClient, rt.registry()[0])
    stop = threading.Event()
    arrived = Arrived(HELD_BUFFERS, HELD_BUFFERS * RANGE_BUFFER)
    writers = _file_writer(step, rt, partial.fd, start, stop, arrived)
    progress, ranges, hashers, probed = _start(rt, partial, found, step, writers, repo)
    buffer = stream_buffer(len(ranges))  # memory stays flat however many streams
    tail = bytearray(layer.size - start - wanted.size)
    pieces = [
        (_shifted(r, start), writers(progress, i)) for i, r in enumerate(ranges) if i or not probed
    ]
    if tail:
        pieces.append(
            (ByteRange(start + wanted.size, layer.size), _into(tail, start + wanted.size))
        )
    with ThreadPoolExecutor(len(pieces) + 1, thread_name_prefix="layer-range") as pool:
        args = (partial, progress, wanted.size, hashers, rt.cancel, arrived)
        hashing = pool.submit(_hash_following, *args)
        jobs = [
            pool.submit(
                client.fetch_range,
                repo,
                layer.digest,
                piece,
                write,
                cancel=rt.cancel,
                buffer_size=buffer,
            )
            for piece, write in pieces
        ]
        try:
            _wait_all(jobs, stop, progress)
        finally:
            progress.close()
        hashing.result()
    hashers.layer.update(bytes(tail))
    actual = PREFIX + hashers.layer.hexdigest()
    if actual != layer.digest:
        raise RegistryDigestMismatch(f"blob {layer.digest} arrived with digest {actual}")
    return bytes(tail), PREFIX + hashers.file.hexdigest()
