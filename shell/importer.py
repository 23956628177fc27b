"""Import: source → store → deterministic layers → registry → weights.lock.

For each ImportWeight step: ingest the filtered files into the store (a
hardlink or reflink where the filesystem allows, else a verified copy; remote
files stream straight in), plan layers (pure), compute layer digests (or reuse
them from weights.lock when the packer and file grouping are unchanged), build
the config blob and manifest (pure, Cog's exact bytes), push blobs then the
manifest, and only then record the entry. weights.lock is written once, under
the project lock, after every push that succeeded: a failed push never leaves
a lockfile naming manifests the registry lacks.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO, cast

from cogw.core.digest import PREFIX, sha256_of
from cogw.core.events import Event, EventKind
from cogw.core.inventory import InventoryFile
from cogw.core.lockfile import (
    MEDIA_TYPE_TAR,
    LockFile,
    Lockfile,
    LockLayer,
    LockSource,
    WeightEntry,
    entries_equal,
    find_weight,
    make_entry,
    render_lockfile,
    upsert,
)
from cogw.core.oci import (
    MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_MANIFEST,
    config_blob,
    manifest_bytes,
    manifest_problems,
    weight_tag,
)
from cogw.core.outcome import StepResult, StepStatus
from cogw.core.packing import LayerPlan, PackOptions, plan_layers
from cogw.core.plan import ImportWeight
from cogw.core.render import format_size
from cogw.core.tarformat import standalone_framing
from cogw.core.timefmt import format_go_time
from cogw.shell.execute import Runtime, failure, read_lock_strict
from cogw.shell.fs import LinkError, atomic_write, project_lock
from cogw.shell.layers import PackedLayer, digest_layers, stream_layer

if TYPE_CHECKING:
    from cogw.shell.sources import Source


class ImportFailed(Exception):
    pass


# A layer digest captured while ingesting, keyed by the file's (path, digest).
Captured = dict[tuple[str, str], PackedLayer]


class _LayerTee:
    """A reader that also hashes what it hands out into a standalone layer digest.

    The store's copy reads every byte of the file once; hashing the same bytes
    inside the tar framing of a one-file uncompressed layer makes that read the
    layer digest too, instead of another pass over gigabytes (digest_layers).
    The result is only trusted when the store verified those same bytes.
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


def _linked(rt: Runtime, f: InventoryFile, local: Path) -> bool:
    """Ingest by reflink, or by hardlink when the store's "auto" rule allows one.

    False means the bytes must be copied, which the caller does itself so
    that the copy's read also yields the layer digest.
    """
    try:
        rt.store.ingest_path(f.digest, f.size, local, "reflink")
        return True
    except LinkError:
        pass
    info = local.stat()
    if info.st_mode & 0o222 == 0 and info.st_uid == os.geteuid():
        rt.store.ingest_path(f.digest, f.size, local, "auto")
        return True
    return False


def _ingest_file(
    f: InventoryFile, source: Source, rt: Runtime, layer_path: str | None
) -> PackedLayer | None:
    """Put one file into the store; the standalone layer digest when ``layer_path`` asks."""
    local = source.local_path(f.path)
    if layer_path is None:
        if local is not None:
            rt.store.ingest_path(f.digest, f.size, local)
        else:
            with source.open(f.path) as reader:
                rt.store.put_file(f.digest, f.size, reader, cancel=rt.cancel)
        return None
    if local is not None and _linked(rt, f, local):
        return None
    with open(local, "rb") if local is not None else source.open(f.path) as reader:
        tee = _LayerTee(reader, layer_path, f.size)
        stored = rt.store.put_file(f.digest, f.size, cast(BinaryIO, tee), cancel=rt.cancel)
    # An already-present blob was drained, not verified: its tee hash proves nothing.
    return tee.layer() if stored else None


def _ingest(step: ImportWeight, plans: Sequence[LayerPlan] | None, rt: Runtime) -> Captured:
    """Put every file the store lacks into it, verified by the store.

    With ``plans`` (layer digests still to compute), the copy of each large
    uncompressed file also yields its layer digest.
    """
    from cogw.shell.sources import source_for

    # Pinned to the planned fingerprint: an hf:// ref that moved since the plan is
    # read at the planned commit, so ingested bytes match the planned digests.
    source = source_for(step.spec.uri, rt.project.dir, fingerprint=step.fingerprint)
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
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, rt.jobs)) as pool:
        for _ in pool.map(fn, items):
            pass


def _opener(rt: Runtime) -> Callable[[InventoryFile], IO[bytes]]:
    def open_file(f: InventoryFile) -> IO[bytes]:
        return open(rt.store.path(f.digest), "rb")

    return open_file


def _layer_key(files: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(files))


def _reusable_layers(
    plans: Sequence[LayerPlan], existing: WeightEntry | None, same_envelope: bool
) -> list[PackedLayer] | None:
    """Cog's fast path: the lockfile's layer digests, when this packer made them
    and every planned layer holds exactly the files of a recorded layer."""
    if existing is None or not same_envelope or len(existing.layers) != len(plans):
        return None
    by_key: dict[tuple[tuple[str, str], ...], LockLayer] = {}
    for layer in existing.layers:
        key = _layer_key((f.path, f.digest) for f in existing.files if f.layer == layer.digest)
        by_key[key] = layer
    reused = []
    for plan in plans:
        found = by_key.get(_layer_key((f.path, f.digest) for f in plan.files))
        if found is None or found.media_type != plan.media_type:
            return None
        reused.append(
            PackedLayer(found.digest, found.size, found.size_uncompressed, found.media_type)
        )
    return reused


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


def _push(
    step: ImportWeight,
    entry: WeightEntry,
    plans: Sequence[LayerPlan],
    packed: Sequence[PackedLayer],
    config: bytes,
    manifest: bytes,
    rt: Runtime,
) -> str:
    client, repo = rt.registry()
    open_file = _opener(rt)
    total = sum(p.size for p in packed)
    rt.emit(Event(EventKind.PHASE, weight=step.weight, phase="push", nbytes=total))

    def push_layer(i: int) -> None:
        plan, layer = plans[i], packed[i]
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

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, rt.jobs)) as pool:
        list(pool.map(push_layer, range(len(plans))))
    client.push_blob(repo, sha256_of(config), len(config), lambda: iter([config]))
    tag = weight_tag(entry.name, entry.set_digest)
    pushed = client.put_manifest(repo, tag, manifest, MEDIA_TYPE_MANIFEST)
    if pushed != entry.digest:
        raise ImportFailed(f"registry stored manifest {pushed}, expected {entry.digest}")
    _ = MEDIA_TYPE_CONFIG
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


def import_one(
    step: ImportWeight, lock: Lockfile | None, envelope: str, rt: Runtime
) -> tuple[WeightEntry, str]:
    plans = plan_layers(list(step.files), PackOptions())
    existing = find_weight(lock, step.weight) if lock else None
    same_envelope = lock is not None and lock.envelope_format == envelope
    packed = _reusable_layers(plans, existing, same_envelope)
    captured = _ingest(step, plans if packed is None else None, rt)
    if packed is None:
        packed = _digest_rest(step, plans, captured, rt)
    entry, config, manifest = build_entry(
        step, plans, packed, existing, format_go_time(datetime.now(UTC))
    )
    ref = _push(step, entry, plans, packed, config, manifest, rt)
    return entry, ref


def run_imports(steps: Sequence[ImportWeight], rt: Runtime) -> list[StepResult]:
    envelope = rt.envelope
    lock = _current_lock(rt)
    results: list[StepResult] = []
    entries: list[WeightEntry] = []
    for step in steps:
        try:
            entry, ref = import_one(step, lock, envelope, rt)
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
        lock = _current_lock(rt) or Lockfile()
        before = render_lockfile(lock) if rt.project.lock_path.exists() else None
        for entry in entries:
            lock = upsert(lock, entry)
        lock = replace(lock, envelope_format=envelope)
        after = render_lockfile(lock)
        if after != before:
            atomic_write(rt.project.lock_path, after)
