"""Small builders for hand-written snapshots in planner tests (no I/O)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pyrsistent import pmap, pvector

from cogw.core.artifact.inventory import Inventory, InventoryFile
from cogw.core.artifact.packing import plan_layers
from cogw.core.config.weights import ProjectConfig, WeightSpec
from cogw.core.lock.lockfile import (
    LockFile,
    Lockfile,
    LockLayer,
    LockSource,
    WeightEntry,
    make_entry,
)
from cogw.core.lock.setdigest import dir_hash
from cogw.core.plan.snapshot import Inputs, Snapshot


def d(label: str) -> str:
    """A valid digest derived from a label, so tests read by name."""
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def spec(
    name: str,
    uri: str | None = None,
    target: str | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> WeightSpec:
    return WeightSpec(
        name,
        target or f"/src/weights/{name}",
        uri or f"file://./weights/{name}",
        pvector(include),
        pvector(exclude),
    )


def entry(
    s: WeightSpec, layout: dict[str, Sequence[tuple[str, int]]], fingerprint: str | None = None
) -> WeightEntry:
    """A lock entry for spec ``s`` whose layers (by label) hold (path, size) files;
    each file's digest is d(path)."""
    files, layers = [], []
    for label, members in layout.items():
        layers.append(
            LockLayer(
                d(label),
                "application/vnd.oci.image.layer.v1.tar",
                sum(size for _, size in members) + 3072,
                sum(size for _, size in members),
            )
        )
        files += [LockFile(path, size, d(path), d(label)) for path, size in members]
    fp = fingerprint or dir_hash((f.path, f.digest) for f in files)
    source = LockSource(s.uri, fp, s.include, s.exclude, "2026-01-01T00:00:00Z")
    return make_entry(
        name=s.name,
        target=s.target,
        source=source,
        digest=d("manifest-" + s.name),
        files=files,
        layers=layers,
    )


def packed_entry(
    s: WeightSpec, inv: Inventory, imported_at: str = "2026-01-01T00:00:00Z"
) -> WeightEntry:
    """A lock entry for spec ``s`` as this packer would record ``inv``: the layers
    ``plan_layers`` groups, each with a digest derived from its paths."""
    files, layers = [], []
    for plan in plan_layers(inv.files):
        digest = d("layer:" + ",".join(f.path for f in plan.files))
        size = plan.file_bytes
        layers.append(LockLayer(digest, plan.media_type, size + 1024, size))
        files += [LockFile(f.path, f.size, f.digest, digest) for f in plan.files]
    source = LockSource(s.uri, inv.fingerprint, s.include, s.exclude, imported_at)
    return make_entry(
        name=s.name,
        target=s.target,
        source=source,
        digest=d("manifest-" + s.name),
        files=files,
        layers=layers,
    )


def inventory(files: Sequence[tuple[str, int]], edited: Sequence[str] = ()) -> Inventory:
    """Files digest as d(path), or d(path + "'") for the paths in ``edited``."""
    inv_files = [InventoryFile(p, n, d(p + "'" if p in edited else p)) for p, n in sorted(files)]
    return Inventory(pvector(inv_files), dir_hash((f.path, f.digest) for f in inv_files))


def snapshot(
    specs: Sequence[WeightSpec] = (),
    entries: Sequence[WeightEntry] | None = None,
    present: Sequence[str] = (),
    inventories: dict[str, Inventory] | None = None,
    image: str = "127.0.0.1:5000/acme/model",
    envelope: str = "",
    lock_envelope: str | None = None,
) -> Snapshot:
    """``envelope`` is the envelope this build stamps; the lock's is ``lock_envelope``,
    or the same when None."""
    lock_env = envelope if lock_envelope is None else lock_envelope
    lock = (
        Lockfile(envelope_format=lock_env, weights=pvector(entries))
        if entries is not None
        else None
    )
    return Snapshot(
        project_dir="/proj",
        config_name="cog.yaml",
        config=ProjectConfig(image, pvector(specs), "", image),
        lock=lock,
        inputs=Inputs("", ""),
        present=frozenset(present),
        inventories=pmap(inventories or {}),
        envelope_format=envelope,
    )
