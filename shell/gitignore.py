"""`prepare` keeps `.cog/` out of git: in a git repository whose .gitignore lacks it,
the entry is added (and said so)."""

from __future__ import annotations

from pathlib import Path

from cogw.core.gitignore import ENTRY, ignores_cog, with_cog_entry


def in_git_repository(directory: Path) -> bool:
    return any((d / ".git").exists() for d in (directory, *directory.parents))


def ensure_cog_ignored(project_dir: Path) -> str | None:
    """Add ``.cog/`` to the project's .gitignore when needed; the line saying so, or None."""
    from cogw.shell.fs import atomic_write

    if not in_git_repository(project_dir):
        return None
    path = project_dir / ".gitignore"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError):
        return None  # an unreadable .gitignore is the user's; never rewrite it blind
    if ignores_cog(text):
        return None
    try:
        atomic_write(path, with_cog_entry(text).encode())
    except OSError:
        return None
    return f"Added {ENTRY} to .gitignore (mount directories stay out of git)."
