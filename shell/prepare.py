"""Prepare: per-run mount directories assembled from the store (``shell/release.py``
removes them).

Layout (Cog's): ``<project>/.cog/mounts/<16 hex>/<weight name>/<file path>``,
each file a hardlink to its store blob by default (``--link-mode`` chooses
reflink or copy explicitly; there is never a silent fallback, because a silent
copy of 30 GB is worse than a clear error). On any failure the whole
invocation directory is removed, so a half-assembled mount is never left.

Paths never escape: ``.cog`` and ``.cog/mounts`` are refused when they are symlinks
(locks and mounts would land wherever they point, and release would delete there);
each mount carries the marker file :data:`MARKER` beside its weight directories (not
inside them, so containers see only weight files), and release removes only
directories it can identify. A blob whose size differs from the lockfile's or that has write bits
was written through a mount (root ignores 0444) and is never linked again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from cogw.core.cache.cachedir import cross_filesystem_problem
from cogw.core.paths import safe_join
from cogw.core.plan.events import Event, EventKind
from cogw.core.plan.outcome import Aborted, Mounted, StepResult, StepStatus
from cogw.core.plan.planner import LinkWeight
from cogw.shell.fs import (
    CrossDeviceLink,
    hardlink,
    link_file,
    project_lock,
    race_window,
    race_window_set,
    remove_tree,
)
from cogw.shell.runtime import Runtime, failure
from cogw.shell.store import BlobNotFound

#: The project's mounts lock: prepare holds it shared while building, release exclusive.
#: Not cog.lock, which Cog holds through a whole ``cog build`` or weights import: a
#: prepare must not wait minutes for those, and it never touches weights.lock.
MOUNTS_LOCK = Path(".cog") / "mounts.lock"

MOUNT_ID = re.compile(r"^[0-9a-f]{16}$")
#: Written into every mount directory cogw makes; release removes nothing without it.
MARKER = ".cogw-mount"


def mounts_root(project_dir: Path) -> Path:
    return project_dir / ".cog" / "mounts"


class UnsafePath(ValueError):
    pass


class BlobWrittenThrough(Exception):
    """A store blob's size or mode shows that something wrote into it after it was sealed."""


def refuse_symlinks(project_dir: Path) -> None:
    """``.cog`` and ``.cog/mounts`` must be real directories (or absent), never links."""
    for path in (project_dir / ".cog", mounts_root(project_dir)):
        if path.is_symlink():
            raise UnsafePath(
                f"{path} is a symbolic link; cogw does not follow it "
                f"(replace it with a real directory)"
            )


def _check_blob(src: str, digest: str, size: int) -> None:
    try:
        info = os.lstat(src)
    except FileNotFoundError:
        raise BlobNotFound(errno.ENOENT, f"path {digest}: file does not exist", src) from None
    if not stat.S_ISREG(info.st_mode) or info.st_size != size or info.st_mode & 0o222:
        raise BlobWrittenThrough(
            f"store blob {digest} was changed after it was stored "
            f"(size {info.st_size}, expected {size}; mode {stat.S_IMODE(info.st_mode):o}); "
            f"something wrote through a mount. Delete {src} and run 'cogw pull' again"
        )


def _join(base: Path, rel: str) -> Path:
    joined = safe_join(str(base), rel)
    if joined is None:
        raise UnsafePath(f'path "{rel}" escapes parent directory')
    return Path(joined)


def _link_weight(step: LinkWeight, root: Path, rt: Runtime) -> Path:
    """Link every file of the weight: per file one lstat of its blob and one link; each
    directory is made once."""
    weight_dir = _join(root, step.weight)
    weight_dir.mkdir(parents=True, exist_ok=True)
    base, blob_name = str(weight_dir), rt.store.blob_name
    made = {base}
    paused = race_window_set()
    for f in step.files:
        if rt.cancel.is_set():
            raise KeyboardInterrupt
        if paused:
            race_window()
        src = blob_name(f.digest)
        _check_blob(src, f.digest, f.size)
        dst = safe_join(base, f.path)
        if dst is None:
            raise UnsafePath(f'path "{f.path}" escapes parent directory')
        if rt.link_mode != "hardlink":
            link_file(Path(src), Path(dst), rt.link_mode)  # type: ignore[arg-type]
            continue
        parent = dst.rpartition("/")[0]
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        hardlink(src, dst)
    return weight_dir


def run_links(steps: Sequence[LinkWeight], rt: Runtime, blocked: set[str]) -> list[StepResult]:
    """Link every weight into one new invocation directory; all or nothing."""
    results: list[StepResult] = []
    try:
        refuse_symlinks(rt.project.dir)
        # Shared: prepares of different runs build their own directories side by side;
        # a release (exclusive) waits until none is building or cleaning up a failed build.
        with project_lock(rt.project.dir, shared=True, lock_file=MOUNTS_LOCK):
            _build(steps, rt, blocked, results)
    except BaseException as exc:
        if not isinstance(exc, Exception):
            raise
        done = len(results)
        undone = [StepResult(r.step, StepStatus.FAILED, Aborted(True)) for r in results]
        rest = [StepResult(s, StepStatus.FAILED, Aborted(False)) for s in steps[done + 1 :]]
        return [*undone, _failed(steps[done], exc, rt), *rest]
    return results


def _build(
    steps: Sequence[LinkWeight], rt: Runtime, blocked: set[str], results: list[StepResult]
) -> None:
    root = mounts_root(rt.project.dir) / secrets.token_hex(8)
    try:
        root.mkdir(parents=True)
        with _building(root):
            _link_all(steps, rt, blocked, root, results)
    except BaseException:
        remove_tree(root)
        raise


def _failed(step: LinkWeight, exc: Exception, rt: Runtime) -> StepResult:
    """A link that crossed filesystems after the plan said it would not (the store
    moved, or part of it is elsewhere) is worded as the plan would have worded it."""
    if isinstance(exc, CrossDeviceLink):
        problem = cross_filesystem_problem(str(rt.store.root), str(rt.project.dir), rt.link_mode)
        return StepResult(step, StepStatus.FAILED, diagnostic=problem)
    return failure(step, exc)


@contextlib.contextmanager
def _building(root: Path) -> Iterator[None]:
    """Hold the mount's lock while it is built; a release waits for it.

    The marker is locked under a temp name and only then renamed into place, so a
    release never sees a marked mount whose lock it could take before the build."""
    pending = root / (MARKER + ".building")
    fd = os.open(pending, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(pending, root / MARKER)
        yield
    finally:
        os.close(fd)


def _link_all(
    steps: Sequence[LinkWeight],
    rt: Runtime,
    blocked: set[str],
    root: Path,
    results: list[StepResult],
) -> None:
    for step in steps:
        if step.weight in blocked:
            raise RuntimeError(f'weight "{step.weight}" could not be fetched')
        weight_dir = _link_weight(step, root, rt)
        rt.emit(
            Event(
                EventKind.LINKED,
                weight=step.weight,
                target=step.target,
                path=str(weight_dir),
                total_files=len(step.files),
            )
        )
        mounted = Mounted(str(weight_dir), step.target, len(step.files))
        results.append(StepResult(step, StepStatus.DONE, mounted))
