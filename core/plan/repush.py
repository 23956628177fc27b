"""Re-push: put back what the registry lost of a weight weights.lock already records.

A weight whose import is unchanged may still be unusable: the registry lost its
manifest, its config blob or a layer (a garbage collection, a retention policy, a
registry rebuilt from a backup). ``plan_repushes`` turns the shell's ``RemoteCheck``
(core/plan/remote.py) into a ``RepushWeight`` step per such weight, or, for
``cogw import --force``, per locked weight whatever the registry holds.

Layers are deterministic, so a lost layer is packed again from its files as
weights.lock assigns them (path order, the media type recorded, the gzip level the
packer gives such a layer) and the shell checks the digest equals the recorded one
before pushing. The files come from the local store when it holds them all, else from
the weight's source (whose fingerprint still matches, or the weight would be imported
instead). The manifest and config blob are pure functions of the lock entry
(core/artifact/oci.py). weights.lock is never written by a re-push.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pyrsistent import PMap, PVector, pmap, pvector

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.artifact.packing import DEFAULT_OPTIONS, LayerPlan, PackOptions, gzip_level
from cogw.core.config.weights import spec_from_entry
from cogw.core.diagnostics import Diagnostic
from cogw.core.digest import format_digest_short
from cogw.core.lock.lockfile import (
    FILENAME,
    MEDIA_TYPE_TAR,
    MEDIA_TYPE_TAR_GZIP,
    LockLayer,
    WeightEntry,
)
from cogw.core.plan.drift import DriftKind, DriftResult
from cogw.core.plan.importsources import resolve_sources
from cogw.core.plan.remote import lost_words
from cogw.core.plan.remotecheck import RemoteCheck
from cogw.core.plan.snapshot import Snapshot


class Origin(StrEnum):
    """Where a re-pushed layer's files are read from."""

    STORE = "store"
    SOURCE = "source"


@dataclass(frozen=True, slots=True)
class RepushLayer:
    """One recorded layer to pack again and push: its files in tar order and gzip level."""

    layer: LockLayer
    files: PVector[InventoryFile]
    gzip_level: int | None
    origin: Origin

    @property
    def plan(self) -> LayerPlan:
        return LayerPlan(self.files, self.layer.media_type, self.gzip_level, self.layer)


@dataclass(frozen=True, slots=True)
class RepushWeight:
    """Push a recorded weight's lost blobs (or, forced, all of them) again, unchanged.

    ``lost`` says what the registry lacked ("manifest, 2 layers"); empty when it lacked
    nothing and the push is ``forced``. ``uri`` and ``fingerprint`` name the source
    the files of ``Origin.SOURCE`` layers are read from.
    """

    weight: str
    target: str
    manifest: str  # the recorded manifest digest; the shell rebuilds and checks it
    push_manifest: bool
    layers: PVector[RepushLayer]
    lost: str = ""
    forced: bool = False
    uri: str = ""
    fingerprint: str = ""
    # Several sources: (uri, fingerprint) of those after the first, and the index of the
    # source each file of an ``Origin.SOURCE`` layer is read from, by path.
    more_sources: PVector[tuple[str, str]] = field(default_factory=pvector)
    owners: PMap[str, int] = field(default_factory=pmap)

    @property
    def layer_bytes(self) -> int:
        return sum(layer.layer.size for layer in self.layers)


def gzip_level_of(
    layer: LockLayer, files: Sequence[InventoryFile], options: PackOptions = DEFAULT_OPTIONS
) -> int | str | None:
    """The gzip level the packer gives such a layer (None: a raw tar), or why cogw cannot
    pack it: Cog's choice by file count (``cogw.core.artifact.packing.gzip_level``).

    >>> big = [InventoryFile("m.bin", 64 << 20, "sha256:" + "a" * 64)]
    >>> gzip_level_of(LockLayer("d", MEDIA_TYPE_TAR_GZIP, 1, 1), big)
    -1
    >>> gzip_level_of(LockLayer("d", "application/x-zip", 1, 1), big)
    'cogw packs no application/x-zip layers'
    """
    if layer.media_type == MEDIA_TYPE_TAR:
        return None
    if layer.media_type != MEDIA_TYPE_TAR_GZIP:
        return f"cogw packs no {layer.media_type} layers"
    return gzip_level(files, options)


def layer_files(entry: WeightEntry, layer: LockLayer) -> PVector[InventoryFile]:
    """The files weights.lock puts in ``layer``, in tar order (by path)."""
    held = (f for f in entry.files if f.layer == layer.digest)
    return pvector(
        InventoryFile(f.path, f.size, f.digest) for f in sorted(held, key=lambda f: f.path)
    )


def source_owners(
    snapshot: Snapshot, entry: WeightEntry, files: Sequence[InventoryFile]
) -> dict[str, int] | None:
    """The index of the source that gives each of ``files``, when the weight's sources, as
    gathered now, are each at their recorded fingerprint and their merge (through the
    recorded filters) still holds ``files`` unchanged; None when they cannot give them."""
    first = snapshot.inventories.get(entry.name)
    more = list(snapshot.more_inventories.get(entry.name, ()))
    if first is None or len(more) != len(entry.more_sources):
        return None
    inventories = [first, *more]
    if [inv.fingerprint for inv in inventories] != [s.fingerprint for s in entry.sources]:
        return None
    resolved = resolve_sources(spec_from_entry(entry), inventories, FILENAME)
    if isinstance(resolved, Diagnostic):
        return None
    owners = resolved.owners or pvector([0] * len(resolved.files))
    there = {f.path: (f.digest, o) for f, o in zip(resolved.files, owners, strict=True)}
    if any(there.get(f.path, ("", 0))[0] != f.digest for f in files):
        return None
    return {f.path: there[f.path][1] for f in files}


def _lost_layer_problem(entry: WeightEntry, layer: LockLayer, missing: int) -> Diagnostic:
    return Diagnostic(
        summary=f'weight "{entry.name}": cannot push layer {format_digest_short(layer.digest)} '
        f"again: the local store lacks {missing} of its files and the source cannot give them",
        subject="weights.lock",
        hint="fetch the files from another copy of the weight into the store "
        f"('cogw pull --from oci:DIR {entry.name}' or '--mirror HOST'), then run "
        f"'cogw import {entry.name}' again",
    )


def repush_layer(
    snapshot: Snapshot, entry: WeightEntry, layer: LockLayer
) -> RepushLayer | Diagnostic:
    """How to push ``layer`` again: its pack plan and where its files come from."""
    files = layer_files(entry, layer)
    level = gzip_level_of(layer, files)
    if isinstance(level, str):
        return Diagnostic(
            f'weight "{entry.name}": cannot push layer {format_digest_short(layer.digest)} '
            f"again: {level}",
            subject="weights.lock",
        )
    lacking = [f for f in files if f.digest not in snapshot.present]
    if not lacking:
        return RepushLayer(layer, files, level, Origin.STORE)
    if source_owners(snapshot, entry, lacking) is not None:
        return RepushLayer(layer, files, level, Origin.SOURCE)
    return _lost_layer_problem(entry, layer, len(lacking))


def repush_weight(
    snapshot: Snapshot, entry: WeightEntry, check: RemoteCheck | None, forced: bool
) -> RepushWeight | list[Diagnostic]:
    """The step that puts back what ``check`` says is lost (everything when ``forced``)."""
    lost_digests = {b.digest for b in check.lost_layers} if check is not None else set()
    chosen = [layer for layer in entry.layers if forced or layer.digest in lost_digests]
    planned = [repush_layer(snapshot, entry, layer) for layer in chosen]
    problems = [p for p in planned if isinstance(p, Diagnostic)]
    if problems:
        return problems
    layers = pvector(p for p in planned if isinstance(p, RepushLayer))
    from_source = any(layer.origin is Origin.SOURCE for layer in layers)
    owners: dict[str, int] = {}
    if from_source and entry.more_sources:
        read = [f for layer in layers if layer.origin is Origin.SOURCE for f in layer.files]
        owners = source_owners(snapshot, entry, read) or {}
    return RepushWeight(
        weight=entry.name,
        target=entry.target,
        manifest=entry.digest,
        push_manifest=forced or (check is not None and check.manifest_lost),
        layers=layers,
        lost=lost_words(check) if check is not None and not check.error else "",
        forced=forced,
        uri=entry.source.uri if from_source else "",
        fingerprint=entry.source.fingerprint if from_source else "",
        more_sources=pvector(
            (s.uri, s.fingerprint) for s in (entry.more_sources if from_source else ())
        ),
        owners=pmap(owners),
    )


def _in_sync(name: str, drift: Sequence[DriftResult]) -> bool:
    return not any(r.name == name and r.kind is not DriftKind.ORPHANED for r in drift)


def plan_repushes(
    snapshot: Snapshot,
    names: Sequence[str],
    importing: Collection[str],
    drift: Sequence[DriftResult],
    forced: bool = False,
) -> tuple[list[RepushWeight], list[str], list[Diagnostic]]:
    """Re-push steps for the named declared weights (all when empty) that are recorded,
    in sync with cog.yaml and not being imported anyway; notes for registries that could
    not be asked, and problems for layers nothing can give again."""
    declared = [s.name for s in snapshot.config.weights if not names or s.name in names]
    entries = {e.name: e for e in (snapshot.lock.weights if snapshot.lock else [])}
    steps: list[RepushWeight] = []
    notes: list[str] = []
    problems: list[Diagnostic] = []
    for name in declared:
        entry = entries.get(name)
        if entry is None or name in importing or not _in_sync(name, drift):
            continue
        check = snapshot.remote.get(name)
        if check is not None and check.error and not forced:
            notes.append(f"{name}: registry not checked ({check.error})")
            continue
        if not forced and (check is None or check.complete):
            continue
        match repush_weight(snapshot, entry, check, forced):
            case RepushWeight() as step:
                steps.append(step)
            case found:
                problems.extend(found)
    return steps, notes, problems
