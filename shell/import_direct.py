"""Import, large local files: layer digest without a second read, push from the source.

A large local file that the plan puts in a one-file uncompressed layer gets its
layer digest from the inventory's one read (remembered in the stat cache under
the file's stat). If the file's stat changed, or nothing is cached, it is read
again for both digests, and the file digest proves the layer digest names the
inventoried bytes. Its layer is then pushed straight from the source, while
the store copy runs in the background (``cogw.shell.import_pack``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.artifact.packing import LayerPlan
from cogw.core.artifact.tags import layer_media_type_for
from cogw.core.artifact.tarformat import standalone_framing
from cogw.core.lock.lockfile import MEDIA_TYPE_TAR, LockLayer
from cogw.core.plan.events import Event, EventKind
from cogw.core.plan.importplan import ImportWeight
from cogw.core.plan.ingestway import copies_with_push
from cogw.shell.hashing import STAT_CACHE_NAME, StatCache, cached_layer_digest
from cogw.shell.import_ingest import ImportFailed, is_standalone_raw
from cogw.shell.import_push import push_bytes, push_layer, record_pushed
from cogw.shell.import_tee import PushCopy
from cogw.shell.layers import LayerSourceError, OpenFile, digest_file_and_layer
from cogw.shell.runtime import Runtime, cancel_on_interrupt
from cogw.shell.store import FileStore

if TYPE_CHECKING:
    from cogw.shell.sources import Source


def local_standalone(
    layers: Sequence[LayerPlan], to_pack: Sequence[int], source: Source
) -> dict[int, Path]:
    """Layer index -> local file, for the one-file uncompressed layers among ``to_pack``
    whose file a local source holds."""
    found = {}
    for i in to_pack:
        if is_standalone_raw(layers[i]):
            local = source.local_path(layers[i].files[0].path)
            if local is not None:
                found[i] = local
    return found


def _file_opener(local: Path) -> OpenFile:
    def open_file(_: InventoryFile) -> IO[bytes]:
        return open(local, "rb")

    return open_file


def _direct_layer(plan: LayerPlan, local: Path, cache: StatCache | None) -> LockLayer:
    """The layer digest of a large local file: remembered by the inventory, else read.

    Either way the digest names the inventoried bytes: the cached one was
    hashed in the inventory's read of this very file (same stat), the read
    one is checked through the file digest. The registry client checks the
    pushed bytes against it before the upload is committed.
    """
    known = _known_layer(plan.files[0], local, cache) if cache is not None else None
    return known if known is not None else _read_layer(plan.files[0], local)


def _known_layer(f: InventoryFile, local: Path, cache: StatCache) -> LockLayer | None:
    """The layer the inventory hashed along with ``f``, if ``local`` has not changed since."""
    before, after = standalone_framing(f.path, f.size)
    digest = cached_layer_digest(cache, local, f.digest, (before, after))
    if digest is None:
        return None
    return LockLayer(
        digest=digest,
        media_type=MEDIA_TYPE_TAR,
        size=len(before) + f.size + len(after),
        size_uncompressed=f.size,
    )


def _read_layer(f: InventoryFile, local: Path) -> LockLayer:
    """One read of a local file gives its layer digest, checked through its file digest."""
    try:
        with open(local, "rb") as reader:
            digest, layer = digest_file_and_layer(f.path, f.size, reader)
    except (OSError, LayerSourceError) as exc:
        raise ImportFailed(f'read "{f.path}": {exc}') from exc
    if digest != f.digest:
        raise ImportFailed(
            f'"{f.path}" changed since it was inventoried (expected {f.digest}, read {digest});'
            " run the import again"
        )
    return layer


def copied_by_push(layers: Sequence[LayerPlan], local: dict[int, Path], rt: Runtime) -> set[int]:
    """The layers among ``local`` whose file's store copy their push makes
    (``core.plan.ingestway``); the ordinary ingest places the others."""
    store = rt.store
    if not isinstance(store, FileStore):
        return set()

    def copies(plan: LayerPlan, path: Path) -> bool:
        digest = plan.files[0].digest
        return copies_with_push(
            rt.ingest_mode, store.exists(digest), lambda: store.needs_copy(digest, path)
        )

    return {i for i, path in local.items() if copies(layers[i], path)}


def digest_and_push_direct(
    step: ImportWeight,
    layers: Sequence[LayerPlan],
    local: dict[int, Path],
    rt: Runtime,
    copied: Collection[int] = (),
) -> dict[int, LockLayer]:
    """Digest each large local file and push its layer straight from the source; the
    layers in ``copied`` also copy their file into the store as they are read."""
    with StatCache(rt.store.root / STAT_CACHE_NAME) as cache:
        return _push_direct(step, layers, local, cache, rt, copied)


def _push_with_copy(
    step: ImportWeight, plan: LayerPlan, layer: LockLayer, local: Path, rt: Runtime
) -> None:
    """Push the layer; its stream also writes the store copy (``cogw.shell.import_tee``)."""
    assert isinstance(rt.store, FileStore)  # copied_by_push chose only a FileStore's files
    f = plan.files[0]
    with PushCopy(rt.store, f.path, f.size, local, (f.digest, layer.digest)) as copy:
        push_layer(step, plan, layer, _file_opener(local), rt, lambda _p, _o: copy.stream())
    if copy.stored:
        rt.emit(
            Event(EventKind.BYTES, weight=step.weight, path=f.path, nbytes=f.size, phase="ingest")
        )


def _adopted_early(
    step: ImportWeight, plan: LayerPlan, layer: LockLayer, local: Path, rt: Runtime
) -> bool:
    """Commit the upload started for ``local`` while planning, when its reads gave this
    layer (``cogw.shell.import_early``); False: push it as usual."""
    early = rt.early.take(local) if rt.early is not None else None
    if early is None:
        return False
    f = plan.files[0]
    try:
        media_type = layer_media_type_for(rt.shape, layer.media_type)
        if not early.adopt(f.digest, layer.digest, media_type, push_bytes(step, layer, rt)):
            return False
    finally:
        early.close()  # an upload not adopted is cancelled here
    record_pushed(step, layer, "uploaded", rt, "uploaded while planning")
    if rt.store.exists(f.digest):
        rt.emit(
            Event(EventKind.BYTES, weight=step.weight, path=f.path, nbytes=f.size, phase="ingest")
        )
    return True


def _push_direct(
    step: ImportWeight,
    layers: Sequence[LayerPlan],
    local: dict[int, Path],
    cache: StatCache,
    rt: Runtime,
    copied: Collection[int],
) -> dict[int, LockLayer]:
    def one(i: int) -> LockLayer:
        layer = _direct_layer(layers[i], local[i], cache)
        if _adopted_early(step, layers[i], layer, local[i], rt):
            return layer
        if i in copied:
            _push_with_copy(step, layers[i], layer, local[i], rt)
        else:
            push_layer(step, layers[i], layer, _file_opener(local[i]), rt)
        return layer

    rt.emit(
        Event(
            EventKind.PHASE,
            weight=step.weight,
            phase="push",
            nbytes=sum(layers[i].files[0].size for i in local),
        )
    )
    with ThreadPoolExecutor(max_workers=max(1, rt.jobs)) as pool, cancel_on_interrupt(rt.cancel):
        return dict(zip(local, pool.map(one, local), strict=True))
