"""Import, a large local file's store copy written from its push's own reads.

When a large local file must be copied into the store (``core.plan.ingestway``),
its push reads it anyway: every chunk the layer stream reads goes to the socket,
and also to a helper thread that hashes it (as the file, and framed as its
standalone layer) and writes it into a store temp. The push thread then only
reads and sends, and the registry client does not hash the stream again
(``SelfProvingStream``): the helper's digests prove it. Before the upload is
committed, both must be the planned ones; only then does the temp become the
blob (sealed and fsynced). A file that changed since it was inventoried fails
the import, and neither the upload nor the blob is committed. One read of the
file instead of two, and its bytes reach the disk while they are sent.

A retry opens the file again and starts over into a fresh temp (the resumed
bytes are read again, not sent again). A stream that is abandoned (a failure,
Ctrl-C) removes its temp; nothing half-written is ever visible.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from cogw.core.artifact.tarformat import standalone_framing
from cogw.shell.blobio import CHUNK_SIZE, StoreError, write_all
from cogw.shell.layers import FramedDigests, LayerSourceError, exact_chunks
from cogw.shell.registry.errors import RegistryDigestMismatch
from cogw.shell.store import FileStore
from cogw.shell.writeback import start_writeback

#: A temp's prefix dir before its digest is known: any valid digest names one.
UNKNOWN_DIGEST = "sha256:" + "0" * 64
#: Chunks in flight between the push and the copy: enough to ride out a slow write,
#: few enough (1 MiB each) that memory stays flat.
IN_FLIGHT = 8
#: The copy's bytes are handed to the disk every this many bytes as they are
#: written, so the fsync before the commit finds little left to write.
WRITEBACK_BYTES = 32 << 20


class _Sink:
    """A helper thread that hashes chunks and writes them to ``fd``, in order.

    A write error is kept (and raised to the next ``put``), and the thread goes
    on taking chunks without writing them, so the push is never left blocked
    on a full queue.
    """

    def __init__(self, fd: int | None, name: str, size: int) -> None:
        self._fd = fd
        self._name = name
        self._chunks: queue.Queue[bytes | None] = queue.Queue(IN_FLIGHT)
        self._digests = FramedDigests(name, size)
        self.error: StoreError | None = None
        self._thread = threading.Thread(target=self._run, name="store-copy", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        written = handed = 0
        while (chunk := self._chunks.get()) is not None:
            if self.error is not None:
                continue
            self._digests.update(chunk)
            if self._fd is None:
                continue  # digests only: the store takes the file another way
            try:
                write_all(self._fd, chunk)
            except OSError as err:
                self.error = StoreError(f"write the store copy of {self._name}: {err}")
            written += len(chunk)
            if written - handed >= WRITEBACK_BYTES:
                start_writeback(self._fd, handed, written - handed)
                handed = written

    def put(self, chunk: bytes) -> None:
        if self.error is not None:
            raise self.error
        self._chunks.put(chunk)

    def finish(self) -> tuple[str, str]:
        """Wait for every chunk; the digests of what was written, as a file and framed
        as its standalone layer."""
        if self._thread.is_alive():
            self._chunks.put(None)
            self._thread.join()
        if self.error is not None:
            raise self.error
        return self._digests.digests()


class _ProvenLayer:
    """A layer stream the registry client lets prove itself (``SelfProvingStream``)."""

    def __init__(self, chunks: Iterator[bytes], copy: PushCopy) -> None:
        self._chunks = chunks
        self._copy = copy

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def prove(self) -> None:
        self._copy.prove(self)


class PushCopy:
    """One large local file: its standalone layer's stream for a push, and its store copy.

    ``expected`` (file digest, layer digest) are what the plan holds; the stream is
    proven only when its reads give exactly those. Without them (an upload started
    before the plan, ``cogw.shell.import_early``) the digests read are recorded in
    ``digests`` and the copy is stored under its own digest. Use as a context
    manager around the push: on the way out, a temp that was not published (the
    push failed, or never read its stream) is removed; ``stored`` says whether the
    blob was made.
    """

    def __init__(
        self,
        store: FileStore | None,
        path: str,
        size: int,
        local: Path,
        expected: tuple[str, str] | None,
    ) -> None:
        self._store = store
        self._path = path
        self._size = size
        self._local = local
        self._expected = expected
        # The upload attempt under way: its stream, its sink and its temp (fd, name).
        self._current: tuple[_ProvenLayer, _Sink, tuple[int, Path] | None] | None = None
        self.digests: tuple[str, str] | None = None
        self.stored = False

    @property
    def layer_size(self) -> int:
        before, after = standalone_framing(self._path, self._size)
        return len(before) + self._size + len(after)

    def __enter__(self) -> PushCopy:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._discard()

    def stream(self) -> _ProvenLayer:
        """The layer's bytes for one upload attempt, copied into a fresh temp as read
        (hashed only, without a store)."""
        self._discard()
        temp = None
        if self._store is not None:
            temp = self._store.open_temp(self._expected[0] if self._expected else UNKNOWN_DIGEST)
        sink = _Sink(temp[0] if temp is not None else None, self._path, self._size)
        layer = _ProvenLayer(self._chunks(sink), self)
        self._current = (layer, sink, temp)
        return layer

    def _chunks(self, sink: _Sink) -> Iterator[bytes]:
        before, after = standalone_framing(self._path, self._size)
        yield before
        with open(self._local, "rb") as reader:
            for chunk in exact_chunks(self._path, self._size, reader, CHUNK_SIZE):
                sink.put(chunk)
                yield chunk
        yield after

    def prove(self, layer: _ProvenLayer) -> None:
        """The whole stream was read: its digests must be the planned ones (when known).
        Then the copy becomes the blob, before the upload is committed."""
        if self._current is None or self._current[0] is not layer:
            raise LayerSourceError(f'"{self._path}": an upload stream outlived its attempt')
        _, sink, temp = self._current
        actual, actual_layer = sink.finish()
        if self._expected is not None:
            self._check(actual, actual_layer, *self._expected)
        if self._store is not None and temp is not None:
            fd, tmp = temp
            self._store.publish_temp(actual, self._size, fd, tmp, actual)
            os.close(fd)
            self.stored = True
        self._current = None
        self.digests = (actual, actual_layer)

    def _check(self, actual: str, actual_layer: str, digest: str, layer_digest: str) -> None:
        if actual != digest:
            raise LayerSourceError(
                f'"{self._path}" changed since it was inventoried (expected {digest}, read'
                f" {actual}); run the import again"
            )
        if actual_layer != layer_digest:
            raise RegistryDigestMismatch(
                f"upload of {layer_digest} cancelled: the content has digest {actual_layer}"
            )

    def _discard(self) -> None:
        if self._current is None:
            return
        _, sink, temp = self._current
        self._current = None
        try:
            sink.finish()
        except StoreError:
            pass  # the copy is being thrown away: its write error no longer matters
        finally:
            if temp is not None:
                os.close(temp[0])
                temp[1].unlink(missing_ok=True)
