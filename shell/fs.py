"""Filesystem primitives: atomic writes, the project lock, linking files, removing trees.

This module knows how to put bytes and links on disk safely: temp file + fsync +
rename, flock-based cross-process locking, hardlink / reflink / copy with no
silent fallback between them. It does not know about digests, lockfiles or the
store layout; callers decide which mode to use and what a failure means.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

#: Linux ``FICLONE`` ioctl (``_IOW(0x94, 9, int)``); fcntl exposes it only on 3.12+.
FICLONE = getattr(fcntl, "FICLONE", 0x40049409)

#: errnos with which a filesystem says "no reflinks here".
_REFLINK_UNSUPPORTED = frozenset({errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL, errno.ENOSYS})

LOCK_FILE = Path(".cog") / "cog.lock"

CACHE_DIR_ADVICE = (
    "cache directory and project directory are on different filesystems. "
    "Set COG_CACHE_DIR (or pass --cache-dir) to a path on the same filesystem as your "
    "project, then re-run the command"
)


class LinkError(OSError):
    """Linking ``src`` to ``dst`` failed; ``errno`` keeps the cause's identity."""

    def __init__(self, err: int, message: str, src: Path, dst: Path) -> None:
        super().__init__(err, message, str(src), None, str(dst))
        self.message = message

    def __str__(self) -> str:
        return self.message


class CrossDeviceLink(LinkError):
    """EXDEV: source and destination are on different filesystems."""


class LinkUnsupported(LinkError):
    """The filesystem cannot make reflinks (copy-on-write clones)."""


class ProjectLocked(Exception):
    """Another process holds the project lock and did not release it in time."""


#: Tests only: seconds to pause at the points where concurrent commands race (between a
#: prepare's linked files, before each release removal, between an import's re-read of
#: weights.lock and its write), so the concurrency tests meet the races the locks exist
#: for. Unset or 0: no pause.
RACE_WINDOW_ENV = "COGW_TEST_RACE_WINDOW"


def race_window_set() -> bool:
    """Whether tests asked for a race window (read once by a loop over many files)."""
    return bool(os.environ.get(RACE_WINDOW_ENV))


def race_window() -> None:
    pause = os.environ.get(RACE_WINDOW_ENV)
    if pause:
        time.sleep(float(pause))


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (the new name survives a crash)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_affixes(name: str) -> tuple[str, str]:
    """``weights.lock`` → (``.weights-``, ``.lock.tmp``), Cog's temp-name style."""
    stem, dot, suffix = name.partition(".")
    return f".{stem}-", (f".{suffix}" if dot else "") + ".tmp"


#: A writer's temp file without a pid (Cog's) this old is dead: a write lasts milliseconds.
STALE_WRITE_TEMP_AGE = 600.0
#: A pid-named temp file this old is dead whatever its pid says (pids are reused).
DEAD_WRITE_TEMP_AGE = 24 * 3600.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _write_temp_is_orphaned(middle: str, age: float) -> bool:
    """``middle`` is the name between the affixes: ``<pid>-<random>`` (cogw) or
    ``<random>`` (Cog, older cogw). A live writer's temp file is never orphaned."""
    if age > DEAD_WRITE_TEMP_AGE:
        return True
    owner, dash, _ = middle.partition("-")
    if dash and owner.isdigit():
        return not _pid_alive(int(owner))
    return age > STALE_WRITE_TEMP_AGE


def reclaim_write_temps(path: Path) -> list[Path]:
    """Remove the temp files of ``path`` that a killed writer left (kill -9, power cut).

    Only temp files named for ``path`` (``.weights-*.lock.tmp`` for weights.lock) whose
    writer is gone: its pid is dead, or the name has no pid and is older than any write
    lasts. Returns the paths removed."""
    prefix, suffix = _temp_affixes(path.name)
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(suffix)) or len(name) <= len(
            prefix + suffix
        ):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and _write_temp_is_orphaned(
                name[len(prefix) : -len(suffix)], now - info.st_mtime
            ):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # gone meanwhile, or not ours to remove
    return removed


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new bytes, never a mix.

    The temp file lives in the same directory (rename is atomic only within one
    filesystem) and is removed on every failure, Ctrl-C included. A symlink at
    ``path`` is replaced by a regular file rather than written through. Its name
    carries the writer's pid, so the next write of ``path`` removes the temp files
    of writers killed mid-write (:func:`reclaim_write_temps`).
    """
    reclaim_write_temps(path)
    prefix, suffix = _temp_affixes(path.name)
    owned = f"{prefix}{os.getpid()}-"
    fd, tmp_name = tempfile.mkstemp(prefix=owned, suffix=suffix, dir=path.parent)
    tmp = Path(tmp_name)
    renamed = False
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        os.replace(tmp, path)
        renamed = True
        fsync_dir(path.parent)
    finally:
        if not renamed:
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def project_lock(
    project_dir: Path,
    timeout: float | None = None,
    *,
    shared: bool = False,
    lock_file: Path = LOCK_FILE,
) -> Iterator[None]:
    """Hold a cross-process project lock, exclusive or ``shared``.

    flock-based. The default ``<project>/.cog/cog.lock`` is the lock later Cog versions
    take (Cog v0.19.3 locks ``weights.lock.guard`` instead), so cogw and a later Cog
    never rewrite weights.lock at the same time; ``lock_file`` names another (the
    mounts' lock). The lock file is kept on release: unlinking a flock file lets a
    waiter lock an inode nobody else will see. ``timeout=None`` waits forever.
    """
    lock_path = project_dir / lock_file
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        _flock_within(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX, timeout, lock_path)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _flock_within(fd: int, operation: int, timeout: float | None, lock_path: Path) -> None:
    if timeout is None:
        fcntl.flock(fd, operation)
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise ProjectLocked(
                    f"another process holds the project lock {lock_path} "
                    f"(waited {timeout:g}s); wait for it to finish and try again"
                ) from None
            time.sleep(0.05)


def link_file(src: Path, dst: Path, mode: Literal["hardlink", "reflink", "copy"]) -> None:
    """Make ``dst`` hold ``src``'s content by exactly the requested means, never another.

    Silent fallbacks would defeat the zero-duplication promise of hardlinks and
    reflinks, so an unsupported mode is an error the user can act on. ``dst``
    must not exist (FileExistsError, as os.link). Parent directories are created.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    if mode == "hardlink":
        _hardlink(src, dst)
    elif mode == "reflink":
        _write_new_file(src, dst, _clone_into, verb="reflink")
    elif mode == "copy":
        _write_new_file(src, dst, _copy_into, verb="copy")
    else:
        raise ValueError(f"unknown link mode {mode!r}")


def _link_error(verb: str, src: Path, dst: Path, err: OSError) -> OSError:
    """Cog's wrapLinkError wording, with the cache-dir advice for EXDEV only."""
    if err.errno == errno.EEXIST:
        return err
    if err.errno == errno.EXDEV:
        # strerror, not str(err): that would name both paths a second time
        message = (
            f"{verb} {src} -> {dst} failed: {CACHE_DIR_ADVICE}. underlying error: {err.strerror}"
        )
        return CrossDeviceLink(errno.EXDEV, message, src, dst)
    if verb == "reflink" and err.errno in _REFLINK_UNSUPPORTED:
        message = (
            f"reflink {src} -> {dst}: the filesystem does not support reflinks "
            f"(copy-on-write clones); use hardlink or copy mode. underlying error: {err}"
        )
        return LinkUnsupported(err.errno, message, src, dst)
    return LinkError(err.errno or 0, f"{verb} {src} -> {dst}: {err}", src, dst)


def _hardlink(src: Path, dst: Path) -> None:
    hardlink(src, dst)


def hardlink(src: str | Path, dst: str | Path) -> None:
    """``os.link`` with link_file's errors; ``dst``'s directory must exist already."""
    try:
        os.link(src, dst)
    except OSError as err:
        raise _link_error("hardlink", Path(src), Path(dst), err) from err


def _write_new_file(src: Path, dst: Path, fill: Callable[[int, int], None], *, verb: str) -> None:
    """Create ``dst`` exclusively, fill it from ``src``; remove it again on any failure."""
    try:
        with open(src, "rb") as source:
            src_mode = stat.S_IMODE(os.fstat(source.fileno()).st_mode)
            out_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            created = True
            try:
                fill(source.fileno(), out_fd)
                os.fchmod(out_fd, src_mode)
                created = False
            finally:
                os.close(out_fd)
                if created:
                    dst.unlink(missing_ok=True)
    except OSError as err:
        raise _link_error(verb, src, dst, err) from err


def _clone_into(src_fd: int, dst_fd: int) -> None:
    fcntl.ioctl(dst_fd, FICLONE, src_fd)


def _copy_into(src_fd: int, dst_fd: int) -> None:
    """In-kernel copy where possible; a plain read/write loop where the kernel refuses."""
    try:
        while os.copy_file_range(src_fd, dst_fd, 1 << 30):
            pass
    except OSError as err:
        if err.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
        os.lseek(src_fd, 0, os.SEEK_SET)
        os.lseek(dst_fd, 0, os.SEEK_SET)
        os.ftruncate(dst_fd, 0)
        with open(src_fd, "rb", closefd=False) as source, open(dst_fd, "wb", closefd=False) as out:
            shutil.copyfileobj(source, out, 1 << 20)


def _open_up(directory: str) -> None:
    """Give the owner rwx on ``directory`` and every directory below it.

    Unlinking an entry needs write permission on its directory, and listing needs
    read + search; store blobs and mount trees may be read-only by design.
    """
    mode = stat.S_IMODE(os.lstat(directory).st_mode)
    if mode & stat.S_IRWXU != stat.S_IRWXU:
        os.chmod(directory, mode | stat.S_IRWXU)
    with os.scandir(directory) as entries:
        subdirs = [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    for subdir in subdirs:
        _open_up(subdir)


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything below it, read-only entries included.

    Idempotent: a missing path is not an error. A symlink is removed, never followed.
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        path.unlink(missing_ok=True)
        return
    _open_up(str(path))
    shutil.rmtree(path)
