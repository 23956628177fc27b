"""Plans: what an operation would do, computed purely from a Snapshot.

``make_plan`` is total: drift, missing files and unknown names are data in the
Plan (steps, notes, problems), never exceptions. The shell renders a Plan
(``cogw plan``) or executes it (``cogw apply``); executing a Plan and planning
again from a fresh Snapshot must give an empty plan (convergence).

Steps are small immutable records named verb–noun (Terraform actions, Flocker
state changes). Each is idempotent, so a saved plan may be applied to a store
that changed since it was made.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from pyrsistent import PVector, pvector
from returns.result import Failure, Success

from cogw.core.config import WeightSpec, spec_from_entry, specs_equal
from cogw.core.diagnostics import Diagnostic, Problems
from cogw.core.filters import filter_inventory
from cogw.core.inventory import Inventory, InventoryFile
from cogw.core.lockfile import LockFile, LockLayer, WeightEntry
from cogw.core.operation import Operation as Operation  # re-exported: part of the plan API
from cogw.core.snapshot import Snapshot


class ImportStatus(StrEnum):
    NEW = "new"
    CONFIG_CHANGED = "config-changed"
    SOURCE_CHANGED = "source-changed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class FetchLayer:
    """Stream one layer from the registry and store the files it holds.

    ``files`` are all files the lockfile assigns to the layer (the only names the
    tar may contain); ``missing`` are the paths the store lacks, the reason to fetch.
    """

    weight: str
    manifest: str
    layer: LockLayer
    files: PVector[LockFile]
    missing: PVector[str]

    @property
    def missing_bytes(self) -> int:
        wanted = set(self.missing)
        return sum(f.size for f in self.files if f.path in wanted)


@dataclass(frozen=True, slots=True)
class LinkWeight:
    """Hardlink (or reflink/copy) every file of a weight into a mount directory."""

    weight: str
    target: str
    files: PVector[LockFile]


@dataclass(frozen=True, slots=True)
class PruneLockEntry:
    """Remove a weight that cog.yaml no longer declares from weights.lock."""

    weight: str
    target: str


@dataclass(frozen=True, slots=True)
class ImportWeight:
    """Ingest a weight's source into the store, pack, push, and record it.

    ``files`` is the filtered inventory the import will pack; the counts compare
    it with the current lock entry.
    """

    weight: str
    spec: WeightSpec
    status: ImportStatus
    changes: PVector[str]
    fingerprint: str
    files: PVector[InventoryFile]
    added: int = 0
    removed: int = 0
    changed: int = 0
    bytes_to_ingest: int = 0

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


Step = FetchLayer | LinkWeight | PruneLockEntry | ImportWeight


@dataclass(frozen=True, slots=True)
class Plan:
    operation: Operation
    names: PVector[str] = field(default_factory=pvector)
    repository: str = ""
    steps: PVector[Step] = field(default_factory=pvector)
    notes: PVector[str] = field(default_factory=pvector)
    problems: Problems = ()

    @property
    def is_empty(self) -> bool:
        return not self.steps

    @property
    def applyable(self) -> bool:
        return not self.problems


def dedupe(names: Iterable[str]) -> list[str]:
    """Names in first-seen order without repeats (Cog processes `pull a a` twice)."""
    return list(dict.fromkeys(names))


def _unknown_names_problem(unknown: Sequence[str], snapshot: Snapshot) -> Diagnostic:
    listed = ", ".join(f'"{n}"' for n in unknown)
    return Diagnostic(
        summary=f"unknown weight(s): {listed}",
        subject=snapshot.config_name,
        detail="neither cog.yaml nor weights.lock declares them",
        hint="run 'cogw status' to list the weights",
    )


def _entries(snapshot: Snapshot) -> PVector[WeightEntry]:
    return snapshot.lock.weights if snapshot.lock is not None else pvector()


def _declared(snapshot: Snapshot) -> dict[str, WeightSpec]:
    return {s.name: s for s in snapshot.config.weights}


def select_locked(
    snapshot: Snapshot, names: Sequence[str], verb: str
) -> tuple[list[WeightEntry], list[str], list[Diagnostic]]:
    """Lock entries an operation on the lockfile (pull, prepare) acts on.

    Without names: every entry cog.yaml still declares, in lockfile order.
    Orphans and pending weights become notes rather than silent skips, and
    naming a declared-but-unimported weight says so instead of "unknown"
    (both were Cog bugs).
    """
    locked = {e.name: e for e in _entries(snapshot)}
    declared = _declared(snapshot)
    notes: list[str] = []
    problems: list[Diagnostic] = []
    if not names:
        chosen = [e for e in _entries(snapshot) if e.name in declared]
        notes += [
            f"{e.name}: removed from cog.yaml; not {verb}ed (run 'cogw apply prune')"
            for e in _entries(snapshot)
            if e.name not in declared
        ]
        notes += [
            f"{s.name}: not imported yet (run 'cogw import {s.name}')"
            for s in snapshot.config.weights
            if s.name not in locked
        ]
        return chosen, notes, problems
    unknown = [n for n in names if n not in locked and n not in declared]
    if unknown:
        problems.append(_unknown_names_problem(unknown, snapshot))
    for n in names:
        if n in declared and n not in locked:
            problems.append(
                Diagnostic(
                    summary=f'weight "{n}" is not imported yet',
                    subject=snapshot.config_name,
                    hint=f"run 'cogw import {n}' first",
                )
            )
    return [locked[n] for n in names if n in locked], notes, problems


def _missing_by_layer(entry: WeightEntry, present: frozenset[str]) -> list[FetchLayer]:
    """Layers holding at least one file the store lacks, in lockfile layer order."""
    steps = []
    for layer in entry.layers:
        files = pvector(f for f in entry.files if f.layer == layer.digest)
        missing = pvector(f.path for f in files if f.digest not in present)
        if missing:
            steps.append(FetchLayer(entry.name, entry.digest, layer, files, missing))
    return steps


def plan_fetches(
    entries: Iterable[WeightEntry], present: frozenset[str]
) -> tuple[list[Step], list[str]]:
    steps: list[Step] = []
    notes: list[str] = []
    for entry in entries:
        fetches = _missing_by_layer(entry, present)
        if not fetches:
            notes.append(f"{entry.name}: cached ({len(entry.files)}/{len(entry.files)} files)")
        steps.extend(fetches)
    return steps, notes


def _make_pull_plan(snapshot: Snapshot, names: Sequence[str]) -> Plan:
    entries, notes, problems = select_locked(snapshot, names, "pull")
    steps, cached = plan_fetches(entries, snapshot.present)
    return _plan(snapshot, Operation.PULL, names, steps, notes + cached, problems)


def _not_cached_problem(entry: WeightEntry, present: frozenset[str]) -> Diagnostic | None:
    missing = [f.path for f in entry.files if f.digest not in present]
    if not missing:
        return None
    return Diagnostic(
        summary=f'weight "{entry.name}" is not fully cached locally '
        f"(missing {missing[0]}" + (f" and {len(missing) - 1} more)" if len(missing) > 1 else ")"),
        hint=f"run 'cogw pull {entry.name}' first, or 'cogw prepare --pull'",
    )


def make_prepare_plan(snapshot: Snapshot, names: Sequence[str], pull: bool = False) -> Plan:
    entries, notes, problems = select_locked(snapshot, names, "prepare")
    steps: list[Step] = []
    if pull:
        fetches, _ = plan_fetches(entries, snapshot.present)
        steps.extend(fetches)
    else:
        problems += [p for e in entries if (p := _not_cached_problem(e, snapshot.present))]
    steps += [LinkWeight(e.name, e.target, e.files) for e in entries]
    return _plan(snapshot, Operation.PREPARE, names, steps, notes, problems)


def _make_prune_plan(snapshot: Snapshot, names: Sequence[str]) -> Plan:
    declared = _declared(snapshot)
    wanted = set(names)
    steps: list[Step] = [
        PruneLockEntry(e.name, e.target)
        for e in _entries(snapshot)
        if e.name not in declared and (not wanted or e.name in wanted)
    ]
    problems = []
    pruned = {e.name for e in _entries(snapshot) if e.name not in declared}
    unknown = [n for n in names if n not in pruned]
    if unknown:
        problems.append(
            Diagnostic(
                summary="not orphaned: " + ", ".join(f'"{n}"' for n in unknown),
                subject="weights.lock",
                detail="prune removes only entries that cog.yaml no longer declares",
            )
        )
    return _plan(snapshot, Operation.PRUNE, names, steps, [], problems)


def _quoted_change(field_name: str, old: str, new: str) -> str:
    return f'{field_name}: "{old}" → "{new}"'


def _list_change(field_name: str, old: Sequence[str], new: Sequence[str]) -> str:
    return f"{field_name}: [{' '.join(old)}] → [{' '.join(new)}]"


def config_changes(spec: WeightSpec, entry: WeightEntry) -> list[str]:
    """Cog's import-plan change strings, in Cog's order (uri, target, include, exclude)."""
    locked = spec_from_entry(entry)
    changes = []
    if locked.uri != spec.uri:
        changes.append(_quoted_change("uri", locked.uri, spec.uri))
    if locked.target != spec.target:
        changes.append(_quoted_change("target", locked.target, spec.target))
    if list(locked.include) != list(spec.include):
        changes.append(_list_change("include", locked.include, spec.include))
    if list(locked.exclude) != list(spec.exclude):
        changes.append(_list_change("exclude", locked.exclude, spec.exclude))
    return changes


def _file_diff(files: Sequence[InventoryFile], entry: WeightEntry | None) -> tuple[int, int, int]:
    old = {f.path: (f.digest, f.size) for f in entry.files} if entry else {}
    new = {f.path: (f.digest, f.size) for f in files}
    added = sum(1 for p in new if p not in old)
    removed = sum(1 for p in old if p not in new)
    changed = sum(1 for p, v in new.items() if p in old and old[p] != v)
    return added, removed, changed


def _import_status(
    spec: WeightSpec, entry: WeightEntry | None, inv: Inventory, files: Sequence[InventoryFile]
) -> tuple[ImportStatus, list[str]]:
    if entry is None:
        return ImportStatus.NEW, []
    if not specs_equal(spec, spec_from_entry(entry)):
        return ImportStatus.CONFIG_CHANGED, config_changes(spec, entry)
    if entry.source.fingerprint != inv.fingerprint:
        return ImportStatus.SOURCE_CHANGED, [
            f"fingerprint: {entry.source.fingerprint} → {inv.fingerprint}"
        ]
    if _file_diff(files, entry) != (0, 0, 0):
        # Same fingerprint but a different file set: the entry was edited or
        # written by a different filter implementation; re-import to converge.
        return ImportStatus.SOURCE_CHANGED, ["files differ from weights.lock"]
    return ImportStatus.UNCHANGED, []


def plan_import_weight(
    snapshot: Snapshot, spec: WeightSpec
) -> tuple[ImportWeight | None, list[str], list[Diagnostic]]:
    """One weight's import step, or None when it is unchanged."""
    if spec.name in snapshot.source_errors:
        return None, [], [snapshot.source_errors[spec.name]]
    inv = snapshot.inventories.get(spec.name)
    if inv is None:
        raise AssertionError(f"snapshot has no inventory for {spec.name}")  # gather bug
    match filter_inventory(inv, spec.include, spec.exclude):
        case Success(kept):
            files = kept.files
        case Failure(diag):
            subject = f'{snapshot.config_name}: weight "{spec.name}"'
            return None, [], [replace(diag, subject=subject)]
    entry = _find(snapshot, spec.name)
    status, changes = _import_status(spec, entry, inv, files)
    if status is ImportStatus.UNCHANGED:
        return None, [f"{spec.name}: unchanged"], []
    added, removed, changed = _file_diff(files, entry)
    to_ingest = sum(
        f.size for f in {f.digest: f for f in files if f.digest not in snapshot.present}.values()
    )
    step = ImportWeight(
        spec.name,
        spec,
        status,
        pvector(changes),
        inv.fingerprint,
        pvector(files),
        added,
        removed,
        changed,
        to_ingest,
    )
    return step, [], []


def _find(snapshot: Snapshot, name: str) -> WeightEntry | None:
    return next((e for e in _entries(snapshot) if e.name == name), None)


def select_specs(
    snapshot: Snapshot, names: Sequence[str]
) -> tuple[list[WeightSpec], list[Diagnostic]]:
    declared = _declared(snapshot)
    unknown = [n for n in names if n not in declared]
    problems = []
    if unknown:
        problems.append(
            Diagnostic(
                summary="not declared in cog.yaml: " + ", ".join(f'"{n}"' for n in unknown),
                subject=snapshot.config_name,
                hint="add the weight to the weights: section of cog.yaml",
            )
        )
    if not names:
        return list(snapshot.config.weights), problems
    return [declared[n] for n in names if n in declared], problems


def _make_import_plan(snapshot: Snapshot, names: Sequence[str]) -> Plan:
    specs, problems = select_specs(snapshot, names)
    steps: list[Step] = []
    notes: list[str] = []
    for spec in specs:
        step, more_notes, more_problems = plan_import_weight(snapshot, spec)
        steps += [step] if step else []
        notes += more_notes
        problems += more_problems
    if not snapshot.config.weights:
        problems.append(
            Diagnostic(
                summary=f"no weights defined in {snapshot.config_name}",
                subject=snapshot.config_name,
            )
        )
    return _plan(snapshot, Operation.IMPORT, names, steps, notes, problems)


def _make_sync_plan(snapshot: Snapshot, names: Sequence[str]) -> Plan:
    imports = _make_import_plan(snapshot, names) if snapshot.config.weights else None
    import_steps = list(imports.steps) if imports else []
    importing = {s.weight for s in import_steps}
    prune = _make_prune_plan(snapshot, [])
    declared = _declared(snapshot)
    locked = [
        e
        for e in _entries(snapshot)
        if e.name in declared and e.name not in importing and (not names or e.name in names)
    ]
    fetches, cached = plan_fetches(locked, snapshot.present)
    steps = import_steps + list(prune.steps) + fetches
    notes = (list(imports.notes) if imports else []) + cached
    problems = list(imports.problems) if imports else []
    return _plan(snapshot, Operation.SYNC, names, steps, notes, problems)


def _plan(
    snapshot: Snapshot,
    op: Operation,
    names: Sequence[str],
    steps: Sequence[Step],
    notes: Sequence[str],
    problems: Sequence[Diagnostic],
) -> Plan:
    return Plan(
        op, pvector(names), snapshot.config.image, pvector(steps), pvector(notes), tuple(problems)
    )


def make_plan(
    snapshot: Snapshot, operation: Operation, names: Sequence[str] = (), pull: bool = False
) -> Plan:
    """The plan for ``operation`` on the named weights (all when ``names`` is empty)."""
    names = dedupe(names)
    if operation is Operation.PULL:
        plan = _make_pull_plan(snapshot, names)
    elif operation is Operation.PREPARE:
        plan = make_prepare_plan(snapshot, names, pull)
    elif operation is Operation.PRUNE:
        plan = _make_prune_plan(snapshot, names)
    elif operation is Operation.IMPORT:
        plan = _make_import_plan(snapshot, names)
    else:
        plan = _make_sync_plan(snapshot, names)
    return plan
