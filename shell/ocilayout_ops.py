"""`cogw export` and `cogw push --from oci:DIR`: moving weights between a registry and an
OCI image layout.

Export fetches, per weight of weights.lock, its manifest by digest (checked against the
lockfile's layers), then its config blob and layers, each streamed through the writer's
digest check (shell/ocilayout_write.py), and indexes the manifest under the weight's tag.
Push reads a layout (shell/ocilayout_read.py, which checks every byte it serves) and
uploads each manifest's blobs with the registry client's ``push_blob`` (a HEAD first: a
blob already there is not sent), then the manifest under its ref.name tag.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from returns.result import Failure, Result

from cogw.core.diagnostics import Problems
from cogw.core.lockfile import WeightEntry
from cogw.core.oci import MEDIA_TYPE_MANIFEST, Descriptor, manifest_layer_problem, weight_tag
from cogw.core.ocilayout import LayoutManifest, index_bytes, manifest_blobs
from cogw.shell.ocilayout_write import LayoutWriter
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
    blobs_written: int
    bytes_written: int


def export_weights(
    entries: Sequence[WeightEntry], client: Any, repo: str, writer: LayoutWriter, notify: Notify
) -> list[Exported]:
    """Write every weight into the layout; the index last. On any failure the writer is
    aborted (a tar is discarded; a directory keeps only verified blobs, and no index)."""
    done: list[Exported] = []
    try:
        done = [_export_one(entry, client, repo, writer, notify) for entry in entries]
        writer.finish(index_bytes([LayoutManifest(e.tag, e.digest, e.manifest_size) for e in done]))
    except BaseException:
        writer.abort()
        raise
    return done


def _export_one(
    entry: WeightEntry, client: Any, repo: str, writer: LayoutWriter, notify: Notify
) -> Exported:
    manifest = client.get_manifest(repo, entry.digest)  # checked against the digest
    problem = manifest_layer_problem(manifest.raw, entry.digest, entry.layers)
    if problem is not None:
        raise ValueError(problem)
    blobs: tuple[Descriptor, ...] = _ok(manifest_blobs(manifest.raw, f"{repo}@{entry.digest}"))
    written, nbytes = 0, 0
    for desc in blobs:
        if writer.has(desc.digest, desc.size):
            continue
        notify(f"{entry.name}: blob {desc.digest} ({desc.size} bytes)")
        writer.add_blob(
            desc.digest, desc.size, client.iter_blob(repo, desc.digest, expected_size=desc.size)
        )
        written, nbytes = written + 1, nbytes + desc.size
    if not writer.has(entry.digest, len(manifest.raw)):
        writer.add_blob(entry.digest, len(manifest.raw), [manifest.raw])
    tag = weight_tag(entry.name, entry.set_digest)
    return Exported(entry.name, tag, entry.digest, len(manifest.raw), written, nbytes)


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
