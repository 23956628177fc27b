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
from dataclasses import dataclass, field
from operator import attrgetter

from pyrsistent import PVector, pvector
from returns.result import Failure

from cogw.core.cache.cachedir import cross_filesystem_problem
from cogw.core.config.weights import WeightSpec
from cogw.core.diagnostics import Diagnostic, Problems
from cogw.core.lock.lockfile import LockFile, LockLayer, WeightEntry
from cogw.core.plan.drift import DriftKind, DriftResult, check_drift
from cogw.core.plan.importplan import ImportStatus, ImportWeight, plan_imports
from cogw.core.plan.operation import Operation as Operation  # re-exported: part of the plan API
from cogw.core.plan.repush import RepushWeight, plan_repushes
from cogw.core.plan.snapshot import Snapshot
from cogw.core.registry.reference import parse_repository
from cogw.core.suggest import did_you_mean

# Import steps are planned in importplan; their records are part of this API too.
__all__ = [
    "Drift",
    "FetchLayer",
    "ImportStatus",
    "ImportWeight",
    "LinkWeight",
    "Operation",
    "Plan",
    "PruneLockEntry",
    "RepushWeight",
    "Step",
    "dedupe",
    "make_plan",
    "make_prepare_plan",
    "plan_fetches",
    "select_locked",
]

# check_drift's results for the snapshot, computed once per plan.
Drift = Sequence[DriftResult]


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


Step = FetchLayer | LinkWeight | PruneLockEntry | ImportWeight | RepushWeight


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
    known = [s.name for s in snapshot.config.weights] + [e.name for e in _entries(snapshot)]
    return Diagnostic(
        summary=f"unknown weight(s): {listed}",
        subject=snapshot.config_name,
        detail="neither cog.yaml nor weights.lock declares them",
        hint=did_you_mean(unknown, known, "run 'cogw status' to list the weights"),
    )


def _entries(snapshot: Snapshot) -> PVector[WeightEntry]:
    return snapshot.lock.weights if snapshot.lock is not None else pvector()


def _declared(snapshot: Snapshot) -> dict[str, WeightSpec]:
    return {s.name: s for s in snapshot.config.weights}


def select_locked(
    snapshot: Snapshot, names: Sequence[str], verb: str, drift: Drift
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
            f"{r.name}: removed from cog.yaml; not {verb}ed (run 'cogw apply prune')"
            for r in drift
            if r.kind is DriftKind.ORPHANED
        ]
        notes += [
            f"{r.name}: not imported yet (run 'cogw import {r.name}')"
            for r in drift
            if r.kind is DriftKind.PENDING
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


_DIGEST = attrgetter("digest")


def _missing_by_layer(entry: WeightEntry, present: frozenset[str]) -> list[FetchLayer]:
    """Layers holding at least one file the store lacks, in lockfile layer order."""
    if present.issuperset(map(_DIGEST, entry.files)):
        return []  # every file is in the store (one look-up each, in C)
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


def _make_pull_plan(snapshot: Snapshot, names: Sequence[str], drift: Drift) -> Plan:
    entries, notes, problems = select_locked(snapshot, names, "pull", drift)
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


def make_prepare_plan(
    snapshot: Snapshot,
    names: Sequence[str],
    drift: Drift,
    pull: bool = False,
    link_mode: str = "hardlink",
) -> Plan:
    entries, notes, problems = select_locked(snapshot, names, "prepare", drift)
    links = link_mode in ("hardlink", "reflink")  # neither can cross filesystems
    if entries and links and snapshot.store_shares_device is False:
        problems.append(
            cross_filesystem_problem(snapshot.store_dir, snapshot.project_dir, link_mode)
        )
    steps: list[Step] = []
    if pull:
        fetches, _ = plan_fetches(entries, snapshot.present)
        steps.extend(fetches)
    else:
        problems += [p for e in entries if (p := _not_cached_problem(e, snapshot.present))]
    steps += [LinkWeight(e.name, e.target, e.files) for e in entries]
    return _plan(snapshot, Operation.PREPARE, names, steps, notes, problems)


def _make_prune_plan(snapshot: Snapshot, names: Sequence[str], drift: Drift) -> Plan:
    orphans = [r for r in drift if r.kind is DriftKind.ORPHANED]
    wanted = set(names)
    steps: list[Step] = [
        PruneLockEntry(r.name, r.target) for r in orphans if not wanted or r.name in wanted
    ]
    problems = []
    pruned = {r.name for r in orphans}
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


def _make_import_plan(
    snapshot: Snapshot, names: Sequence[str], drift: Drift, force: bool = False
) -> Plan:
    imports, notes, problems = plan_imports(snapshot, names, drift)
    # What the registry lost of an unchanged weight is pushed again (core/plan/repush.py).
    importing = {s.weight for s in imports}
    repushes, more_notes, more_problems = plan_repushes(snapshot, names, importing, drift, force)
    repushed = {f"{s.weight}: unchanged" for s in repushes}
    notes = [n for n in notes if n not in repushed] + more_notes
    # As Cog's import: entries cog.yaml no longer declares go too (in the import's own
    # write when it records), so a renamed weight never leaves its old entry behind.
    steps: list[Step] = [*imports, *repushes, *_make_prune_plan(snapshot, [], drift).steps]
    return _plan(snapshot, Operation.IMPORT, names, steps, notes, problems + more_problems)


def _make_sync_plan(snapshot: Snapshot, names: Sequence[str], drift: Drift) -> Plan:
    imports = _make_import_plan(snapshot, names, drift) if snapshot.config.weights else None
    import_steps = [s for s in imports.steps if isinstance(s, ImportWeight)] if imports else []
    importing = {s.weight for s in import_steps}
    prune = _make_prune_plan(snapshot, [], drift)
    declared = _declared(snapshot)
    locked = [
        e
        for e in _entries(snapshot)
        if e.name in declared and e.name not in importing and (not names or e.name in names)
    ]
    fetches, cached = plan_fetches(locked, snapshot.present)
    steps = import_steps + list(prune.steps) + fetches
    notes = _one_note_per_weight(list(imports.notes) if imports else [], cached)
    problems = list(imports.problems) if imports else []
    return _plan(snapshot, Operation.SYNC, names, steps, notes, problems)


def repository_problem(snapshot: Snapshot, steps: Sequence[Step]) -> Diagnostic | None:
    """Steps that reach the registry need ``model:`` or ``image:`` to name a repository
    (no tag or digest); found while planning, not after ingesting and packing. A project
    naming neither is told so by the command that needs the registry."""
    repository = snapshot.config.repository
    reaching = ImportWeight | FetchLayer | RepushWeight
    if not repository or not any(isinstance(s, reaching) for s in steps):
        return None
    parsed = parse_repository(repository)
    if not isinstance(parsed, Failure):
        return None
    key = "model" if snapshot.config.uses_model else "image"
    summary, _, advice = parsed.failure().partition(" — ")
    return Diagnostic(
        summary=summary,
        subject=f"{snapshot.config_name}: {key}",
        hint=advice or f"{key}: names the repository only (host/path), without :tag or @digest",
    )


def _one_note_per_weight(import_notes: Sequence[str], cached: Sequence[str]) -> list[str]:
    """Sync's notes: "alpha: unchanged, cached (3/3 files)" rather than two notes."""
    cached_of = {n.partition(": ")[0]: n.partition(": ")[2] for n in cached}
    notes = []
    for note in import_notes:
        name, _, what = note.partition(": ")
        if what == "unchanged" and name in cached_of:
            note = f"{name}: unchanged, {cached_of.pop(name)}"
        notes.append(note)
    return notes + [f"{name}: {what}" for name, what in cached_of.items()]


def _plan(
    snapshot: Snapshot,
    op: Operation,
    names: Sequence[str],
    steps: Sequence[Step],
    notes: Sequence[str],
    problems: Sequence[Diagnostic],
) -> Plan:
    image_problem = repository_problem(snapshot, steps)
    all_problems = (*problems, image_problem) if image_problem else tuple(problems)
    return Plan(
        op,
        pvector(names),
        snapshot.config.repository,
        pvector(steps),
        pvector(notes),
        all_problems,
    )


def make_plan(
    snapshot: Snapshot,
    operation: Operation,
    names: Sequence[str] = (),
    pull: bool = False,
    link_mode: str = "hardlink",
    force: bool = False,
) -> Plan:
    """The plan for ``operation`` on the named weights (all when ``names`` is empty);
    ``link_mode`` is how prepare would place files in its mount directories; ``force``
    makes an import push every recorded weight again, whatever the registry holds."""
    names = dedupe(names)
    drift = check_drift(snapshot.lock, snapshot.config.weights)
    if operation is Operation.PULL:
        plan = _make_pull_plan(snapshot, names, drift)
    elif operation is Operation.PREPARE:
        plan = make_prepare_plan(snapshot, names, drift, pull, link_mode)
    elif operation is Operation.PRUNE:
        plan = _make_prune_plan(snapshot, names, drift)
    elif operation is Operation.IMPORT:
        plan = _make_import_plan(snapshot, names, drift, force)
    else:
        plan = _make_sync_plan(snapshot, names, drift)
    return plan
