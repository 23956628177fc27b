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

import hashlib
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, cast

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.artifact.packing import LayerPlan
from cogw.core.artifact.tarformat import standalone_framing
from cogw.core.digest import PREFIX
from cogw.shell.blobio import StoreError, start_writeback, write_all
from cogw.shell.import_ingest import ImportFailed
from cogw.shell.layers import stream_layer
from cogw.shell.registry.errors import RegistryDigestMismatch
from cogw.shell.store import FileStore

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

    def __init__(self, fd: int, digest: str, framing: tuple[bytes, bytes]) -> None:
        self._fd = fd
        self._digest = digest
        self._chunks: queue.Queue[bytes | None] = queue.Queue(IN_FLIGHT)
        self._hasher = hashlib.sha256()
        self._layer_hasher = hashlib.sha256(framing[0])
        self._after = framing[1]
        self.error: StoreError | None = None
        self._thread = threading.Thread(target=self._run, name="store-copy", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        written = handed = 0
        while (chunk := self._chunks.get()) is not None:
            if self.error is not None:
                continue
            self._hasher.update(chunk)
            self._layer_hasher.update(chunk)
            try:
                write_all(self._fd, chunk)
            except OSError as err:
                self.error = StoreError(f"write {self._digest}: {err}")
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
        layer = self._layer_hasher.copy()
        layer.update(self._after)
        return PREFIX + self._hasher.hexdigest(), PREFIX + layer.hexdigest()


class _TeeReader:
    """The source file as the layer stream reads it; each chunk also goes to the sink."""

    def __init__(self, reader: IO[bytes], sink: _Sink) -> None:
        self._reader = reader
        self._sink = sink

    def read(self, n: int = -1) -> bytes:
        chunk = self._reader.read(n)
        if chunk:
            self._sink.put(chunk)
        return chunk

    def __enter__(self) -> _TeeReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._reader.close()


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
    """One large local file: its layer's stream for the push, and its store copy.

    Use as a context manager around the push: on the way out, a temp that was
    not published (the push failed, or never opened a stream because the
    registry had the layer) is removed; ``stored`` says whether the blob was made.
    """

    def __init__(self, store: FileStore, plan: LayerPlan, local: Path, layer_digest: str) -> None:
        self._store = store
        self._plan = plan
        self._file: InventoryFile = plan.files[0]
        self._layer_digest = layer_digest
        self._local = local
        self._current: tuple[_ProvenLayer, _Sink, int, Path] | None = None
        self.stored = False

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
        """The layer's bytes for one upload attempt, copied into a fresh temp as read."""
        self._discard()
        fd, tmp = self._store.open_temp(self._file.digest)
        sink = _Sink(fd, self._file.digest, standalone_framing(self._file.path, self._file.size))

        def open_file(_: InventoryFile) -> IO[bytes]:
            return cast(IO[bytes], _TeeReader(open(self._local, "rb"), sink))

        layer = _ProvenLayer(stream_layer(self._plan, open_file), self)
        self._current = (layer, sink, fd, tmp)
        return layer

    def prove(self, layer: _ProvenLayer) -> None:
        """The whole stream was read: the file's bytes must be the inventoried ones.
        Then the copy becomes the blob, before the upload is committed."""
        if self._current is None or self._current[0] is not layer:
            raise ImportFailed(f'"{self._file.path}": an upload stream outlived its attempt')
        _, sink, fd, tmp = self._current
        actual, actual_layer = sink.finish()
        f = self._file
        if actual != f.digest:
            raise ImportFailed(
                f'"{f.path}" changed since it was inventoried (expected {f.digest}, read'
                f" {actual}); run the import again"
            )
        if actual_layer != self._layer_digest:
            raise RegistryDigestMismatch(
                f"upload of {self._layer_digest} cancelled: the content has digest {actual_layer}"
            )
        self._store.publish_temp(f.digest, f.size, fd, tmp, actual)
        self._current = None
        os.close(fd)
        self.stored = True

    def _discard(self) -> None:
        if self._current is None:
            return
        _, sink, fd, tmp = self._current
        self._current = None
        try:
            sink.finish()
        except StoreError:
            pass  # the copy is being thrown away: its write error no longer matters
        finally:
            os.close(fd)
            tmp.unlink(missing_ok=True)
