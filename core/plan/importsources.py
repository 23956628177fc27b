"""The files an import packs for one weight: each source filtered, then merged by path.

One source: its inventory through its filters, as Cog v0.19.3 does. Several (current
Cog, ``pkg/model/weight_builder.go`` ``resolveInventory``): each source is filtered on
its own (a source whose filters keep nothing fails the weight, naming the source), then
the kept files merge by path in declared order, the last source winning
(:func:`cogw.core.config.multisource.merge_sources`). The result keeps which source
owns each path, so ingest reads every file from the source that won it, and the
lines that say which source overrides which (shown with ``-v``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pyrsistent import PVector, pvector
from returns.pipeline import is_successful

from cogw.core.artifact.inventory import Inventory, InventoryFile
from cogw.core.config.filters import filter_inventory
from cogw.core.config.multisource import count_lines, merge_sources, override_lines
from cogw.core.config.weights import WeightSpec
from cogw.core.diagnostics import Diagnostic
from cogw.core.plan.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class Resolved:
    """``fingerprints`` of every source in order; ``files`` sorted by path; ``owners[k]``
    is the index of the source ``files[k]`` is read from (empty for one source);
    ``counts``: what each source adds, overrides and loses; ``overrides``: one line per
    path a later source took over, in Cog's words (both empty for one source)."""

    fingerprints: tuple[str, ...]
    files: PVector[InventoryFile]
    owners: PVector[int] = field(default_factory=pvector)
    counts: PVector[str] = field(default_factory=pvector)
    overrides: PVector[str] = field(default_factory=pvector)


def source_inventories(snapshot: Snapshot, spec: WeightSpec) -> list[Inventory]:
    """The gathered inventory of each of ``spec``'s sources, in declared order."""
    first = snapshot.inventories.get(spec.name)
    more = list(snapshot.more_inventories.get(spec.name, ()))
    if first is None or len(more) != len(spec.more_sources):
        raise AssertionError(f"snapshot lacks inventories for {spec.name}")  # gather bug
    return [first, *more]


def resolve_sources(
    spec: WeightSpec, inventories: list[Inventory], config_name: str
) -> Resolved | Diagnostic:
    """What the import of ``spec`` packs, or why its sources give nothing to pack."""
    several = len(spec.sources) > 1
    kept: list[PVector[InventoryFile]] = []
    for i, (source, inv) in enumerate(zip(spec.sources, inventories, strict=True)):
        filtered = filter_inventory(inv, source.include, source.exclude)
        if not is_successful(filtered):
            diag = filtered.failure()
            summary = f"source[{i}] ({source.uri}): {diag.summary}" if several else diag.summary
            return replace(diag, summary=summary, subject=f'{config_name}: weight "{spec.name}"')
        kept.append(pvector(filtered.unwrap().files))
    fingerprints = tuple(inv.fingerprint for inv in inventories)
    if not several:
        return Resolved(fingerprints, kept[0])
    merged = merge_sources(kept)
    return Resolved(
        fingerprints,
        merged.files,
        pvector(merged.owners),
        pvector(count_lines(spec.sources, merged)),
        pvector(override_lines(spec.name, spec.sources, merged)),
    )
