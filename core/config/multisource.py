"""Weights with several sources, as current Cog has them (``pkg/model/weight_builder.go``,
``weight_import_plan.go``, ``pkg/weights/lockfile/drift.go``).

Each source is inventoried and filtered on its own; the filtered files are
then merged by path in declaration order, so a later source overrides an
earlier one for a path both provide (like CSS layers). Fingerprints are kept
per source and compared source by source; change strings carry a
``source[i].`` prefix when there is more than one source, and a different
number of sources is reported as ``source count: a → b`` instead.

Self-contained and pure: the importer can call :func:`merge_sources` on the
filtered inventories of one weight, and the planner the change functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyrsistent import PVector, pvector

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.config.weights import SourceSpec
from cogw.core.digest import go_quote


@dataclass(frozen=True, slots=True)
class Override:
    """``path`` from source ``winner`` replaces the one source ``loser`` provided."""

    path: str
    winner: int
    loser: int


@dataclass(frozen=True, slots=True)
class SourceCounts:
    """What one source contributes: ``added`` files it is the first to provide,
    ``overridden`` files of earlier sources it replaces, ``lost`` files of its
    own that a later source replaces. ``kept`` is how many of its files remain."""

    added: int = 0
    overridden: int = 0
    lost: int = 0

    @property
    def kept(self) -> int:
        return self.added + self.overridden - self.lost


@dataclass(frozen=True, slots=True)
class Merged:
    """The merged files (sorted by path), the source index that owns each path,
    every override in the order it happened, and per-source counts."""

    files: PVector[InventoryFile]
    owners: tuple[int, ...]  # owners[k] is the source index of files[k]
    overrides: PVector[Override]
    counts: tuple[SourceCounts, ...]

    def unique_digests(self) -> list[str]:
        """Each content digest once, in path order: what ingest must store."""
        return list(dict.fromkeys(f.digest for f in self.files))


def merge_sources(per_source: Sequence[Sequence[InventoryFile]]) -> Merged:
    """Merge the filtered files of each source by path; the last declared source wins."""
    winners: dict[str, tuple[int, InventoryFile]] = {}
    overrides: list[Override] = []
    added = [0] * len(per_source)
    overridden = [0] * len(per_source)
    lost = [0] * len(per_source)
    for index, files in enumerate(per_source):
        for f in files:
            earlier = winners.get(f.path)
            if earlier is None:
                added[index] += 1
            else:
                overrides.append(Override(f.path, index, earlier[0]))
                overridden[index] += 1
                lost[earlier[0]] += 1
            winners[f.path] = (index, f)
    paths = sorted(winners, key=lambda p: p.encode("utf-8", "surrogatepass"))
    return Merged(
        files=pvector(winners[p][1] for p in paths),
        owners=tuple(winners[p][0] for p in paths),
        overrides=pvector(overrides),
        counts=tuple(
            SourceCounts(a, o, x) for a, o, x in zip(added, overridden, lost, strict=True)
        ),
    )


def override_lines(weight: str, sources: Sequence[SourceSpec], merged: Merged) -> list[str]:
    """Cog's info lines, one per override: ``weight "w": source[1] (uri) overrides path``."""
    head = f"weight {go_quote(weight)}: source"
    return [
        f"{head}[{o.winner}] ({sources[o.winner].uri}) overrides {o.path}" for o in merged.overrides
    ]


def count_lines(sources: Sequence[SourceSpec], merged: Merged) -> list[str]:
    """Per source: how many files it adds, overrides and loses (only for several sources)."""
    if len(sources) < 2:
        return []
    return [
        f"source[{i}] ({s.uri}): {c.added} added, {c.overridden} overriding, "
        f"{c.lost} overridden by later sources"
        for i, (s, c) in enumerate(zip(sources, merged.counts, strict=True))
    ]


def sources_label(uris: Sequence[str]) -> str:
    """The first URI, with Cog's ``(+N more)`` when there are several (weights_status.go).

    >>> sources_label(["file://./a"]), sources_label(["file://./a", "hf://o/r", "file://./b"])
    ('file://./a', 'file://./a (+2 more)')
    """
    first = uris[0] if uris else ""
    return f"{first} (+{len(uris) - 1} more)" if len(uris) > 1 else first


# --------------------------------------------------------------- change strings


def _go_list(items: Sequence[str]) -> str:
    """Go's ``%v`` of a string slice: ``[a b]``, nil and empty alike as ``[]``."""
    return "[" + " ".join(items) + "]"


def source_changes(
    locked: Sequence[SourceSpec], wanted: Sequence[SourceSpec], *, quote: bool
) -> list[str]:
    """The source part of Cog's change text, lock value first.

    ``quote`` selects the import plan's form (``%q`` URIs, weight_import_plan.go)
    over drift's bare one (drift.go); both prefix ``source[i].`` among several.
    """
    if len(locked) != len(wanted):
        return [f"source count: {len(locked)} → {len(wanted)}"]
    show = go_quote if quote else str
    changes = []
    for i, (old, new) in enumerate(zip(locked, wanted, strict=True)):
        prefix = f"source[{i}]." if len(wanted) > 1 else ""
        if old.uri != new.uri:
            changes.append(f"{prefix}uri: {show(old.uri)} → {show(new.uri)}")
        if list(old.include) != list(new.include):
            changes.append(f"{prefix}include: {_go_list(old.include)} → {_go_list(new.include)}")
        if list(old.exclude) != list(new.exclude):
            changes.append(f"{prefix}exclude: {_go_list(old.exclude)} → {_go_list(new.exclude)}")
    return changes


def spec_changes(
    locked_target: str,
    locked: Sequence[SourceSpec],
    wanted_target: str,
    wanted: Sequence[SourceSpec],
    *,
    quote: bool,
) -> list[str]:
    """Current Cog's config-change list: the target first, then the sources."""
    show = go_quote if quote else str
    changes = []
    if locked_target != wanted_target:
        changes.append(f"target: {show(locked_target)} → {show(wanted_target)}")
    return changes + source_changes(locked, wanted, quote=quote)


def fingerprint_changes(locked: Sequence[str], current: Sequence[str]) -> list[str]:
    """Cog's upstream-change list: ``source[i] fingerprint: a → b`` (prefix among
    several), then ``source count`` when the numbers differ."""
    changes = []
    for i, (old, new) in enumerate(zip(locked, current, strict=False)):
        if old != new:
            prefix = f"source[{i}] " if len(locked) > 1 else ""
            changes.append(f"{prefix}fingerprint: {old} → {new}")
    if len(locked) != len(current):
        changes.append(f"source count: {len(locked)} → {len(current)}")
    return changes
