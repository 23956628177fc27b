"""The gc plan: which blobs, temp files and mounts can go, decided from a CacheSnapshot.

Roots (never deleted): every file of every weight in every live project's
weights.lock; every blob a live mount links to; and, as a last safety net, any
blob with more than one link (something outside the store still uses it, once
the orphaned mounts gc removes are discounted). ``keep_within_ns`` keeps blobs
used recently. With ``weights`` the plan is targeted: only the blobs of those
weights are candidates, and their own lockfile entries stop being roots.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from cogw.core.cachesnap import CacheSnapshot, ProjectRoots, ProjectState, TempFile
from cogw.core.diagnostics import Diagnostic

#: A ``put-*`` file younger than this may belong to a write still running.
TEMP_SAFE_AGE_NS = 3600 * 10**9

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+)([smhdw])")


def parse_duration(text: str) -> int | None:
    """``90m``, ``12h``, ``7d``, ``2w``, ``1d12h`` → nanoseconds; None when malformed."""
    if not text or _DURATION.sub("", text) != "":
        return None
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _DURATION.findall(text))
    return seconds * 10**9


@dataclass(frozen=True, slots=True)
class GcOptions:
    keep_within_ns: int = 0
    weights: tuple[str, ...] = ()  # empty: every unused blob

    @property
    def targeted(self) -> bool:
        return bool(self.weights)


@dataclass(frozen=True, slots=True)
class Deletion:
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class RootEntry:
    """What a saved plan remembers of one project, to refuse it when roots changed."""

    project: str
    state: str
    lock: str
    mounts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GcPlan:
    roots: tuple[RootEntry, ...]
    delete: tuple[Deletion, ...] = ()
    temps: tuple[TempFile, ...] = ()
    mounts: tuple[str, ...] = ()  # mount dirs whose project is gone
    drop_projects: tuple[str, ...] = ()
    kept_linked: int = 0
    kept_recent: int = 0
    notes: tuple[str, ...] = ()
    problems: tuple[Diagnostic, ...] = field(default=())

    @property
    def bytes_freed(self) -> int:
        return sum(d.size for d in self.delete) + sum(t.size for t in self.temps)

    @property
    def is_empty(self) -> bool:
        return not (self.delete or self.temps or self.mounts or self.drop_projects)


def roots_of(projects: tuple[ProjectRoots, ...]) -> tuple[RootEntry, ...]:
    return tuple(
        RootEntry(p.dir, p.state.value, p.lock_digest, tuple(sorted(m.id for m in p.mounts)))
        for p in sorted(projects, key=lambda p: p.dir)
    )


def rooted_digests(projects: tuple[ProjectRoots, ...], skip: tuple[str, ...] = ()) -> set[str]:
    """Digests live projects' lockfiles and live mounts need (weights in ``skip`` excepted)."""
    rooted: set[str] = set()
    for p in projects:
        if not p.is_live:
            continue
        for w in p.weights:
            if w.name not in skip:
                rooted.update(f.digest for f in w.files)
        for m in p.mounts:
            rooted.update(m.linked_blobs())
    return rooted


def _problems(snap: CacheSnapshot, opts: GcOptions) -> list[Diagnostic]:
    problems = [
        Diagnostic(
            "cannot read this project's weights.lock, so its roots are unknown",
            subject=p.dir,
            hint="fix weights.lock (cogw lock fmt --check) or remove the project; "
            "gc deletes nothing until then",
        )
        for p in snap.projects
        if p.state is ProjectState.BAD_LOCK
    ]
    known = {w.name for p in snap.projects if p.is_live for w in p.weights}
    problems += [
        Diagnostic(
            f'no known project has a weight "{name}"', hint="list them: cogw cache ls --by weight"
        )
        for name in opts.weights
        if name not in known
    ]
    return problems


def _gone_notes(gone: list[ProjectRoots]) -> list[str]:
    why = {ProjectState.MISSING: "no longer exists", ProjectState.NO_LOCK: "has no weights.lock"}
    return [f"project {p.dir} {why[p.state]}: dropped from the cache" for p in gone if p.indexed]


def _candidates(snap: CacheSnapshot, opts: GcOptions) -> set[str] | None:
    """Digests gc may consider (None: every blob)."""
    if not opts.targeted:
        return None
    return {
        f.digest
        for p in snap.projects
        if p.is_live
        for w in p.weights
        if w.name in opts.weights
        for f in w.files
    }


def plan_gc(snap: CacheSnapshot, opts: GcOptions) -> GcPlan:
    """Decide what gc removes; pure, so every rule has a unit test without a disk."""
    roots = roots_of(snap.projects)
    problems = _problems(snap, opts)
    if problems:
        return GcPlan(roots, problems=tuple(problems))
    gone = [p for p in snap.projects if p.is_gone]
    orphan_mounts = [] if opts.targeted else [m for p in gone for m in p.mounts]
    released = Counter(d for m in orphan_mounts for d in m.linked_blobs())
    rooted = rooted_digests(snap.projects, opts.weights)
    candidates = _candidates(snap, opts)
    delete: list[Deletion] = []
    kept_linked = kept_recent = 0
    for blob in snap.blobs:
        if blob.digest in rooted or (candidates is not None and blob.digest not in candidates):
            continue
        if blob.links - released[blob.digest] > 1:
            kept_linked += 1
        elif snap.now_ns - blob.used_ns < opts.keep_within_ns:
            kept_recent += 1
        else:
            delete.append(Deletion(blob.digest, blob.size))
    temps = () if opts.targeted else _old_temps(snap)
    return GcPlan(
        roots,
        delete=tuple(delete),
        temps=temps,
        mounts=tuple(m.path for m in orphan_mounts),
        drop_projects=tuple(p.dir for p in gone if p.indexed),
        kept_linked=kept_linked,
        kept_recent=kept_recent,
        notes=tuple(_gone_notes(gone)),
    )


def _old_temps(snap: CacheSnapshot) -> tuple[TempFile, ...]:
    return tuple(t for t in snap.temps if snap.now_ns - t.modified_ns >= TEMP_SAFE_AGE_NS)


def changed_roots(saved: tuple[RootEntry, ...], current: tuple[RootEntry, ...]) -> list[str]:
    """Why a saved plan is stale, one line per project whose roots differ."""
    before = {r.project: r for r in saved}
    after = {r.project: r for r in current}
    lines: list[str] = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old is None:
            lines.append(f"new project {name}")
        elif new is None:
            lines.append(f"project {name} is no longer known")
        elif old.state != new.state or old.lock != new.lock:
            lines.append(f"weights.lock of {name} changed")
        elif set(new.mounts) - set(old.mounts):
            lines.append(f"new mount in {name}")
    return lines


def restrict(fresh: GcPlan, saved: GcPlan) -> GcPlan:
    """What applying ``saved`` may do now: only what both plans agree on, so nothing
    the fresh snapshot would keep is ever removed."""
    digests = {d.digest for d in saved.delete}
    temp_paths = {t.path for t in saved.temps}
    return GcPlan(
        fresh.roots,
        delete=tuple(d for d in fresh.delete if d.digest in digests),
        temps=tuple(t for t in fresh.temps if t.path in temp_paths),
        mounts=tuple(m for m in fresh.mounts if m in set(saved.mounts)),
        drop_projects=tuple(p for p in fresh.drop_projects if p in set(saved.drop_projects)),
        kept_linked=fresh.kept_linked,
        kept_recent=fresh.kept_recent,
        notes=fresh.notes,
    )
