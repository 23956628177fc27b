"""Disk space: which weights fit before a pull starts, and what to say when the disk is full.

A pull that will not fit is refused before its first byte (downloading 30 GB to fail
at 99 % helps nobody); one that runs out of space anyway (something else filled the disk)
gets the same message. Free space is what the filesystem gives an unprivileged writer
(``f_bavail``); a filesystem that reports no size at all (some FUSE and network ones) is
not judged, because refusing every pull there would be worse than a late error.

>>> sorted(fitting([("a", 3), ("b", 5), ("c", 1)], has=5, known=True))
['a', 'c']
>>> no_space("/cache", 5 << 20, 1 << 20).summary
'no space left on /cache (needs 5.0MB, has 1.0MB)'
"""

from __future__ import annotations

from collections.abc import Iterable

from cogw.core.diagnostics import Diagnostic
from cogw.core.plan.statusview import format_size

#: strerror(ENOSPC) as Linux and macOS word it: how a full disk shows in an error's text.
NO_SPACE_TEXT = "No space left on device"

HINT = (
    "free space with 'cogw gc', or point the cache at a larger disk "
    "(--cache-dir DIR or COG_CACHE_DIR=DIR)"
)


def fitting(needs: Iterable[tuple[str, int]], has: int, known: bool) -> frozenset[str]:
    """The weights that fit, admitted in plan order while their bytes fit in ``has``;
    all of them when the filesystem's size is not ``known``."""
    wanted = list(needs)
    if not known:
        return frozenset(name for name, _ in wanted)
    admitted: set[str] = set()
    left = has
    for name, size in wanted:
        if size <= left:
            admitted.add(name)
            left -= size
    return frozenset(admitted)


def no_space(where: str, needs: int, has: int, subject: str = "") -> Diagnostic:
    return Diagnostic(
        f"no space left on {where} (needs {format_size(needs)}, has {format_size(has)})",
        subject=subject,
        hint=HINT,
    )


def mentions_no_space(text: str) -> bool:
    """An error text that comes from a full disk (the raw ``[Errno 28]`` wording)."""
    return NO_SPACE_TEXT in text
