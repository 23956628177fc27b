"""Import, first stage: put a weight's files into the store, verified by the store.

Local files are hardlinked or reflinked where the filesystem allows, else
copied and verified; remote files stream straight in. A remote file that is a
one-file uncompressed layer is hashed inside that layer's tar framing while it
streams, so the one download gives the layer digest too (no second pass over
gigabytes). Does not decide which layers exist (the plan did) nor push.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import IO, TYPE_CHECKING, BinaryIO, cast

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.artifact.packing import LayerPlan
from cogw.core.artifact.tarformat import standalone_framing
from cogw.core.digest import PREFIX
from cogw.core.lock.lockfile import MEDIA_TYPE_TAR, LockLayer
from cogw.core.plan.events import Event, EventKind
from cogw.core.plan.importplan import ImportWeight
from cogw.core.plan.workers import split_for_pool
from cogw.shell.http_fetch import fetched_layer
from cogw.shell.layers import CheckedReader, OpenFile
from cogw.shell.runtime import Runtime, cancel_on_interrupt
from cogw.shell.store import LinkMode, Store
from cogw.shell.storebatch import batched

if TYPE_CHECKING:
    from cogw.shell.sources import Source


class ImportFailed(Exception):
    pass


# A layer digest captured while ingesting, keyed by the file's (path, digest).
Captured = dict[tuple[str, str], LockLayer]


class LayerTee:
    """A reader that also hashes what it hands out into a standalone layer digest.

    A remote file streams into the store once; hashing the same bytes inside
    the tar framing of a one-file uncompressed layer makes that download give
    the layer digest too, instead of another pass over gigabytes
    (digest_layers). The result is only trusted when the store verified those
    same bytes.
    """

    def __init__(self, reader: IO[bytes], path: str, size: int) -> None:
        self._reader = reader
        self._size = size
        before, self._after = standalone_framing(path, size)
        self._hash = hashlib.sha256(before)
        self._layer_size = len(before) + size + len(self._after)
        self._read = 0

    def read(self, n: int = -1) -> bytes:
        chunk = self._reader.read(n)
        self._hash.update(chunk)
        self._read += len(chunk)
        return chunk

    def layer(self) -> LockLayer | None:
        if self._read != self._size:
            return None
        hasher = self._hash.copy()
        hasher.update(self._after)
        return LockLayer(
            digest=PREFIX + hasher.hexdigest(),
            media_type=MEDIA_TYPE_TAR,
            size=self._layer_size,
            size_uncompressed=self._size,
        )


def is_standalone_raw(layer: LayerPlan) -> bool:
    """A one-file uncompressed layer: a fixed tar frame around the file's bytes."""
    return layer.gzip_level is None and len(layer.files) == 1


def _standalone_raw(layers: Sequence[LayerPlan]) -> dict[str, str]:
    """File digest -> path, for the one-file uncompressed layers (the large tensors)."""
    return {p.files[0].digest: p.files[0].path for p in layers if is_standalone_raw(p)}


def _ingest_file(
    f: InventoryFile, source: Source, rt: Runtime, store: Store, layer_path: str | None
) -> LockLayer | None:
    """Put one file into ``store``; for a remote file read as the standalone layer at
    ``layer_path``, that layer's digest too."""
    local = source.local_path(f.path)
    if local is not None:
        store.ingest_path(f.digest, f.size, local, mode=cast(LinkMode, rt.ingest_mode))
        return None
    with source.open(f.path) as reader:
        if layer_path is None:
            store.put_file(f.digest, f.size, reader, cancel=rt.cancel)
            return None
        tee = LayerTee(reader, layer_path, f.size)
        stored = store.put_file(f.digest, f.size, cast(BinaryIO, tee), cancel=rt.cancel)
    # An already-present blob was drained, not verified: its tee hash proves nothing.
    return tee.layer() if stored else None


def ingest(
    step: ImportWeight,
    source: Source,
    to_pack: Sequence[LayerPlan],
    rt: Runtime,
    skip: Collection[str] = (),
) -> Captured:
    """Put every file the store lacks into it, verified by the store, except the
    digests in ``skip`` (their push makes the copy: ``cogw.shell.import_tee``).

    The copy of each large uncompressed file of a layer in ``to_pack`` (layers
    whose digest the import must learn) also yields that layer's digest.
    """
    unique = {f.digest: f for f in step.files if f.digest not in skip}
    todo = [f for f in unique.values() if not rt.store.exists(f.digest)]
    raw = _standalone_raw(to_pack)
    rt.emit(
        Event(EventKind.PHASE, weight=step.weight, phase="ingest", nbytes=sum(f.size for f in todo))
    )
    # A file downloaded while planning is in the store already, its layer hashed then.
    captured: Captured = {
        (path, digest): layer
        for digest, path in raw.items()
        if (layer := fetched_layer(path, digest)) is not None
    }

    def ingest_one(f: InventoryFile, store: Store) -> None:
        layer_path = raw.get(f.digest)
        try:
            layer = _ingest_file(f, source, rt, store, layer_path)
        except Exception as exc:
            raise ImportFailed(
                f'ingest "{f.path}": {exc}'
                " (if the source changed during the import, run the import again)"
            ) from exc
        if layer is not None and layer_path is not None:
            captured[(layer_path, f.digest)] = layer
        rt.emit(
            Event(EventKind.BYTES, weight=step.weight, path=f.path, nbytes=f.size, phase="ingest")
        )

    # Every file becomes a blob at the end, all flushed to disk together: one
    # sync for the weight instead of an fsync per (mostly small) file. The files
    # in ``todo`` were just found missing: the batch does not stat them again.
    with batched(rt.store, {f.digest for f in todo}) as store:
        _map_parallel(lambda f: ingest_one(f, store), todo, rt)
    return captured


def _map_parallel(
    fn: Callable[[InventoryFile], None], items: Sequence[InventoryFile], rt: Runtime
) -> None:
    """``fn`` of every item: the large files on a pool of ``rt.jobs`` threads, the small
    ones on this thread meanwhile (:mod:`cogw.core.plan.workers`: threads copying small
    files only queue for the GIL; 10 000 of them ingest faster on one)."""
    pooled, here = split_for_pool([f.size for f in items], rt.jobs)
    with ThreadPoolExecutor(max_workers=max(1, rt.jobs)) as pool, cancel_on_interrupt(rt.cancel):
        futures = [pool.submit(fn, items[i]) for i in pooled]
        for i in here:
            fn(items[i])
        for future in futures:
            future.result()


def store_opener(rt: Runtime) -> OpenFile:
    """Opens each file of a layer from the store (where ingest put it)."""

    def open_file(f: InventoryFile) -> IO[bytes]:
        return open(rt.store.path(f.digest), "rb")

    return open_file


def checked_opener(source: Source, rt: Runtime) -> OpenFile:
    """Opens each file of a layer from the store when it is there, else from the (local)
    source, checked against its digest as it is read (``CheckedReader``): a layer can
    then be packed while ingest is still copying its files (``cogw.shell.import_pack``)."""

    def open_file(f: InventoryFile) -> IO[bytes]:
        if rt.store.exists(f.digest):
            return open(rt.store.path(f.digest), "rb")
        return cast(IO[bytes], CheckedReader(source.open(f.path), f))

    return open_file
