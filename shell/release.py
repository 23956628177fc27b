"""Release: remove a project's mount directories, but only ones cogw can identify.

A directory under ``.cog/mounts`` is removed when it carries cogw's marker, or when it
has the exact shape of a mount Cog made (``core/cache/mountshape.py``: directories and
hardlinks of store blobs, nothing else), which loses no byte. Anything else is left
alone and named. Release holds the project's mounts lock (``.cog/mounts.lock``)
exclusive from listing to the last removal, so it never runs beside a prepare building
a mount or another release removing the same one; each cogw mount's own lock is taken
too (a prepare that does not hold the project lock, an older cogw's, is waited for).
"""

from __future__ import annotations

import fcntl
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cogw.core.cache.mountshape import (
    EntryKind,
    MountEntry,
    MountIdentity,
    MountKind,
    identify_mount,
    unknown_mount_message,
)
from cogw.shell.cachescan import Inodes, scan_store
from cogw.shell.fs import project_lock, race_window, remove_tree
from cogw.shell.prepare import (
    MARKER,
    MOUNT_ID,
    MOUNTS_LOCK,
    UnsafePath,
    mounts_root,
    refuse_symlinks,
)


@dataclass
class Released:
    removed: list[str] = field(default_factory=list)
    #: (mount id, why it was left alone) for directories --all could not identify.
    left: list[tuple[str, str]] = field(default_factory=list)


def release(
    project_dir: Path,
    mount_id: str | None,
    weights_dir: Path | None = None,
    only: frozenset[str] | None = None,
) -> Released:
    """Remove one invocation directory (or all with None; ``only``: all of these ids).
    Store blobs are untouched: only their link counts drop. ``weights_dir``: the store
    whose blobs identify a mount Cog made (None: only cogw's marked mounts go)."""
    refuse_symlinks(project_dir)
    root = mounts_root(project_dir)
    if mount_id is not None and not MOUNT_ID.match(mount_id):
        raise ValueError(f"invalid mount id {mount_id!r}: expected 16 lowercase hex characters")
    if not root.is_dir():  # nothing to release; no lock file made either
        if mount_id is None:
            return Released()
        raise FileNotFoundError(f"no mount {mount_id} in {root}")
    with project_lock(project_dir, lock_file=MOUNTS_LOCK):
        return _release_locked(root, mount_id, _Store(weights_dir), only)


class _Store:
    """The store's blob inodes, scanned once and only if an unmarked directory is met."""

    def __init__(self, weights_dir: Path | None) -> None:
        self._dir = weights_dir
        self._inodes: Inodes | None = None

    def inodes(self) -> Inodes:
        if self._inodes is None:
            self._inodes = scan_store(self._dir)[2] if self._dir is not None else {}
        return self._inodes


def _release_locked(
    root: Path, mount_id: str | None, store: _Store, only: frozenset[str] | None
) -> Released:
    done = Released()
    if mount_id is not None:
        target = root / mount_id
        if not os.path.lexists(target):
            raise FileNotFoundError(f"no mount {mount_id} in {root}")
        identity = _identify(target, store)
        if not identity.removable:
            raise UnsafePath(unknown_mount_message(str(target), identity.reason))
        targets = [(target, identity)]
    else:
        names = sorted(n for n in os.listdir(root) if MOUNT_ID.match(n))
        chosen = [n for n in names if only is None or n in only]
        targets = [(root / n, _identify(root / n, store)) for n in chosen]
    for target, identity in targets:
        if not identity.removable:
            done.left.append((target.name, identity.reason))
            continue
        race_window()
        _remove(target, identity, store)
        done.removed.append(target.name)
    return done


def _identify(mount: Path, store: _Store) -> MountIdentity:
    try:
        if not stat.S_ISDIR(os.lstat(mount).st_mode):
            return identify_mount(False, (MountEntry(mount.name, EntryKind.OTHER),))
    except FileNotFoundError:
        return identify_mount(False, ())
    if _is_marked(mount):
        return identify_mount(True, ())
    return identify_mount(False, tuple(_entries(mount, store.inodes())))


def _entries(mount: Path, inodes: Inodes) -> list[MountEntry]:
    found = []
    for dirpath, dirs, files in os.walk(mount):
        for name in dirs + files:
            path = Path(dirpath) / name
            found.append(MountEntry(str(path.relative_to(mount)), *_kind(path, inodes)))
    return found


def _kind(path: Path, inodes: Inodes) -> tuple[EntryKind, bool]:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return EntryKind.OTHER, False
    if stat.S_ISDIR(info.st_mode):
        return EntryKind.DIR, False
    if stat.S_ISREG(info.st_mode):
        return EntryKind.FILE, (info.st_dev, info.st_ino) in inodes
    return EntryKind.OTHER, False


def _is_marked(mount: Path) -> bool:
    """A real directory (not a link) holding cogw's marker as a regular file, or the
    marker's temp name: a build killed before the rename (under the exclusive project
    lock no live prepare is building, so that build is abandoned)."""
    try:
        if not stat.S_ISDIR(os.lstat(mount).st_mode):
            return False
    except OSError:
        return False
    for name in (MARKER, MARKER + ".building"):
        try:
            if stat.S_ISREG(os.lstat(mount / name).st_mode):
                return True
        except OSError:
            continue
    return False


def _remove(mount: Path, identity: MountIdentity, store: _Store) -> None:
    if identity.kind is MountKind.COGW:
        _remove_marked(mount)
    else:
        _remove_blob_links(mount, store.inodes())


def _remove_marked(mount: Path) -> None:
    """Wait for a prepare still building ``mount``, then remove it."""
    try:
        fd = os.open(mount / MARKER, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        remove_tree(mount)  # removed by its failed prepare meanwhile
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        remove_tree(mount)
    finally:
        os.close(fd)


def _remove_blob_links(mount: Path, inodes: Inodes) -> None:
    """Remove a Cog mount entry by entry, re-checking each: only store-blob links are
    unlinked and only emptied directories removed, so whatever appeared in it since it
    was identified stays (and the rmdir above it fails, naming it)."""
    for dirpath, dirs, files in os.walk(mount, topdown=False):
        for name in files:
            path = Path(dirpath) / name
            race_window()
            if _kind(path, inodes) != (EntryKind.FILE, True):
                raise UnsafePath(unknown_mount_message(str(mount), f"{path} appeared in it"))
            path.unlink()
        for name in dirs:
            _rmdir(Path(dirpath) / name, mount)
    _rmdir(mount, mount)


def _rmdir(path: Path, mount: Path) -> None:
    try:
        if os.path.islink(path):
            raise UnsafePath(unknown_mount_message(str(mount), f"{path} is a symbolic link"))
        path.rmdir()
    except OSError as err:
        raise UnsafePath(unknown_mount_message(str(mount), f"cannot remove {path}: {err}")) from err


def store_for_release() -> Path | None:
    """The store Cog's mounts link into (COG_CACHE_DIR or its default); None if unknown."""
    from returns.result import Success

    from cogw.shell.gather import resolve_store_dir

    found = resolve_store_dir(None)
    return Path(found.unwrap()) if isinstance(found, Success) else None


def release_from_cli(mount_id: str | None, project: str | None, config: str | None) -> None:
    """``cogw release ID`` or, with ``mount_id`` None, ``cogw release --all``: say what was
    removed and what was left alone."""
    from cogw.core.diagnostics import Diagnostic
    from cogw.shell.gather import locate_project
    from cogw.shell.options import require_project
    from cogw.shell.output import echo_err, fail

    where = require_project(locate_project(project, config, Path.cwd()), project is not None)
    try:
        done = release(where.dir, mount_id, store_for_release())
    except (ValueError, FileNotFoundError) as exc:
        fail((Diagnostic(str(exc), hint="list them with: ls .cog/mounts"),))
    for left, reason in done.left:
        echo_err(f"left alone: {left} ({reason}; not made by cogw or Cog)")
    echo_err(f"Released {len(done.removed)} mount(s)." if done.removed else "No mounts to release.")
