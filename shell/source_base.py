"""What every weight source shares: its error type, progress callback, problem list and order.

Knows nothing about any one scheme; :mod:`cogw.shell.sources` is the entry point.
"""

from __future__ import annotations

from collections.abc import Callable

from pyrsistent import pvector

from cogw.core.artifact.inventory import Inventory, InventoryFile

OnBytes = Callable[[int], None]


class SourceError(Exception):
    """A weight source cannot be read; the message says why and what to do."""


def problem_list(subject: str, problems: list[str], limit: int = 20) -> str:
    """Every problem on its own line, capped so a broken tree cannot flood the terminal."""
    shown = [f"  {p}" for p in problems[:limit]]
    if len(problems) > limit:
        shown.append(f"  ... and {len(problems) - limit} more")
    return f"{subject} cannot be imported:\n" + "\n".join(shown)


def sorted_inventory(files: list[InventoryFile], fingerprint: str) -> Inventory:
    """The inventory of ``files`` sorted byte-wise by path, as Go sorts strings."""
    ordered = sorted(files, key=lambda f: f.path.encode("utf-8"))
    return Inventory(pvector(ordered), fingerprint)
