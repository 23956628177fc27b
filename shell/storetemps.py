"""The store's temp files: whose they are, and reclaiming those nobody owns.

cogw names a temp file ``put-<pid>-<random>`` beside the blob it will become. A kill -9
or a power cut leaves it behind; the next command that opens the store removes the
ones whose process is gone, and any ``put-*`` older than :data:`STALE_TEMP_AGE`
(Cog's temp names carry no pid, and a pid can be reused). A live writer's temp file
is never touched, so concurrent pulls stay safe.
"""

from __future__ import annotations

import os
from pathlib import Path

TEMP_PREFIX = "put-"
#: A temp file this old belongs to nobody, whatever its name says.
STALE_TEMP_AGE = 24 * 3600.0


def own_temp_prefix() -> str:
    return f"{TEMP_PREFIX}{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _temp_is_orphaned(name: str, age: float) -> bool:
    """A temp file no live process owns: its pid is gone, or it is older than a day."""
    if age > STALE_TEMP_AGE:
        return True
    owner, dash, _ = name[len(TEMP_PREFIX) :].partition("-")
    return bool(dash) and owner.isdigit() and not _pid_alive(int(owner))


def reclaim_temp_files(files_dir: Path, now: float) -> list[Path]:
    """Remove the orphaned ``put-*`` files under ``files_dir``; the paths removed."""
    removed: list[Path] = []
    try:
        prefixes = os.listdir(files_dir)
    except OSError:
        return removed
    for prefix in prefixes:
        try:
            entries = list(os.scandir(files_dir / prefix))
        except OSError:
            continue
        for entry in entries:
            if not entry.name.startswith(TEMP_PREFIX):
                continue
            try:
                age = now - entry.stat(follow_symlinks=False).st_mtime
                if _temp_is_orphaned(entry.name, age):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
            except OSError:
                continue  # gone meanwhile, or not ours to remove
    return removed
