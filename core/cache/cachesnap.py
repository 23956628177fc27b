"""What the cache looks like at one moment: the facts gc, ls, verify and release plan from.

The shell gathers these values (store inventory with link counts, sizes, times
and modes; the known projects with their weights.lock files and mounts); every
decision about them is a pure function in ``core/cache/gc.py``, ``core/cache/cachelist.py``
and ``core/cache/verify.py``. Nothing here touches the disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from cogw.core.lock.lockfile import LockFile

#: A blob's mode when it is sealed (read-only for everyone).
BLOB_MODE = 0o444


@dataclass(frozen=True, slots=True)
class Blob:
    """One store blob. ``used_ns`` is the later of its mtime and ctime: when it was
    stored, linked into a mount or unlinked from one (a link changes the ctime)."""

    digest: str
    size: int
    links: int
    mode: int
    used_ns: int


@dataclass(frozen=True, slots=True)
class TempFile:
    """A leftover ``put-*`` file of an interrupted write, or a ``part-*`` partial download
    kept for resuming (never trusted as a blob)."""

    path: str
    size: int
    modified_ns: int


@dataclass(frozen=True, slots=True)
class MountFile:
    """A file in a mount. ``blob`` is the digest of the store blob it is hardlinked
    to (same inode), "" when it links to none (a copy, a reflink, or a replaced blob)."""

    path: str
    size: int
    blob: str


@dataclass(frozen=True, slots=True)
class MountWeight:
    name: str
    files: tuple[MountFile, ...]


@dataclass(frozen=True, slots=True)
class Mount:
    """One invocation directory ``<project>/.cog/mounts/<id>``."""

    id: str
    path: str
    weights: tuple[MountWeight, ...]

    def linked_blobs(self) -> Iterator[str]:
        for weight in self.weights:
            yield from (f.blob for f in weight.files if f.blob)


class ProjectState(Enum):
    OK = "ok"
    MISSING = "missing"  # the directory is gone
    NO_LOCK = "no-weights-lock"  # the directory exists but has no weights.lock
    BAD_LOCK = "invalid-weights-lock"  # weights.lock cannot be parsed: its roots are unknown


@dataclass(frozen=True, slots=True)
class WeightFiles:
    name: str
    files: tuple[LockFile, ...]


@dataclass(frozen=True, slots=True)
class ProjectRoots:
    """A project the cache knows (or one named with ``--project``)."""

    dir: str
    state: ProjectState
    lock_digest: str  # sha256 of the weights.lock bytes; "" when there are none
    weights: tuple[WeightFiles, ...] = ()
    mounts: tuple[Mount, ...] = ()
    indexed: bool = True  # False: named on the command line only

    @property
    def is_live(self) -> bool:
        return self.state is ProjectState.OK

    @property
    def is_gone(self) -> bool:
        return self.state in (ProjectState.MISSING, ProjectState.NO_LOCK)

    def weight(self, name: str) -> WeightFiles | None:
        return next((w for w in self.weights if w.name == name), None)


@dataclass(frozen=True, slots=True)
class CacheSnapshot:
    blobs: tuple[Blob, ...]
    temps: tuple[TempFile, ...]
    projects: tuple[ProjectRoots, ...]
    now_ns: int

    def blob(self, digest: str) -> Blob | None:
        return next((b for b in self.blobs if b.digest == digest), None)
