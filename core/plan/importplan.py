"""Import plans: which weights to import, why, and how each one will be packed.

An ``ImportWeight`` is the whole decision, made from a Snapshot alone: the
filtered files, why the weight is imported (drift from ``check_drift``, or a
source whose fingerprint or file set moved), and its layer plan -- which files
go into which layer, and which layers reproduce a layer weights.lock already
records, so the import reuses that layer's digest instead of packing it. The
shell then only ingests, packs, pushes and records (``cogw.shell.importer``).

Recorded layers are reused only when this packer wrote them (the lockfile's
envelope format is the one this build stamps) and every planned layer matches a
recorded one (``cogw.core.packing.reusable_layers``, Cog's fast path).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from operator import attrgetter

from pyrsistent import PVector, pvector
from returns.pipeline import is_successful

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.artifact.packing import (
    DEFAULT_OPTIONS,
    LayerPlan,
    PackOptions,
    plan_layers,
    reusable_layers,
)
from cogw.core.config.multisource import fingerprint_changes, spec_changes
from cogw.core.config.weights import WeightSpec, spec_from_entry
from cogw.core.diagnostics import Diagnostic
from cogw.core.lock.lockfile import LockFile, WeightEntry, find_weight
from cogw.core.lock.lockwrite import write_shape
from cogw.core.plan.drift import DriftKind, DriftResult
from cogw.core.plan.importsources import resolve_sources, source_inventories
from cogw.core.plan.snapshot import Snapshot
from cogw.core.plan.sourcediff import EMPTY, SourceDiff, diff_files
from cogw.core.suggest import did_you_mean


class ImportStatus(StrEnum):
    NEW = "new"
    CONFIG_CHANGED = "config-changed"
    SOURCE_CHANGED = "source-changed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class ImportWeight:
    """Ingest a weight's source into the store, pack, push, and record it.

    ``files`` is the filtered inventory the import will pack; the counts compare
    it with the current lock entry. ``layers`` is the layer plan: every file in
    exactly one layer, each layer either reused from weights.lock or to be
    packed (and pushed) by the import.
    """

    weight: str
    spec: WeightSpec
    status: ImportStatus
    changes: PVector[str]
    fingerprint: str
    files: PVector[InventoryFile]
    layers: PVector[LayerPlan]
    added: int = 0
    removed: int = 0
    changed: int = 0
    bytes_to_ingest: int = 0
    file_changes: SourceDiff = EMPTY  # which files, against the lock entry (none when new)
    # Several sources (current Cog): the fingerprints after the first, the source each
    # file is read from (aligned with ``files``), and what the merge did, in Cog's words:
    # per source the files it adds, overrides and loses; each path a later source took.
    more_fingerprints: PVector[str] = field(default_factory=pvector)
    owners: PVector[int] = field(default_factory=pvector)
    source_counts: PVector[str] = field(default_factory=pvector)
    overrides: PVector[str] = field(default_factory=pvector)

    @property
    def fingerprints(self) -> tuple[str, ...]:
        return (self.fingerprint, *self.more_fingerprints)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def reused_layers(self) -> PVector[LayerPlan]:
        return pvector(layer for layer in self.layers if layer.reuse is not None)

    @property
    def packed_layers(self) -> PVector[LayerPlan]:
        return pvector(layer for layer in self.layers if layer.reuse is None)

    @property
    def reused_bytes(self) -> int:
        """File bytes in the reused layers (what the import need not pack)."""
        return sum(layer.file_bytes for layer in self.reused_layers)

    @property
    def packed_bytes(self) -> int:
        """File bytes in the layers the import packs and pushes."""
        return sum(layer.file_bytes for layer in self.packed_layers)


def plan_import_layers(
    files: Sequence[InventoryFile],
    recorded: WeightEntry | None,
    same_envelope: bool,
    options: PackOptions = DEFAULT_OPTIONS,
) -> PVector[LayerPlan]:
    """The layer plan, each layer marked with the recorded layer it reproduces, if any."""
    plans = plan_layers(files, options)
    reused = reusable_layers(plans, recorded, same_envelope)
    if reused is None:
        return plans
    return pvector(replace(p, reuse=r) for p, r in zip(plans, reused, strict=True))


def without_reuse(layers: Iterable[LayerPlan]) -> PVector[LayerPlan]:
    """The same layers, every one to be packed (when recorded digests proved wrong)."""
    return pvector(replace(layer, reuse=None) for layer in layers)


def same_envelope(snapshot: Snapshot) -> bool:
    """True when weights.lock's layer digests were made by this packer and compressor.

    An empty envelope is unknown, never a match.
    """
    lock = snapshot.lock
    return (
        lock is not None
        and bool(snapshot.envelope_format)
        and lock.envelope_format == snapshot.envelope_format
    )


def _quoted_change(field_name: str, old: str, new: str) -> str:
    return f'{field_name}: "{old}" → "{new}"'


def _list_change(field_name: str, old: Sequence[str], new: Sequence[str]) -> str:
    return f"{field_name}: [{' '.join(old)}] → [{' '.join(new)}]"


def cog_change(field_name: str, locked: WeightSpec, wanted: WeightSpec) -> str:
    """Cog's import-plan words for one changed field: strings quoted, lists bracketed."""
    if field_name in ("include", "exclude"):
        old: Sequence[str] = getattr(locked, field_name)
        return _list_change(field_name, old, getattr(wanted, field_name))
    return _quoted_change(field_name, getattr(locked, field_name), getattr(wanted, field_name))


def config_changes(fields: Sequence[str], locked: WeightSpec, wanted: WeightSpec) -> list[str]:
    """Cog's import-plan change strings for drift's changed ``fields``; among several
    sources (either side), current Cog's form: the target first, then source by source."""
    if len(locked.sources) > 1 or len(wanted.sources) > 1:
        return spec_changes(
            locked.target, locked.sources, wanted.target, wanted.sources, quote=True
        )
    return [cog_change(f, locked, wanted) for f in fields]


_PATH, _DIGEST, _SIZE = attrgetter("path"), attrgetter("digest"), attrgetter("size")


def same_files(files: Sequence[InventoryFile], locked: Sequence[LockFile]) -> bool:
    """Whether both list the same paths with the same digests and sizes, in the same order
    (field by field, compared in C); then :func:`file_diff` finds nothing."""
    return len(files) == len(locked) and all(
        list(map(field, files)) == list(map(field, locked)) for field in (_PATH, _DIGEST, _SIZE)
    )


def file_diff(files: Sequence[InventoryFile], entry: WeightEntry | None) -> tuple[int, int, int]:
    """(added, removed, changed) paths of ``files`` against a lock entry."""
    if entry is not None and same_files(files, entry.files):
        return 0, 0, 0  # the unchanged weight of every plan: no dictionaries of paths
    old = {f.path: (f.digest, f.size) for f in entry.files} if entry else {}
    new = {f.path: (f.digest, f.size) for f in files}
    added = sum(1 for p in new if p not in old)
    removed = sum(1 for p in old if p not in new)
    changed = sum(1 for p, v in new.items() if p in old and old[p] != v)
    return added, removed, changed


def import_status(
    spec: WeightSpec,
    drift: DriftResult | None,
    entry: WeightEntry | None,
    fingerprints: Sequence[str],
    files: Sequence[InventoryFile],
) -> tuple[ImportStatus, list[str]]:
    """Why a weight is imported: config drift first, then a moved source (compared
    source by source, ``source[i] fingerprint: a → b`` among several)."""
    if entry is None or (drift is not None and drift.kind is DriftKind.PENDING):
        return ImportStatus.NEW, []
    if drift is not None and drift.kind is DriftKind.CONFIG_CHANGED:
        locked = spec_from_entry(entry)
        return ImportStatus.CONFIG_CHANGED, config_changes(drift.fields, locked, spec)
    moved = fingerprint_changes([s.fingerprint for s in entry.sources], fingerprints)
    if moved:
        return ImportStatus.SOURCE_CHANGED, moved
    if file_diff(files, entry) != (0, 0, 0):
        # Same fingerprint but a different file set: the entry was edited or
        # written by a different filter implementation; re-import to converge.
        return ImportStatus.SOURCE_CHANGED, ["files differ from weights.lock"]
    return ImportStatus.UNCHANGED, []


def plan_import_weight(
    snapshot: Snapshot, spec: WeightSpec, drift: DriftResult | None
) -> tuple[ImportWeight | None, list[str], list[Diagnostic]]:
    """One weight's import step, or None when it is unchanged.

    ``drift`` is ``check_drift``'s result for this weight (None: in sync).
    """
    if spec.name in snapshot.source_errors:
        return None, [], [snapshot.source_errors[spec.name]]
    resolved = resolve_sources(spec, source_inventories(snapshot, spec), snapshot.config_name)
    if isinstance(resolved, Diagnostic):
        return None, [], [resolved]
    files = resolved.files
    entry = find_weight(snapshot.lock, spec.name) if snapshot.lock is not None else None
    status, changes = import_status(spec, drift, entry, resolved.fingerprints, files)
    if status is ImportStatus.UNCHANGED:
        return None, [f"{spec.name}: unchanged"], []
    added, removed, changed = file_diff(files, entry)
    missing = {f.digest: f for f in files if f.digest not in snapshot.present}
    step = ImportWeight(
        weight=spec.name,
        spec=spec,
        status=status,
        changes=pvector(changes),
        fingerprint=resolved.fingerprints[0],
        files=files,
        layers=plan_import_layers(files, entry, same_envelope(snapshot)),
        added=added,
        removed=removed,
        changed=changed,
        bytes_to_ingest=sum(f.size for f in missing.values()),
        file_changes=diff_files(entry.files, files) if entry else EMPTY,
        more_fingerprints=pvector(resolved.fingerprints[1:]),
        owners=resolved.owners,
        source_counts=resolved.counts,
        overrides=resolved.overrides,
    )
    return step, [], []


def select_specs(
    snapshot: Snapshot, names: Sequence[str]
) -> tuple[list[WeightSpec], list[Diagnostic]]:
    declared = {s.name: s for s in snapshot.config.weights}
    unknown = [n for n in names if n not in declared]
    problems = []
    if unknown:
        problems.append(
            Diagnostic(
                summary="not declared in cog.yaml: " + ", ".join(f'"{n}"' for n in unknown),
                subject=snapshot.config_name,
                hint=did_you_mean(
                    unknown, declared, "add the weight to the weights: section of cog.yaml"
                ),
            )
        )
    if not names:
        return list(snapshot.config.weights), problems
    return [declared[n] for n in names if n in declared], problems


def plan_imports(
    snapshot: Snapshot, names: Sequence[str], drift: Sequence[DriftResult]
) -> tuple[list[ImportWeight], list[str], list[Diagnostic]]:
    """Import steps, notes and problems for the named weights (all declared when empty)."""
    specs, problems = select_specs(snapshot, names)
    drift_of = {r.name: r for r in drift if r.kind is not DriftKind.ORPHANED}
    steps: list[ImportWeight] = []
    notes: list[str] = []
    for spec in specs:
        step, more_notes, more_problems = plan_import_weight(
            snapshot, spec, drift_of.get(spec.name)
        )
        steps += [step] if step else []
        notes += more_notes
        problems += more_problems
    # The weights.lock this import writes must be able to hold what it records: a weight of
    # several sources in a project pinned to v0.19.3's shape is refused before any push.
    shape = write_shape(snapshot.lock, snapshot.config)
    if not is_successful(shape):
        problems.append(shape.failure())
    if not snapshot.config.weights:
        problems.append(
            Diagnostic(
                summary=f"no weights defined in {snapshot.config_name}",
                subject=snapshot.config_name,
            )
        )
    return steps, notes, problems
