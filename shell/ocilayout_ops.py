"""`cogw export` and `cogw push --from oci:DIR`: moving weights between a registry and an
OCI image layout.

Export writes, per weight of weights.lock, its manifest and config blob (rebuilt from the
lock entry when that gives the recorded manifest digest, else fetched by digest), then its
layers: an uncompressed one-file layer is rebuilt from the store's copy of the file, any
other from the registry. Every blob streams through the writer's digest check
(shell/ocilayout_write.py); the manifest is indexed under the weight's tag. A project
whose store holds everything needs no registry at all.
Push reads a layout (shell/ocilayout_read.py, which checks every byte it serves) and
uploads each manifest's blobs with the registry client's ``push_blob`` (a HEAD first: a
blob already there is not sent), then the manifest under its ref.name tag.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from returns.result import Failure, Result

from cogw.core.artifact.oci import (
    MEDIA_TYPE_MANIFEST,
    Descriptor,
    manifest_layer_problem,
    weight_tag,
)
from cogw.core.artifact.ocilayout import (
    LayoutManifest,
    index_bytes,
    manifest_blobs,
    rebuilt_artifact,
    standalone_file,
)
from cogw.core.artifact.tarformat import standalone_framing
from cogw.core.diagnostics import Problems
from cogw.core.lock.lockfile import WeightEntry
from cogw.shell.ocilayout_write import DirLayoutWriter, LayoutWriteError, LayoutWriter
from cogw.shell.runtime import ProblemsError

Notify = Callable[[str], None]


def _ok(result: Result[Any, Problems]) -> Any:
    if isinstance(result, Failure):
        raise ProblemsError(result.failure())
    return result.unwrap()


@dataclass(frozen=True, slots=True)
class Exported:
    name: str
    tag: str
    digest: str
    manifest_size: int
    from_registry: int  # blobs fetched from the registry
    from_store: int  # blobs rebuilt from the local store


Registry = Callable[[], tuple[Any, str]]


def export_weights(
    entries: Sequence[WeightEntry],
    registry: Registry,
    store: Any,
    writer: LayoutWriter,
    notify: Notify,
    jobs: int = 1,
) -> list[Exported]:
    """Write every weight into the layout; the index last. On any failure the writer is
    aborted (a tar is discarded; a directory keeps only verified blobs, and no index).
    ``registry`` is called only when something must come from it. A directory takes
    ``jobs`` blobs at once; a tar is written one member after the other."""
    work = _Export(
        registry, store, writer, notify, jobs if isinstance(writer, DirLayoutWriter) else 1
    )
    try:
        done = [work.one(entry) for entry in entries]
        writer.finish(index_bytes([LayoutManifest(e.tag, e.digest, e.manifest_size) for e in done]))
    except BaseException:
        work.cancel.set()
        writer.abort()
        raise
    return done


def _manifest_and_config(entry: WeightEntry, registry: Registry) -> tuple[bytes, bytes | None]:
    rebuilt = rebuilt_artifact(entry)
    if rebuilt is not None:
        return rebuilt[1], rebuilt[0]
    client, repo = registry()
    raw = client.get_manifest(repo, entry.digest).raw  # checked against the digest
    return raw, None


@dataclass
class _Export:
    registry: Registry
    store: Any
    writer: LayoutWriter
    notify: Notify
    jobs: int
    cancel: threading.Event = field(default_factory=threading.Event)

    def one(self, entry: WeightEntry) -> Exported:
        raw, config = _manifest_and_config(entry, self.registry)
        problem = manifest_layer_problem(raw, entry.digest, entry.layers)
        if problem is not None:
            raise ValueError(problem)
        blobs: tuple[Descriptor, ...] = _ok(manifest_blobs(raw, f"{entry.name}@{entry.digest}"))
        todo = [d for d in blobs if not self.writer.has(d.digest, d.size)]
        config_digest = blobs[0].digest if config is not None else None
        with ThreadPoolExecutor(max_workers=max(1, min(self.jobs, len(todo) or 1))) as pool:
            try:
                sources = list(pool.map(lambda d: self.blob(entry, d, config_digest, config), todo))
            except BaseException:
                self.cancel.set()  # the other transfers stop at their next read
                raise
        if not self.writer.has(entry.digest, len(raw)):
            self.writer.add_blob(entry.digest, len(raw), [raw])
        tag = weight_tag(entry.name, entry.set_digest)
        fetched, rebuilt = sources.count("registry"), sources.count("store")
        return Exported(entry.name, tag, entry.digest, len(raw), fetched, rebuilt)

    def blob(
        self, entry: WeightEntry, desc: Descriptor, config_digest: str | None, config: bytes | None
    ) -> str:
        """Write one blob; say where it came from (config, store or registry)."""
        if desc.digest == config_digest and config is not None:
            self.writer.add_blob(desc.digest, desc.size, [config])
            return "config"
        if _from_store(entry, desc, self.store, self.writer):
            return "store"
        self.notify(f"{entry.name}: fetching {desc.digest} ({desc.size} bytes)")
        client, repo = self.registry()
        chunks = client.iter_blob(repo, desc.digest, expected_size=desc.size, cancel=self.cancel)
        self.writer.add_blob(desc.digest, desc.size, chunks)
        return "registry"


def _from_store(entry: WeightEntry, desc: Descriptor, store: Any, writer: LayoutWriter) -> bool:
    """Rebuild an uncompressed one-file layer from the store's copy of its file; False
    (nothing written) when the layer is another kind, the store lacks the file, or the
    rebuilt bytes do not hash to the layer's digest."""
    f = standalone_file(entry, desc.digest)
    if f is None or not store.exists(f.digest):
        return False
    before, after = standalone_framing(f.path, f.size)
    try:
        with store.path(f.digest).open("rb") as reader:
            body = iter(lambda: reader.read(1 << 20), b"")
            writer.add_blob(desc.digest, desc.size, itertools.chain([before], body, [after]))
    except LayoutWriteError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Pushed:
    ref: str
    digest: str
    uploaded: int  # blobs sent
    present: int  # blobs the registry already had (or mounted)


def push_layout(layout: Any, client: Any, repo: str, notify: Notify) -> list[Pushed]:
    """Every manifest of the layout, with its blobs, into ``repo`` on ``client``'s registry."""
    pushed = []
    for listed in layout.manifests:
        manifest = layout.get_manifest("", listed.digest)  # checked against the index
        blobs = _ok(manifest_blobs(manifest.raw, f"{layout.registry}@{listed.digest}"))
        uploaded = present = 0
        for desc in blobs:
            result = client.push_blob(
                repo,
                desc.digest,
                desc.size,
                lambda d=desc: layout.iter_blob("", d.digest, expected_size=d.size),
            )
            if result == "uploaded":
                uploaded += 1
                notify(f"uploaded {desc.digest} ({desc.size} bytes)")
            else:
                present += 1
        ref = listed.tag or listed.digest
        if client.head_manifest(repo, ref) != listed.digest:
            client.put_manifest(repo, ref, manifest.raw, listed.media_type or MEDIA_TYPE_MANIFEST)
        pushed.append(Pushed(ref, listed.digest, uploaded, present))
    return pushed
