"""Import, pushing: layer blobs streamed to the registry, then the config blob and manifest.

A layer is pushed from a stream of its planned bytes (``stream_layer``); the
registry client checks the streamed digest against the expected one before
it commits the upload, and skips a blob the registry already holds. The
manifest goes last: only then can a puller see the weight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from cogw.core.artifact.oci import MEDIA_TYPE_MANIFEST
from cogw.core.artifact.packing import LayerPlan
from cogw.core.artifact.tags import layer_media_type_for, tag_for
from cogw.core.digest import sha256_of
from cogw.core.lock.lockfile import LockLayer, WeightEntry
from cogw.core.plan.events import Event, EventKind
from cogw.core.plan.importplan import ImportWeight
from cogw.shell.import_ingest import ImportFailed, store_opener
from cogw.shell.layers import OpenFile, stream_layer
from cogw.shell.registry.protocol import PushResult
from cogw.shell.runtime import Runtime, cancel_on_interrupt

#: The bytes of a planned layer, built again or kept from when it was digested.
LayerBytes = Callable[[LayerPlan, OpenFile], Iterable[bytes]]


def push_layer(
    step: ImportWeight,
    plan: LayerPlan,
    layer: LockLayer,
    open_file: OpenFile,
    rt: Runtime,
    layer_bytes: LayerBytes = stream_layer,
) -> None:
    client, repo = rt.registry()
    outcome = client.push_blob(
        repo,
        layer.digest,
        layer.size,
        lambda: layer_bytes(plan, open_file),
        cancel=rt.cancel,
        layer_media_type=layer_media_type_for(rt.shape, layer.media_type),
        on_bytes=push_bytes(step, layer, rt),
    )
    record_pushed(step, layer, outcome, rt)


def push_bytes(step: ImportWeight, layer: LockLayer, rt: Runtime) -> Callable[[int], None]:
    """Counts the bytes sent for ``layer`` on the push bar."""

    def sent(n: int) -> None:
        rt.emit(
            Event(
                EventKind.BYTES,
                weight=step.weight,
                phase="push",
                layer_digest=layer.digest,
                nbytes=n,
            )
        )

    return sent


def record_pushed(
    step: ImportWeight, layer: LockLayer, outcome: PushResult, rt: Runtime, message: str = ""
) -> None:
    """The layer's push outcome, for the result line and the progress lines."""
    rt.record_push(step.weight, outcome, layer.size)
    rt.emit(
        Event(
            EventKind.PUSH_BLOB,
            weight=step.weight,
            layer_digest=layer.digest,
            layer_size=layer.size,
            message=message or outcome,
        )
    )


def push_layers(
    step: ImportWeight,
    plans: Sequence[LayerPlan],
    packed: Sequence[LockLayer],
    rt: Runtime,
    layer_bytes: LayerBytes = stream_layer,
    open_file: OpenFile | None = None,
) -> None:
    """Push the layers, ``rt.jobs`` at a time: ``layer_bytes`` of each, its files read
    through ``open_file`` (default: from the store)."""
    open_file = open_file or store_opener(rt)
    rt.emit(
        Event(EventKind.PHASE, weight=step.weight, phase="push", nbytes=sum(p.size for p in packed))
    )
    with ThreadPoolExecutor(max_workers=max(1, rt.jobs)) as pool, cancel_on_interrupt(rt.cancel):
        list(
            pool.map(
                lambda i: push_layer(step, plans[i], packed[i], open_file, rt, layer_bytes),
                range(len(plans)),
            )
        )


def push_manifest(entry: WeightEntry, config: bytes, manifest: bytes, rt: Runtime) -> str:
    """The config blob, then the manifest: only now can a puller see the weight.
    The tag is the one the Cog that reads a weights.lock of ``rt.shape`` makes."""
    client, repo = rt.registry()
    client.push_blob(repo, sha256_of(config), len(config), lambda: iter([config]))
    tag = tag_for(rt.shape, entry.name, entry.set_digest)
    pushed = client.put_manifest(repo, tag, manifest, MEDIA_TYPE_MANIFEST)
    if pushed != entry.digest:
        raise ImportFailed(f"registry stored manifest {pushed}, expected {entry.digest}")
    return f"{repo}:{tag}"
