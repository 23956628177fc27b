"""Re-push: carry out RepushWeight steps, putting back what the registry lost.

The plan (core/plan/repush.py) chose the layers and where their files come from. Per
weight: files the store lacks are read from the source (pinned to the recorded
fingerprint) into the store, verified by the store; each layer is packed again from the
store and its digest checked against weights.lock's before a byte is pushed; then the
layers, and, when lost or forced, the config blob and the manifest, both rebuilt from
the lock entry and checked against its manifest digest. weights.lock is never written.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import cast

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.artifact.oci import MEDIA_TYPE_MANIFEST, config_blob, manifest_bytes
from cogw.core.artifact.tags import layer_media_type_for, tag_for
from cogw.core.digest import format_digest_short, sha256_of
from cogw.core.lock.lockfile import Lockfile, WeightEntry, find_weight
from cogw.core.plan.events import Event, EventKind
from cogw.core.plan.outcome import Pushed, StepResult, StepStatus
from cogw.core.plan.repush import Origin, RepushLayer, RepushWeight
from cogw.shell.import_ingest import store_opener
from cogw.shell.layers import digest_layers, stream_layer
from cogw.shell.runtime import ProblemsError, Runtime, cancel_on_interrupt, failure
from cogw.shell.runtime import read_lock_strict as read_lock
from cogw.shell.store import LinkMode


class RepushFailed(Exception):
    pass


def run_repushes(steps: Sequence[RepushWeight], rt: Runtime) -> list[StepResult]:
    try:
        lock = read_lock(rt.project)
    except (FileNotFoundError, ProblemsError) as exc:
        return [failure(s, exc, f"read weights.lock: {exc}") for s in steps]
    results = []
    for step in steps:
        try:
            ref = repush_one(step, lock, rt)
        except Exception as exc:
            rt.emit(Event(EventKind.STEP_FAILED, weight=step.weight, message=str(exc)))
            results.append(failure(step, exc))
            continue
        pushed = Pushed(ref, len(step.layers), step.layer_bytes)
        results.append(StepResult(step, StepStatus.DONE, pushed))
    return results


def _recorded(step: RepushWeight, lock: Lockfile) -> WeightEntry:
    entry = find_weight(lock, step.weight)
    if entry is None or entry.digest != step.manifest:
        raise RepushFailed(
            f"weights.lock no longer records manifest {step.manifest}; "
            f"run 'cogw import {step.weight}' again"
        )
    return entry


def repush_one(step: RepushWeight, lock: Lockfile, rt: Runtime) -> str:
    """Push the step's layers and manifest; the reference the weight is now pushed as."""
    entry = _recorded(step, lock)
    if any(layer.origin is Origin.SOURCE for layer in step.layers):
        _fill_store(step, rt)
    _check_repacked(step, rt)
    _push_layers(step, lock, rt)
    client, repo = rt.registry()
    if not step.push_manifest:
        return f"{repo}@{entry.digest}"
    config = config_blob(entry)
    manifest = manifest_bytes(entry, config)
    if sha256_of(manifest) != entry.digest:
        raise RepushFailed(
            f"the manifest rebuilt from weights.lock has digest {sha256_of(manifest)}, "
            f"not the recorded {entry.digest}: the entry does not describe its manifest "
            "(edited by hand, or made by another tool); remove the entry from weights.lock "
            f"and run 'cogw import {step.weight}' to import it anew"
        )
    push = client.upload_blob if step.forced else client.push_blob
    push(repo, sha256_of(config), len(config), lambda: iter([config]))
    tag = tag_for(lock.shape, entry.name, entry.set_digest)
    pushed = client.put_manifest(repo, tag, manifest, MEDIA_TYPE_MANIFEST)
    if pushed != entry.digest:
        raise RepushFailed(f"registry stored manifest {pushed}, expected {entry.digest}")
    return f"{repo}:{tag}"


def _fill_store(step: RepushWeight, rt: Runtime) -> None:
    """Read the files of source layers that the store lacks from the source, verified."""
    from cogw.shell.mergedsource import MergedSource
    from cogw.shell.sources import source_for

    wanted = {
        f.digest: f
        for layer in step.layers
        if layer.origin is Origin.SOURCE
        for f in layer.files
        if not rt.store.exists(f.digest)
    }
    sources = [
        source_for(uri, rt.project.dir, fingerprint=fingerprint)
        for uri, fingerprint in [(step.uri, step.fingerprint), *step.more_sources]
    ]
    source = MergedSource(sources, step.owners) if step.more_sources else sources[0]
    nbytes = sum(f.size for f in wanted.values())
    rt.emit(Event(EventKind.PHASE, weight=step.weight, phase="ingest", nbytes=nbytes))

    def one(f: InventoryFile) -> None:
        try:
            local = source.local_path(f.path)
            if local is not None:
                rt.store.ingest_path(f.digest, f.size, local, mode=cast(LinkMode, rt.ingest_mode))
            else:
                with source.open(f.path) as reader:
                    rt.store.put_file(f.digest, f.size, reader, cancel=rt.cancel)
        except Exception as exc:
            raise RepushFailed(
                f'read "{f.path}" from {step.uri}: {exc} (the store lacks it and the '
                f"registry lost its layer; run 'cogw import {step.weight}' again once the "
                "source is back)"
            ) from exc
        rt.emit(
            Event(EventKind.BYTES, weight=step.weight, path=f.path, nbytes=f.size, phase="ingest")
        )

    with ThreadPoolExecutor(max_workers=max(1, rt.jobs)) as pool, cancel_on_interrupt(rt.cancel):
        list(pool.map(one, wanted.values()))


def _check_repacked(step: RepushWeight, rt: Runtime) -> None:
    """Pack every layer again into a hash: each must be the recorded one, before any push."""
    plans = [layer.plan for layer in step.layers]
    nbytes = sum(p.file_bytes for p in plans)
    rt.emit(Event(EventKind.PHASE, weight=step.weight, phase="pack", nbytes=nbytes))
    for layer, got in zip(
        step.layers, digest_layers(plans, store_opener(rt), rt.jobs), strict=True
    ):
        if (got.digest, got.size) != (layer.layer.digest, layer.layer.size):
            raise RepushFailed(
                f"layer {format_digest_short(layer.layer.digest)}: packing its files again "
                f"gives {got.digest} ({got.size} bytes), not the recorded "
                f"{layer.layer.digest} ({layer.layer.size} bytes); nothing was pushed. "
                "Either a file in the store changed (run 'cogw verify --repair', then "
                "this import again) or weights.lock's layers were made by another packer "
                "(push them with that tool, or remove the weight's entry from weights.lock "
                f"and run 'cogw import {step.weight}')"
            )


def _push_layers(step: RepushWeight, lock: Lockfile, rt: Runtime) -> None:
    client, repo = rt.registry()
    open_file = store_opener(rt)
    rt.emit(Event(EventKind.PHASE, weight=step.weight, phase="push", nbytes=step.layer_bytes))

    def one(layer: RepushLayer) -> None:
        digest = layer.layer.digest
        push = client.upload_blob if step.forced else client.push_blob
        outcome = push(
            repo,
            digest,
            layer.layer.size,
            lambda: stream_layer(layer.plan, open_file),
            cancel=rt.cancel,
            layer_media_type=layer_media_type_for(lock.shape, layer.layer.media_type),
            on_bytes=lambda n: rt.emit(
                Event(
                    EventKind.BYTES,
                    weight=step.weight,
                    phase="push",
                    layer_digest=digest,
                    nbytes=n,
                )
            ),
        )
        rt.emit(
            Event(
                EventKind.PUSH_BLOB,
                weight=step.weight,
                layer_digest=digest,
                layer_size=layer.layer.size,
                message=outcome,
            )
        )

    with ThreadPoolExecutor(max_workers=max(1, rt.jobs)) as pool, cancel_on_interrupt(rt.cancel):
        list(pool.map(one, step.layers))
