"""How a weight's source differs from what weights.lock recorded: files changed, added, removed.

One pure comparison shared by ``cogw status --sources``, ``cogw plan import`` and
``cogw check``, so all three name the same files with the same words. Digests are
shown short (``1a2b3c4d…``); an empty digest is a file whose new content was not
fetched (a remote source that only told its new version), shown as ``?``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pyrsistent import PVector, pvector

# One-line summaries name this many files, then count the rest.
FEW = 2
SHORT_HEX = 8


class FileLike(Protocol):
    """A locked file (LockFile) or a source's file (InventoryFile)."""

    @property
    def path(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def digest(self) -> str: ...


@dataclass(frozen=True, slots=True)
class FileChange:
    """One path whose content moved: ``old`` is the locked digest ('' when added),
    ``new`` the source's ('' when removed, or when the new content is unknown)."""

    path: str
    old: str = ""
    new: str = ""


@dataclass(frozen=True, slots=True)
class SourceDiff:
    changed: PVector[FileChange] = field(default_factory=pvector)
    added: PVector[FileChange] = field(default_factory=pvector)
    removed: PVector[FileChange] = field(default_factory=pvector)

    @property
    def is_empty(self) -> bool:
        return not (self.changed or self.added or self.removed)

    @property
    def paths(self) -> list[str]:
        """Every path in the diff: changed, then added, then removed."""
        return [c.path for c in (*self.changed, *self.added, *self.removed)]


EMPTY = SourceDiff()


def diff_files(locked: Iterable[FileLike], current: Iterable[FileLike]) -> SourceDiff:
    """``current`` against ``locked``, each group in path order.

    A file is changed when its digest or size differs.

    >>> from cogw.core.artifact.inventory import InventoryFile as F
    >>> d = diff_files([F("a", 1, "sha256:aa"), F("b", 1, "sha256:bb")],
    ...                [F("a", 2, "sha256:cc"), F("c", 1, "sha256:dd")])
    >>> d.paths
    ['a', 'c', 'b']
    """
    old = {f.path: f for f in locked}
    new = {f.path: f for f in current}
    changed = [
        FileChange(p, old[p].digest, f.digest)
        for p, f in sorted(new.items())
        if p in old and (old[p].digest, old[p].size) != (f.digest, f.size)
    ]
    added = [FileChange(p, "", f.digest) for p, f in sorted(new.items()) if p not in old]
    removed = [FileChange(p, f.digest, "") for p, f in sorted(old.items()) if p not in new]
    return SourceDiff(pvector(changed), pvector(added), pvector(removed))


def unknown_content(locked: Iterable[FileLike]) -> SourceDiff:
    """Every locked file marked changed to an unknown digest: the source told only that
    its version moved (an http(s) file whose ETag changed), not what it now holds."""
    return SourceDiff(changed=pvector(FileChange(f.path, f.digest, "") for f in locked))


def first_few(paths: Sequence[str], few: int = FEW) -> str:
    """``a, b (+3 more)``: the first ``few`` paths, then how many are left.

    >>> first_few(["config.json", "model.safetensors", "a", "b", "c"])
    'config.json, model.safetensors (+3 more)'
    >>> first_few(["config.json"])
    'config.json'
    """
    shown = ", ".join(paths[:few])
    rest = len(paths) - few
    return f"{shown} (+{rest} more)" if rest > 0 else shown


def diff_summary(diff: SourceDiff, few: int = FEW) -> str:
    """``changed: a, b (+3 more); added: c; removed: d`` (empty groups left out).

    >>> diff_summary(SourceDiff(added=pvector([FileChange("x.bin", "", "sha256:ab")])))
    'added: x.bin'
    """
    groups = (("changed", diff.changed), ("added", diff.added), ("removed", diff.removed))
    return "; ".join(
        f"{word}: {first_few([c.path for c in group], few)}" for word, group in groups if group
    )


def short_hex(digest: str) -> str:
    """``1a2b3c4d…`` for ``sha256:1a2b3c4d…``; ``?`` for an unknown digest.

    >>> short_hex("sha256:" + "1a2b3c4d" * 8)
    '1a2b3c4d…'
    >>> short_hex("")
    '?'
    """
    hexpart = digest.partition(":")[2] or digest
    return hexpart[:SHORT_HEX] + "…" if hexpart else "?"


def change_line(change: FileChange, marker: str) -> str:
    """``~ model.safetensors 1a2b3c4d… → 5e6f7a8b…``, ``+ new.bin 5e6f…``, ``- old.txt 1a2b…``."""
    if marker == "+":
        return f"+ {change.path} {short_hex(change.new)}"
    if marker == "-":
        return f"- {change.path} {short_hex(change.old)}"
    return f"~ {change.path} {short_hex(change.old)} → {short_hex(change.new)}"


def change_lines(diff: SourceDiff, limit: int | None = None) -> list[str]:
    """One line per file (changed, added, removed); with ``limit``, the first ``limit``
    lines and then ``(+N more)``."""
    lines = [change_line(c, "~") for c in diff.changed]
    lines += [change_line(c, "+") for c in diff.added]
    lines += [change_line(c, "-") for c in diff.removed]
    if limit is not None and len(lines) > limit:
        return [*lines[:limit], f"(+{len(lines) - limit} more)"]
    return lines


def diff_json(diff: SourceDiff, shorten: bool = True) -> dict[str, Any]:
    """Full lists; digests short (``1a2b3c4d…``) or, for a saved plan, whole. ``None``
    where there is no digest (added: no old one; removed: no new one; unknown content)."""

    def shown(digest: str) -> str | None:
        return (short_hex(digest) if shorten else digest) if digest else None

    return {
        "changed": [
            {"path": c.path, "old": shown(c.old), "new": shown(c.new)} for c in diff.changed
        ],
        "added": [{"path": c.path, "new": shown(c.new)} for c in diff.added],
        "removed": [{"path": c.path, "old": shown(c.old)} for c in diff.removed],
    }


def diff_from_json(value: Any) -> SourceDiff:
    """The inverse of ``diff_json(diff, shorten=False)``, for a saved plan."""

    def change(d: Any) -> FileChange:
        return FileChange(str(d["path"]), str(d.get("old") or ""), str(d.get("new") or ""))

    if not value:
        return EMPTY
    return SourceDiff(
        pvector(change(d) for d in value.get("changed", [])),
        pvector(change(d) for d in value.get("added", [])),
        pvector(change(d) for d in value.get("removed", [])),
    )
