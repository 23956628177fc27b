"""Per-weight status from cog.yaml, weights.lock and the local store.

Cog's status asks only the registry and cannot tell "imported" from "usable
here"; cogw's answers the local question a user has before `cogw prepare`:

  ready          cog.yaml and weights.lock agree and every file is in the store
  missing-files  they agree but the store lacks files    → cogw pull
  stale          cog.yaml changed since the import        → cogw import
  pending        declared in cog.yaml, never imported     → cogw import
  orphaned       in weights.lock, gone from cog.yaml      → cogw apply prune
  incomplete     (--remote) the registry lost part of it  → cogw import
  source-changed the source moved since the import        → cogw import
                 (only with ``--sources``: core/plan/sourcestatus.py)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pyrsistent import PVector, pvector

from cogw.core.config.weights import WeightSpec
from cogw.core.lock.lockfile import WeightEntry
from cogw.core.plan.drift import DriftKind, check_drift
from cogw.core.plan.snapshot import Snapshot


class WeightStatus(StrEnum):
    READY = "ready"
    MISSING_FILES = "missing-files"
    STALE = "stale"
    PENDING = "pending"
    ORPHANED = "orphaned"
    INCOMPLETE = "incomplete"  # only with --remote (cogw.core.plan.remote)
    SOURCE_CHANGED = "source-changed"


NEXT_COMMAND = {
    WeightStatus.READY: "",
    WeightStatus.MISSING_FILES: "cogw pull",
    WeightStatus.STALE: "cogw import",
    WeightStatus.PENDING: "cogw import",
    WeightStatus.ORPHANED: "cogw apply prune",
    WeightStatus.INCOMPLETE: "cogw import",
    WeightStatus.SOURCE_CHANGED: "cogw import",
}


@dataclass(frozen=True, slots=True)
class StatusRow:
    name: str
    target: str
    status: WeightStatus
    entry: WeightEntry | None = None
    missing_files: int = 0
    missing_bytes: int = 0
    details: str = ""

    @property
    def next_command(self) -> str:
        return NEXT_COMMAND[self.status]


def _cache_row(spec: WeightSpec, entry: WeightEntry, present: frozenset[str]) -> StatusRow:
    missing = [f for f in entry.files if f.digest not in present]
    if missing:
        return StatusRow(
            spec.name,
            spec.target,
            WeightStatus.MISSING_FILES,
            entry,
            len(missing),
            sum(f.size for f in missing),
        )
    return StatusRow(spec.name, spec.target, WeightStatus.READY, entry)


def make_status(snapshot: Snapshot) -> PVector[StatusRow]:
    """Config weights in cog.yaml order, then orphans in lockfile order.

    Drift (Cog's check, orphans included even with no weights declared) decides
    pending / stale / orphaned; the store decides ready / missing-files.
    """
    entries = {e.name: e for e in (snapshot.lock.weights if snapshot.lock else [])}
    drift = check_drift(snapshot.lock, snapshot.config.weights)
    by_name = {r.name: r for r in drift if r.kind is not DriftKind.ORPHANED}
    rows = []
    for spec in snapshot.config.weights:
        found = by_name.get(spec.name)
        if found is not None and found.kind is DriftKind.PENDING:
            rows.append(StatusRow(spec.name, spec.target, WeightStatus.PENDING))
        elif found is not None:
            rows.append(
                StatusRow(
                    spec.name,
                    spec.target,
                    WeightStatus.STALE,
                    entries[spec.name],
                    details=found.details,
                )
            )
        else:
            rows.append(_cache_row(spec, entries[spec.name], snapshot.present))
    rows += [
        StatusRow(r.name, r.target, WeightStatus.ORPHANED, entries[r.name])
        for r in drift
        if r.kind is DriftKind.ORPHANED
    ]
    return pvector(rows)


def all_ready(rows: PVector[StatusRow]) -> bool:
    return all(r.status is WeightStatus.READY for r in rows)
