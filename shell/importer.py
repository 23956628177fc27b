"""Import: source → store → deterministic layers → registry → weights.lock.

For each ImportWeight step: ingest the filtered files into the store (a
hardlink or reflink where the filesystem allows, else a verified copy; remote
files stream straight in), plan layers (pure), compute layer digests (or reuse
them from weights.lock when the packer and file grouping are unchanged), build
the config blob and manifest (pure, Cog's exact bytes), push blobs then the
manifest, and only then record the entry. weights.lock is written once, under
the project lock, after every push that succeeded: a failed push never leaves
a lockfile naming manifests the registry lacks.

Bytes are read as few times as the checks allow, because a cold import of a
large model is bound by disk and network, not by CPU:

* a large local file (a one-file uncompressed layer) gets its file and layer
  digests from the inventory's one read (remembered in the stat cache under
  the file's stat; if the file's stat changed, or nothing is cached, it is
  read again for both, and the file digest proves the layer digest names the
  inventoried bytes), then is pushed straight from the source while the store
  copy runs in the background; the manifest waits for the copy;
* a large remote file is hashed into its layer digest while it streams into
  the store, then pushed from the store;
* small files are packed into gzip bundles from the store, after ingest.

This module does not know tar bytes, registry protocols or how sources list files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO, cast

from returns.result import Failure

from cogw.core.digest import PREFIX, sha256_of
from cogw.core.events import Event, EventKind
from cogw.core.inventory import InventoryFile
from cogw.core.lockfile import (
    MEDIA_TYPE_TAR,
    LockFile,
    Lockfile,
    LockLayer,
    LockSource,
    Shape,
    WeightEntry,
    entries_equal,
    find_weight,
    make_entry,
    render_lockfile,
    retain,
    upsert,
)
from cogw.core.oci import (
    MEDIA_TYPE_MANIFEST,
    config_blob,
    manifest_bytes,
    manifest_problems,
)
from cogw.core.outcome import StepResult, StepStatus
from cogw.core.packing import LayerPlan, PackOptions, plan_layers, reusable_layers
from cogw.core.plan import ImportWeight
from cogw.core.render import format_size
from cogw.core.tags import tag_for
from cogw.core.tarformat import standalone_framing
from cogw.core.timefmt import format_go_time
from cogw.shell.execute import (
    Runtime,
    cancel_on_interrupt,
    failure,
    read_lock_strict,
)
from cogw.shell.fs import atomic_write, project_lock
from cogw.shell.hashing import STAT_CACHE_NAME, StatCache, cached_layer_digest
from cogw.shell.layers import (
    LayerSourceError,
    OpenFile,
    PackedLayer,
    digest_file_and_layer,
    digest_layers,
    stream_layer,
)
from cogw.shell.lockwrite import declared_names, several_sources, write_shape
from cogw.shell.registry import RegistryDigestMismatch
from cogw.shell.store import LinkMode

if TYPE_CHECKING:
    from cogw.shell.sources import Source


class ImportFailed(Exception):
    pass


# A layer digest captured while ingesting, keyed by the file's (path, digest).
Captured = dict[tuple[str, str], PackedLayer]


class _LayerTee:
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

    def layer(self) -> PackedLayer | None:
        if self._read != self._size:
            return None
        hasher = self._hash.copy()
        hasher.update(self._after)
        return PackedLayer(
            PREFIX + hasher.hexdigest(), self._layer_size, self._size, MEDIA_TYPE_TAR
        )


def _standalone_raw(plans: Sequence[LayerPlan]) -> dict[str, str]:
    """File digest -> path, for the one-file uncompressed layers (the large tensors)."""
    return {
        p.files[0].digest: p.files[0].path
        for p in plans
        if p.gzip_level is None and len(p.files) == 1
    }


def _ingest_file(
    f: InventoryFile, source: Source, rt: Runtime, layer_path: str | None
) -> PackedLayer | None:
    """Put one file into the store; for a remote file read as the standalone layer at
    ``layer_path``, that layer's digest too."""
    local = source.local_path(f.path)
    if local is not None:
        rt.store.ingest_path(f.digest, f.size, local, mode=cast(LinkMode, rt.ingest_mode))
        return None
    with source.open(f.path) as reader:
        if layer_path is None:
            rt.store.put_file(f.digest, f.size, reader, cancel=rt.cancel)
            return None
        tee = _LayerTee(reader, layer_path, f.size)
        stored = rt.store.put_file(f.digest, f.size, cast(BinaryIO, tee), cancel=rt.cancel)
    # An already-present blob was drained, not verified: its tee hash proves nothing.
    return tee.layer() if stored else None


def _ingest(
    step: ImportWeight, source: Source, plans: Sequence[LayerPlan] | None, rt: Runtime
) -> Captured:
    """Put every file the store lacks into it, verified by the store.

    With ``plans`` (layer digests still to compute), the copy of each large
    uncompressed file also yields its layer digest.
    """
    unique = {f.digest: f for f in step.files}
    todo = [f for f in unique.values() if not rt.store.exists(f.digest)]
    raw = _standalone_raw(plans) if plans is not None else {}
    rt.emit(
        Event(EventKind.PHASE, weight=step.weight, phase="ingest", nbytes=sum(f.size for f in todo))
    )
    captured: Captured = {}

    def ingest_one(f: InventoryFile) -> None:
        layer_path = raw.get(f.digest)
        try:
            layer = _ingest_file(f, source, rt, layer_path)
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

    _map_parallel(ingest_one, todo, rt)
    return captured


def _map_parallel(
    fn: Callable[[InventoryFile], None], items: Sequence[InventoryFile], rt: Runtime
) -> None:
    with ThreadPoolExecutor(max_workers=max(1, rt.jobs)) as pool, cancel_on_interrupt(rt.cancel):
        for _ in pool.map(fn, items):
            pass


def _opener(rt: Runtime) -> OpenFile:
    def open_file(f: InventoryFile) -> IO[bytes]:
        return open(rt.store.path(f.digest), "rb")

    return open_file


def _reusable_layers(
    plans: Sequence[LayerPlan], existing: WeightEntry | None, same_envelope: bool
) -> list[PackedLayer] | None:
    """The fast path's recorded layers (core/packing.py decides) as packed layers."""
    found = reusable_layers(plans, existing, same_envelope)
    if found is None:
        return None
    return [PackedLayer(x.digest, x.size, x.size_uncompressed, x.media_type) for x in found]


def build_entry(
    step: ImportWeight,
    plans: Sequence[LayerPlan],
    packed: Sequence[PackedLayer],
    existing: WeightEntry | None,
    imported_at: str,
) -> tuple[WeightEntry, bytes, bytes]:
    """The lock entry with its manifest digest, plus the config blob and manifest bytes."""
    files = [
        LockFile(f.path, f.size, f.digest, layer.digest)
        for plan, layer in zip(plans, packed, strict=True)
        for f in plan.files
    ]
    layers = [LockLayer(p.digest, p.media_type, p.size, p.size_uncompressed) for p in packed]
    spec = step.spec
    source = LockSource(spec.uri, step.fingerprint, spec.include, spec.exclude, imported_at)
    entry = make_entry(
        name=spec.name, target=spec.target, source=source, digest="", files=files, layers=layers
    )
    problems = manifest_problems(entry)
    if problems:
        raise ImportFailed(f'weight "{spec.name}": build weight manifest: {problems[0]}')
    config = config_blob(entry)
    manifest = manifest_bytes(entry, config)
    entry = _with_digest(entry, sha256_of(manifest))
    if existing is not None and entries_equal(
        existing, _with_time(entry, existing.source.imported_at)
    ):
        entry = _with_time(entry, existing.source.imported_at)  # keep importedAt: no churn
    return entry, config, manifest


def _with_digest(entry: WeightEntry, digest: str) -> WeightEntry:
    return replace(entry, digest=digest)


def _with_time(entry: WeightEntry, imported_at: str) -> WeightEntry:
    return replace(entry, source=replace(entry.source, imported_at=imported_at))


def _push_layer(
    step: ImportWeight, plan: LayerPlan, layer: PackedLayer, open_file: OpenFile, rt: Runtime
) -> None:
    client, repo = rt.registry()
    outcome = client.push_blob(
        repo,
        layer.digest,
        layer.size,
        lambda: stream_layer(plan, open_file),
        cancel=rt.cancel,
        on_bytes=lambda n: rt.emit(
            Event(
                EventKind.BYTES,
                weight=step.weight,
                phase="push",
                layer_digest=layer.digest,
                nbytes=n,
            )
        ),
    )
    rt.emit(
        Event(
            EventKind.PUSH_BLOB,
            weight=step.weight,
            layer_digest=layer.digest,
            layer_size=layer.size,
            message=outcome,
        )
    )


def _push_layers(
    step: ImportWeight, plans: Sequence[LayerPlan], packed: Sequence[PackedLayer], rt: Runtime
) -> None:
    """Push the layers from the store, ``rt.jobs`` at a time."""
    open_file = _opener(rt)
    rt.emit(
        Event(EventKind.PHASE, weight=step.weight, phase="push", nbytes=sum(p.size for p in packed))
    )
    with ThreadPoolExecutor(max_workers=max(1, rt.jobs)) as pool, cancel_on_interrupt(rt.cancel):
        list(
            pool.map(
                lambda i: _push_layer(step, plans[i], packed[i], open_file, rt), range(len(plans))
            )
        )


def _push_manifest(
    entry: WeightEntry, config: bytes, manifest: bytes, shape: Shape, rt: Runtime
) -> str:
    """The config blob, then the manifest: only now can a puller see the weight.
    The tag is the one the Cog that reads a lockfile of ``shape`` makes."""
    client, repo = rt.registry()
    client.push_blob(repo, sha256_of(config), len(config), lambda: iter([config]))
    tag = tag_for(shape, entry.name, entry.set_digest)
    pushed = client.put_manifest(repo, tag, manifest, MEDIA_TYPE_MANIFEST)
    if pushed != entry.digest:
        raise ImportFailed(f"registry stored manifest {pushed}, expected {entry.digest}")
    return f"{repo}:{tag}"


def _digest_rest(
    step: ImportWeight, plans: Sequence[LayerPlan], captured: Captured, rt: Runtime
) -> list[PackedLayer]:
    """Layer digests in plan order: captured during ingest where possible, else streamed."""
    key = {
        i: (p.files[0].path, p.files[0].digest) for i, p in enumerate(plans) if len(p.files) == 1
    }
    todo = [i for i, p in enumerate(plans) if p.gzip_level is not None or key[i] not in captured]
    rt.emit(
        Event(
            EventKind.PHASE,
            weight=step.weight,
            phase="pack",
            nbytes=sum(f.size for i in todo for f in plans[i].files),
        )
    )
    streamed = dict(
        zip(todo, digest_layers([plans[i] for i in todo], _opener(rt), rt.jobs), strict=True)
    )
    return [streamed[i] if i in streamed else captured[key[i]] for i in range(len(plans))]


def _local_standalone(plans: Sequence[LayerPlan], source: Source) -> dict[int, Path]:
    """Plan index -> local file, for the one-file uncompressed layers of a local source."""
    found = {}
    for i, plan in enumerate(plans):
        if plan.gzip_level is None and len(plan.files) == 1:
            local = source.local_path(plan.files[0].path)
            if local is not None:
                found[i] = local
    return found


def _file_opener(local: Path) -> OpenFile:
    def open_file(_: InventoryFile) -> IO[bytes]:
        return open(local, "rb")

    return open_file


def _direct_layer(plan: LayerPlan, local: Path, cache: StatCache | None) -> PackedLayer:
    """The layer digest of a large local file: remembered by the inventory, else read.

    Either way the digest names the inventoried bytes: the cached one was
    hashed in the inventory's read of this very file (same stat), the read
    one is checked through the file digest. The registry client checks the
    pushed bytes against it before the upload is committed.
    """
    known = _known_layer(plan.files[0], local, cache) if cache is not None else None
    return known if known is not None else _read_layer(plan.files[0], local)


def _known_layer(f: InventoryFile, local: Path, cache: StatCache) -> PackedLayer | None:
    """The layer the inventory hashed along with ``f``, if ``local`` has not changed since."""
    before, after = standalone_framing(f.path, f.size)
    digest = cached_layer_digest(cache, local, f.digest, (before, after))
    if digest is None:
        return None
    return PackedLayer(digest, len(before) + f.size + len(after), f.size, MEDIA_TYPE_TAR)


def _read_layer(f: InventoryFile, local: Path) -> PackedLayer:
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


def _digest_and_push_direct(
    step: ImportWeight, plans: Sequence[LayerPlan], local: dict[int, Path], rt: Runtime
) -> dict[int, PackedLayer]:
    """Digest each large local file and push its layer straight from the source."""
    with StatCache(rt.store.root / STAT_CACHE_NAME) as cache:
        return _push_direct(step, plans, local, cache, rt)


def _push_direct(
    step: ImportWeight,
    plans: Sequence[LayerPlan],
    local: dict[int, Path],
    cache: StatCache,
    rt: Runtime,
) -> dict[int, PackedLayer]:
    def one(i: int) -> PackedLayer:
        layer = _direct_layer(plans[i], local[i], cache)
        _push_layer(step, plans[i], layer, _file_opener(local[i]), rt)
        return layer

    rt.emit(
        Event(
            EventKind.PHASE,
            weight=step.weight,
            phase="push",
            nbytes=sum(plans[i].files[0].size for i in local),
        )
    )
    with ThreadPoolExecutor(max_workers=max(1, rt.jobs)) as pool, cancel_on_interrupt(rt.cancel):
        return dict(zip(local, pool.map(one, local), strict=True))


def _pack_overlapped(
    step: ImportWeight,
    plans: Sequence[LayerPlan],
    source: Source,
    local: dict[int, Path],
    rt: Runtime,
) -> list[PackedLayer]:
    """Copy into the store while the large local files are pushed from the source.

    The copy is bound by disk writes and the upload by the network and the
    registry, so running them together hides the shorter one. Small files are
    packed from the store once the copy is done; the manifest waits for both.
    """
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest") as background,
        cancel_on_interrupt(rt.cancel),
    ):
        ingesting = background.submit(_ingest, step, source, None, rt)
        direct = _digest_and_push_direct(step, plans, local, rt)
        ingesting.result()  # a failed copy fails the import before any manifest
    rest = [i for i in range(len(plans)) if i not in direct]
    packed = dict(direct)
    if rest:
        rest_plans = [plans[i] for i in rest]
        rt.emit(
            Event(
                EventKind.PHASE,
                weight=step.weight,
                phase="pack",
                nbytes=sum(f.size for p in rest_plans for f in p.files),
            )
        )
        rest_packed = digest_layers(rest_plans, _opener(rt), rt.jobs)
        _push_layers(step, rest_plans, rest_packed, rt)
        packed.update(zip(rest, rest_packed, strict=True))
    return [packed[i] for i in range(len(plans))]


def _pack_and_push(
    step: ImportWeight,
    plans: Sequence[LayerPlan],
    reused: list[PackedLayer] | None,
    rt: Runtime,
) -> list[PackedLayer]:
    """Every layer in the registry, with its digest, and every file in the store."""
    from cogw.shell.sources import source_for

    # Pinned to the planned fingerprint: an hf:// ref that moved since the plan is
    # read at the planned commit, so ingested bytes match the planned digests.
    source = source_for(step.spec.uri, rt.project.dir, fingerprint=step.fingerprint)
    local = _local_standalone(plans, source) if reused is None else {}
    if local:
        return _pack_overlapped(step, plans, source, local, rt)
    captured = _ingest(step, source, plans if reused is None else None, rt)
    packed = reused if reused is not None else _digest_rest(step, plans, captured, rt)
    _push_layers(step, plans, packed, rt)
    return packed


def import_one(
    step: ImportWeight,
    lock: Lockfile | None,
    envelope: str,
    rt: Runtime,
    shape: Shape = Shape.SOURCE,
) -> tuple[WeightEntry, str]:
    plans = plan_layers(list(step.files), PackOptions())
    existing = find_weight(lock, step.weight) if lock else None
    same_envelope = lock is not None and lock.envelope_format == envelope
    reused = _reusable_layers(plans, existing, same_envelope)
    try:
        packed = _pack_and_push(step, plans, reused, rt)
    except RegistryDigestMismatch:
        if reused is None:
            raise
        # The recorded digests were not made by these bytes (an entry another packer
        # wrote, under this file's envelope) and the registry lacks the blobs: re-pack.
        packed = _pack_and_push(step, plans, None, rt)
    entry, config, manifest = build_entry(
        step, plans, packed, existing, format_go_time(datetime.now(UTC))
    )
    return entry, _push_manifest(entry, config, manifest, shape, rt)


def run_imports(steps: Sequence[ImportWeight], rt: Runtime) -> list[StepResult]:
    envelope = rt.envelope
    lock = _current_lock(rt)
    chosen = write_shape(lock, rt.config)
    if isinstance(chosen, Failure):
        return [StepResult(s, StepStatus.FAILED, diagnostic=chosen.failure()) for s in steps]
    several = several_sources(rt.config)
    shape = chosen.unwrap()
    results: list[StepResult] = []
    entries: list[WeightEntry] = []
    for step in steps:
        if step.weight in several:
            results.append(StepResult(step, StepStatus.FAILED, diagnostic=several[step.weight]))
            continue
        try:
            entry, ref = import_one(step, lock, envelope, rt, shape)
        except Exception as exc:
            rt.emit(Event(EventKind.STEP_FAILED, weight=step.weight, message=str(exc)))
            results.append(failure(step, exc))
            continue
        entries.append(entry)
        results.append(
            StepResult(
                step,
                StepStatus.DONE,
                f"{ref} ({len(entry.layers)} layer(s), {format_size(entry.size_compressed)})",
            )
        )
    if entries:
        try:
            _record(entries, envelope, rt)
        except Exception as exc:
            return [
                failure(r.step, exc, f"record weights.lock: {exc}")
                if r.status is StepStatus.DONE
                else r
                for r in results
            ]
    return results


def _current_lock(rt: Runtime) -> Lockfile | None:
    try:
        return read_lock_strict(rt.project)
    except FileNotFoundError:
        return None


def _record(entries: Sequence[WeightEntry], envelope: str, rt: Runtime) -> None:
    """Upsert under the project lock, re-reading first so concurrent writers are not lost."""
    with project_lock(rt.project.dir):
        current = _current_lock(rt)
        lock = current or Lockfile()
        before = render_lockfile(lock) if rt.project.lock_path.exists() else None
        lock = replace(lock, shape=write_shape(current, rt.config).value_or(lock.shape))
        for entry in entries:
            lock = upsert(lock, entry)
        if rt.config is not None:
            # As Cog: orphans go in the same write, so a renamed weight's old entry
            # never sits beside the new one on the same target.
            lock = retain(lock, declared_names(rt.config))
        lock = replace(lock, envelope_format=envelope)
        after = render_lockfile(lock)
        if after != before:
            atomic_write(rt.project.lock_path, after)
