"""Drift between cog.yaml's weights and weights.lock (Cog's ``lockfile.CheckDrift``).

Compares normalised config intent (``WeightSpec``) with what the lockfile
records, exactly and field by field, and formats the user-facing error. It does
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

from cogw.core.config import DEFAULT_CONFIG, WeightSpec, spec_from_entry
from cogw.core.digest import go_quote
from cogw.core.lockfile import FILENAME, Lockfile, Shape
from cogw.core.multisource import spec_changes


class DriftKind(str, Enum):  # noqa: UP042 -- the shape others code against
    PENDING = "pending"  # in the config, not in the lockfile
    ORPHANED = "orphaned"  # in the lockfile, no longer in the config
    CONFIG_CHANGED = "config-changed"  # in both, with different intent


@dataclass(frozen=True, slots=True)
class DriftResult:
    """One weight out of sync. ``details`` is Cog's change text (config-changed only);
    ``target`` is where the weight is mounted: the config's, or the lock's for orphans."""

    name: str
    kind: DriftKind
    details: str = ""
    target: str = ""


def check_drift(lock: Lockfile | None, specs: Sequence[WeightSpec]) -> PVector[DriftResult]:
    """Pending and config-changed weights in config order, then orphans in lock order.

    ``specs`` must already be normalised (``cogw.core.config``); a missing
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
        details = change_details(recorded, spec, current=current)
        if details:
            results.append(DriftResult(spec.name, DriftKind.CONFIG_CHANGED, details, spec.target))
    configured = {s.name for s in specs}
    results.extend(
        DriftResult(e.name, DriftKind.ORPHANED, "", e.target)
        for e in entries
        if e.name not in configured
    )
    return pvector(results)


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


_LINE = {
    DriftKind.PENDING: "not imported yet",
    DriftKind.ORPHANED: "removed from {config} but still in lockfile",
    DriftKind.CONFIG_CHANGED: "config changed ({details})",
}


def format_drift_error(
    results: Sequence[DriftResult],
    config_name: str = DEFAULT_CONFIG,
    command: str = "cogw import",
) -> str:
    """Cog's message, naming the real config file and our command; no trailing newline.

    >>> print(format_drift_error([DriftResult("x", DriftKind.PENDING)]))
    weights.lock is out of sync with cog.yaml:
      - "x": not imported yet
    Run 'cogw import' to update.
    """
    lines = [f"{FILENAME} is out of sync with {config_name}:"]
    for result in results:
        text = _LINE[result.kind].format(config=config_name, details=result.details)
        lines.append(f"  - {go_quote(result.name)}: {text}")
    lines.append(f"Run '{command}' to update.")
    return "\n".join(lines)
