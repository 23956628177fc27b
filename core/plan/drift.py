"""Drift between cog.yaml's weights and weights.lock (Cog's ``lockfile.CheckDrift``).

Compares normalised config intent (``WeightSpec``) with what the lockfile
records, exactly and field by field, and words the change as Cog does. It does
not read either file and does not decide what to do about drift: callers turn
results into plan steps or a refusal.

The details text follows the Cog that reads the lockfile: v0.19.3's order
(uri, target, include, exclude) for a ``"source"`` lockfile of one-source
weights, current Cog's otherwise (target first, then ``source count: a → b``
or each source's changes, prefixed ``source[i].`` among several).

Unlike Cog's ``weights.CheckDrift`` wrapper, nothing here skips the comparison
when the config declares no weights, so removing every weight from cog.yaml
still reports the lockfile's entries as orphaned (runtime spec §15.1 #4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from pyrsistent import PVector, pvector

from cogw.core.config.multisource import spec_changes
from cogw.core.config.weights import WeightSpec, spec_from_entry
from cogw.core.lock.lockfile import Lockfile, Shape


class DriftKind(str, Enum):  # noqa: UP042 -- the shape others code against
    PENDING = "pending"  # in the config, not in the lockfile
    ORPHANED = "orphaned"  # in the lockfile, no longer in the config
    CONFIG_CHANGED = "config-changed"  # in both, with different intent


@dataclass(frozen=True, slots=True)
class DriftResult:
    """One weight out of sync. ``details`` is Cog's change text (config-changed only);
    ``target`` is where the weight is mounted: the config's, or the lock's for orphans;
    ``fields`` names the changed intent fields in Cog's order (uri, target, include,
    exclude), so callers word the change their own way without comparing again."""

    name: str
    kind: DriftKind
    details: str = ""
    target: str = ""
    fields: tuple[str, ...] = ()


def check_drift(lock: Lockfile | None, specs: Sequence[WeightSpec]) -> PVector[DriftResult]:
    """Pending and config-changed weights in config order, then orphans in lock order.

    ``specs`` must already be normalised (``cogw.core.config.weights``); a missing
    lockfile (None) makes every configured weight pending. Pure.
    """
    entries = list(lock.weights) if lock is not None else []
    current = lock is not None and lock.shape is Shape.SOURCES
    locked = {e.name: spec_from_entry(e) for e in entries}
    results: list[DriftResult] = []
    for spec in specs:
        recorded = locked.get(spec.name)
        if recorded is None:
            results.append(DriftResult(spec.name, DriftKind.PENDING, "", spec.target))
            continue
        fields = changed_fields(recorded, spec)
        if fields:
            details = change_details(recorded, spec, current=current)
            results.append(
                DriftResult(spec.name, DriftKind.CONFIG_CHANGED, details, spec.target, fields)
            )
    configured = {s.name for s in specs}
    results.extend(
        DriftResult(e.name, DriftKind.ORPHANED, "", e.target)
        for e in entries
        if e.name not in configured
    )
    return pvector(results)


def changed_fields(locked: WeightSpec, wanted: WeightSpec) -> tuple[str, ...]:
    """The intent fields that differ, in Cog's order; patterns compare positionally.
    ``sources`` closes the list when the second and later sources differ (current Cog's
    several sources; the first source is compared field by field like v0.19.3's one).

    >>> changed_fields(WeightSpec("w", "/w", "file://./a"), WeightSpec("w", "/v", "file://./b"))
    ('uri', 'target')
    """
    return tuple(
        name
        for name, differs in (
            ("uri", locked.uri != wanted.uri),
            ("target", locked.target != wanted.target),
            ("include", list(locked.include) != list(wanted.include)),
            ("exclude", list(locked.exclude) != list(wanted.exclude)),
            ("sources", list(locked.more_sources) != list(wanted.more_sources)),
        )
        if differs
    )


def change_details(locked: WeightSpec, wanted: WeightSpec, *, current: bool = False) -> str:
    """Cog's details text: ``uri: a → b; target: ...; include: [x] → [y]; exclude: ...``
    (v0.19.3), or current Cog's (``current``, or whenever either side has several sources).

    >>> change_details(WeightSpec("w", "/w", "file://./a"), WeightSpec("w", "/w", "file://./b"))
    'uri: file://./a → file://./b'
    """
    if current or len(locked.sources) > 1 or len(wanted.sources) > 1:
        changes = spec_changes(
            locked.target, locked.sources, wanted.target, wanted.sources, quote=False
        )
        return "; ".join(changes)
    parts = []
    if locked.uri != wanted.uri:
        parts.append(f"uri: {locked.uri} → {wanted.uri}")
    if locked.target != wanted.target:
        parts.append(f"target: {locked.target} → {wanted.target}")
    if list(locked.include) != list(wanted.include):
        parts.append(f"include: {_go_list(locked.include)} → {_go_list(wanted.include)}")
    if list(locked.exclude) != list(wanted.exclude):
        parts.append(f"exclude: {_go_list(locked.exclude)} → {_go_list(wanted.exclude)}")
    return "; ".join(parts)


def _go_list(items: Sequence[str]) -> str:
    """Go's ``%v`` of a string slice: ``[a b]``, nil and empty alike as ``[]``."""
    return "[" + " ".join(items) + "]"
