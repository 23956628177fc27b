"""Whether a .gitignore already keeps `.cog/` (mounts, locks) out of git, and the text
with the entry added."""

from __future__ import annotations

ENTRY = ".cog/"
_SAME = {".cog", ".cog/", "/.cog", "/.cog/", ".cog/*", "/.cog/*", ".cog/**", "/.cog/**"}


def ignores_cog(text: str) -> bool:
    """True when a line ignores the project's .cog directory as a whole; a later
    ``!.cog`` line un-ignores it again.

    >>> ignores_cog("*.pyc\\n/.cog/\\n"), ignores_cog(".cogrc\\n"), ignores_cog(".cog\\n!.cog\\n")
    (True, False, False)
    """
    ignored = False
    for raw in text.splitlines():
        line = raw.strip()
        if line in _SAME:
            ignored = True
        elif line.startswith("!") and line[1:] in _SAME:
            ignored = False
    return ignored


def with_cog_entry(text: str) -> str:
    """The text with the entry on a line of its own at the end.

    >>> with_cog_entry("*.pyc")
    '*.pyc\\n.cog/\\n'
    """
    separator = "\n" if text and not text.endswith("\n") else ""
    return f"{text}{separator}{ENTRY}\n"
