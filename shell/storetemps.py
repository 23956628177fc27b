"""The store's temp files: whose they are, and reclaiming those nobody owns.

cogw names a temp file ``put-<pid>-<random>`` beside the blob it will become. A kill -9
or a power cut leaves it behind; the next command that opens the store removes the
ones whose process is gone, and any ``put-*`` older than :data:`STALE_TEMP_AGE`
(Cog's temp names carry no pid, and a pid can be reused). A live writer's temp file
is never touched, so concurrent pulls stay safe.

A large download's partial ``part-<hex>`` and its record ``part-<hex>.resume`` are kept
for the next pull to resume, unless a live process holds the partial's lock; they are
reclaimed once the blob exists, when one of the pair is missing, or after a day
(core/artifact/resume.py, ``reclaim_partial``).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from cogw.core.artifact.resume import PARTIAL_PREFIX, RECORD_SUFFIX, reclaim_partial

TEMP_PREFIX = "put-"
#: A temp file this old belongs to nobody, whatever its name says.
STALE_TEMP_AGE = 24 * 3600.0


_own_prefix = f"{TEMP_PREFIX}{os.getpid()}-"


def _new_pid() -> None:
    global _own_prefix
    _own_prefix = f"{TEMP_PREFIX}{os.getpid()}-"


# A forked child names its temps by its own pid. Kept rather than asked for per
# temp: a pull of 10 000 small files made as many getpid calls.
os.register_at_fork(after_in_child=_new_pid)


def own_temp_prefix() -> str:
    return _own_prefix


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
        partials = {e.name.split(".")[0] for e in entries if e.name.startswith(PARTIAL_PREFIX)}
        for base in partials:
            removed += _reclaim_partial(files_dir / prefix, base, now)
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


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _reclaim_partial(directory: Path, base: str, now: float) -> list[Path]:
    """Remove the partial ``base`` and its record when nobody may still resume it."""
    data, record = directory / base, directory / (base + RECORD_SUFFIX)
    names = [data, record, directory / (base + RECORD_SUFFIX + ".tmp")]
    times = [t for t in map(_mtime, names) if t is not None]
    try:
        fd: int | None = os.open(data, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        fd = None  # no data file: only a stray record is left
    if fd is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return []  # a live pull is writing it
    try:
        remove = reclaim_partial(
            locked=False,
            has_data=fd is not None,
            has_record=_mtime(record) is not None,
            blob_present=_mtime(directory / base[len(PARTIAL_PREFIX) :]) is not None,
            age=now - max(times, default=now),
        )
        if not remove:
            return []
        return [name for name in names if _unlink(name)]
    finally:
        if fd is not None:
            os.close(fd)


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except OSError:
        return False
    return True
