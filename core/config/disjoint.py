"""Weight targets that must not nest: a set that finds the first overlap in O(depth).

Cog rejects a weight whose target lies inside, or encloses, an earlier weight's
target and names the earliest such target in its message. Comparing every pair
is quadratic (a cog.yaml of 1 000 weights took seconds); this index answers the
same question from each target's ancestors and from the earliest target below
each directory, so checking ``n`` targets costs ``n`` times their depth.
Targets are cleaned absolute paths other than ``/`` (the caller rejects the rest).
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _ancestors(clean: str) -> list[str]:
    """The strict ancestor directories of a cleaned absolute path, except ``/``."""
    return [clean[:i] for i in range(1, len(clean)) if clean[i] == "/"]


@dataclass(slots=True)
class DisjointTargets:
    """Targets in the order they were added, with what nests below each directory."""

    _order: dict[str, int] = field(default_factory=dict)  # target -> when it was added
    _below: dict[str, int] = field(default_factory=dict)  # dir -> earliest target inside it
    _targets: list[str] = field(default_factory=list)

    def __contains__(self, clean: object) -> bool:
        return clean in self._order

    def add(self, clean: str) -> None:
        """Record ``clean`` (a second add of the same target is ignored)."""
        if clean in self._order:
            return
        position = len(self._targets)
        self._order[clean] = position
        self._targets.append(clean)
        for ancestor in _ancestors(clean):
            self._below.setdefault(ancestor, position)

    def first_overlap(self, clean: str) -> str | None:
        """The earliest added target that encloses ``clean`` or lies inside it, if any."""
        positions = [self._order[a] for a in _ancestors(clean) if a in self._order]
        inside = self._below.get(clean)
        if inside is not None:
            positions.append(inside)
        return self._targets[min(positions)] if positions else None
