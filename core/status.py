"""Per-weight status from cog.yaml, weights.lock and the local store.

Cog's status asks only the registry and cannot tell "imported" from "usable
here"; cogw's answers the local question a user has before `cogw prepare`:

  ready          cog.yaml and weights.lock agree and every file is in the store
  missing-files  they agree but the store lacks files    → cogw pull
  stale          cog.yaml changed since the import        → cogw import
  pending        declared in cog.yaml, never imported     → cogw import
  orphaned       in weights.lock, gone from cog.yaml      → cogw apply prune
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pyrsistent import PVector, pvector

from cogw.core.config import WeightSpec, spec_from_entry, specs_equal
from cogw.core.lockfile import WeightEntry
from cogw.core.plan import config_changes
from cogw.core.snapshot import Snapshot


class WeightStatus(StrEnum):
    READY = "ready"
    MISSING_FILES = "missing-files"
    STALE = "stale"
    PENDING = "pending"
    ORPHANED = "orphaned"


NEXT_COMMAND = {
    WeightStatus.READY: "",
    WeightStatus.MISSING_FILES: "cogw pull",
    WeightStatus.STALE: "cogw import",
    WeightStatus.PENDING: "cogw import",
    WeightStatus.ORPHANED: "cogw apply prune",
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


def _row_for_spec(
    spec: WeightSpec, entry: WeightEntry | None, present: frozenset[str]
) -> StatusRow:
    if entry is None:
        return StatusRow(spec.name, spec.target, WeightStatus.PENDING)
    if not specs_equal(spec, spec_from_entry(entry)):
        details = "; ".join(config_changes(spec, entry))
        return StatusRow(spec.name, spec.target, WeightStatus.STALE, entry, details=details)
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
    """Config weights in cog.yaml order, then orphans in lockfile order."""
    entries = list(snapshot.lock.weights) if snapshot.lock else []
    by_name = {e.name: e for e in entries}
    declared = {s.name for s in snapshot.config.weights}
    rows = [
        _row_for_spec(s, by_name.get(s.name), snapshot.present) for s in snapshot.config.weights
    ]
    rows += [
        StatusRow(e.name, e.target, WeightStatus.ORPHANED, e)
        for e in entries
        if e.name not in declared
    ]
    return pvector(rows)


def all_ready(rows: PVector[StatusRow]) -> bool:
    return all(r.status is WeightStatus.READY for r in rows)
