"""Gather a CacheSnapshot: the store's inventory, the known projects, their mounts.

Read-only. Each blob is lstat-ed once (size, link count, mode, times, inode);
mount files are matched to blobs by inode, so a hardlinked mount file is known
to hold exactly that blob without reading a byte.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from returns.result import Success

from cogw.core.artifact.resume import PARTIAL_PREFIX
from cogw.core.cache.cachesnap import (
    Blob,
    CacheSnapshot,
    Mount,
    MountFile,
    MountWeight,
    ProjectRoots,
    ProjectState,
    TempFile,
    WeightFiles,
)
from cogw.core.lock.lockfile import FILENAME as LOCK_FILENAME
from cogw.core.lock.lockfile import parse_lockfile
from cogw.shell.prepare import MOUNT_ID, mounts_root
from cogw.shell.store import TEMP_PREFIX

Inodes = dict[tuple[int, int], str]

_HEX = frozenset("0123456789abcdef")


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as it:
            return sorted(it, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []


def scan_store(weights_dir: Path) -> tuple[list[Blob], list[TempFile], Inodes]:
    blobs: list[Blob] = []
    temps: list[TempFile] = []
    inodes: Inodes = {}
    for prefix in _entries(weights_dir / "files" / "sha256"):
        for entry in _entries(Path(prefix.path)):
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            # Partial downloads kept for resuming are temp files to gc (after its safe age).
            if entry.name.startswith((TEMP_PREFIX, PARTIAL_PREFIX)):
                temps.append(TempFile(entry.path, info.st_size, info.st_mtime_ns))
            elif (
                len(entry.name) == 64
                and set(entry.name) <= _HEX
                and entry.name.startswith(prefix.name)
            ):
                digest = "sha256:" + entry.name
                used = max(info.st_mtime_ns, info.st_ctime_ns)
                blobs.append(Blob(digest, info.st_size, info.st_nlink, info.st_mode, used))
                inodes[(info.st_dev, info.st_ino)] = digest
    return blobs, temps, inodes


def _mount_files(root: Path, inodes: Inodes) -> Iterator[MountFile]:
    for dirpath, _dirs, names in os.walk(root):
        for name in sorted(names):
            path = Path(dirpath) / name
            try:
                info = path.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISREG(info.st_mode):
                blob = inodes.get((info.st_dev, info.st_ino), "")
                yield MountFile(str(path.relative_to(root)), info.st_size, blob)


def scan_mounts(project_dir: Path, inodes: Inodes) -> tuple[Mount, ...]:
    mounts = []
    for entry in _entries(mounts_root(project_dir)):
        if not (MOUNT_ID.match(entry.name) and entry.is_dir(follow_symlinks=False)):
            continue
        weights = tuple(
            MountWeight(w.name, tuple(_mount_files(Path(w.path), inodes)))
            for w in _entries(Path(entry.path))
            if w.is_dir(follow_symlinks=False)
        )
        mounts.append(Mount(entry.name, entry.path, weights))
    return tuple(mounts)


def scan_project(project_dir: Path, inodes: Inodes, indexed: bool = True) -> ProjectRoots:
    name = str(project_dir)
    if not project_dir.is_dir():
        return ProjectRoots(name, ProjectState.MISSING, "", indexed=indexed)
    mounts = scan_mounts(project_dir, inodes)
    try:
        data = (project_dir / LOCK_FILENAME).read_bytes()
    except FileNotFoundError:
        return ProjectRoots(name, ProjectState.NO_LOCK, "", mounts=mounts, indexed=indexed)
    except OSError:
        return ProjectRoots(name, ProjectState.BAD_LOCK, "", mounts=mounts, indexed=indexed)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    parsed = parse_lockfile(data, f"{name}/{LOCK_FILENAME}")
    if not isinstance(parsed, Success):
        return ProjectRoots(name, ProjectState.BAD_LOCK, digest, mounts=mounts, indexed=indexed)
    weights = tuple(WeightFiles(e.name, tuple(e.files)) for e in parsed.unwrap().weights)
    return ProjectRoots(name, ProjectState.OK, digest, weights, mounts, indexed)


def gather_cache(
    weights_dir: Path, indexed: Iterable[str], extra: Iterable[Path] = ()
) -> CacheSnapshot:
    """The snapshot gc, ls and verify plan from; ``extra`` projects are roots too."""
    blobs, temps, inodes = scan_store(weights_dir)
    known = sorted(set(indexed))
    projects = [scan_project(Path(p), inodes) for p in known]
    projects += [
        scan_project(p.resolve(), inodes, indexed=False)
        for p in extra
        if str(p.resolve()) not in known
    ]
    return CacheSnapshot(tuple(blobs), tuple(temps), tuple(projects), time.time_ns())
