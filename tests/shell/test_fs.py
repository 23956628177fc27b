"""Filesystem primitives on real disk: atomic writes, the project lock, links, tree removal."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from cogw.shell.fs import (
    CrossDeviceLink,
    LinkError,
    LinkUnsupported,
    ProjectLocked,
    _temp_affixes,
    atomic_write,
    link_file,
    project_lock,
    remove_tree,
)

Mode = Literal["hardlink", "reflink", "copy"]


# --- mounts for EXDEV, ENOSPC and reflink tests (root only; skipped otherwise) -------------


@contextlib.contextmanager
def mounted_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tiny tmpfs at ``where``: a different filesystem that fills up on demand."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount tmpfs: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


@contextlib.contextmanager
def mounted_xfs(where: Path) -> Iterator[Path]:
    """A loop-mounted XFS with reflink support: the only reflink filesystem at hand."""
    if shutil.which("mkfs.xfs") is None:
        pytest.skip("mkfs.xfs not installed (apt-get install xfsprogs)")
    image = where.with_suffix(".img")
    with open(image, "wb") as out:
        out.truncate(320 << 20)
    made = subprocess.run(
        ["mkfs.xfs", "-q", "-m", "reflink=1", str(image)], capture_output=True, check=False
    )
    where.mkdir(parents=True, exist_ok=True)
    mounted = made.returncode == 0 and (
        subprocess.run(
            ["mount", "-o", "loop", str(image), str(where)], capture_output=True, check=False
        ).returncode
        == 0
    )
    if not mounted:
        image.unlink()
        pytest.skip("cannot loop-mount an XFS image here")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)
        image.unlink()


@pytest.fixture
def other_fs_dir() -> Iterator[Path]:
    """A directory on /dev/shm (tmpfs), which is never the filesystem of tmp_path."""
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm")
    directory = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


@pytest.fixture
def xfs_dir(tmp_path: Path) -> Iterator[Path]:
    with mounted_xfs(tmp_path / "xfs") as where:
        yield where


# --- atomic_write ---------------------------------------------------------------------------


def test_atomic_write_creates_the_file_with_its_bytes_and_mode(tmp_path: Path) -> None:
    target = tmp_path / "weights.lock"
    atomic_write(target, b'{"version": 1}', mode=0o600)
    assert target.read_bytes() == b'{"version": 1}'
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["weights.lock"]


def test_atomic_write_replaces_an_existing_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "weights.lock"
    target.write_bytes(b"old content that is longer")
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["weights.lock"]


def test_atomic_write_replaces_a_symlink_with_a_regular_file(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.lock"
    elsewhere.write_bytes(b"untouched")
    target = tmp_path / "weights.lock"
    target.symlink_to(elsewhere)
    atomic_write(target, b"new")
    assert not target.is_symlink()
    assert target.read_bytes() == b"new"
    assert elsewhere.read_bytes() == b"untouched"


class _InterruptingMode:
    """A mode that raises Ctrl-C when the write has already begun (at chmod time)."""

    def __index__(self) -> int:
        raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("data", "mode", "error"),
    [
        pytest.param("not bytes", 0o644, TypeError, id="failing write"),
        pytest.param(b"data", _InterruptingMode(), KeyboardInterrupt, id="ctrl-c mid-write"),
    ],
)
def test_atomic_write_failure_leaves_old_content_and_no_temp(
    tmp_path: Path, data: object, mode: object, error: type[BaseException]
) -> None:
    target = tmp_path / "weights.lock"
    target.write_bytes(b"old")
    with pytest.raises(error):
        atomic_write(target, data, mode=mode)  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["weights.lock"]


def test_atomic_write_into_a_missing_directory_fails_without_creating_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "weights.lock", b"x")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "affixes"),
    [
        pytest.param("weights.lock", (".weights-", ".lock.tmp"), id="weights.lock as Cog names it"),
        pytest.param("plan", (".plan-", ".tmp"), id="no suffix"),
        pytest.param("a.tar.gz", (".a-", ".tar.gz.tmp"), id="double suffix"),
    ],
)
def test_temp_names_are_hidden_and_derived_from_the_target(
    name: str, affixes: tuple[str, str]
) -> None:
    assert _temp_affixes(name) == affixes


# --- project_lock ---------------------------------------------------------------------------

_TRY_LOCK = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from cogw.shell.fs import ProjectLocked, project_lock
    try:
        with project_lock(Path(sys.argv[1]), timeout=float(sys.argv[2])):
            print("acquired")
    except ProjectLocked as err:
        print(err)
        sys.exit(3)
    """
)


def _try_lock_in_another_process(project: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _TRY_LOCK, str(project), str(timeout)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_project_lock_excludes_a_second_process_until_released(tmp_path: Path) -> None:
    with project_lock(tmp_path):
        blocked = _try_lock_in_another_process(tmp_path, 0.2)
    assert blocked.returncode == 3, blocked.stderr
    assert "another process holds the project lock" in blocked.stdout
    assert str(tmp_path / ".cog" / "cog.lock") in blocked.stdout
    freed = _try_lock_in_another_process(tmp_path, 5)
    assert (freed.returncode, freed.stdout.strip()) == (0, "acquired")


def test_project_lock_creates_dot_cog_and_keeps_the_lock_file(tmp_path: Path) -> None:
    with project_lock(tmp_path, timeout=1):
        assert (tmp_path / ".cog" / "cog.lock").is_file()
    assert (tmp_path / ".cog" / "cog.lock").is_file()


def test_project_lock_excludes_a_second_holder_in_the_same_process(tmp_path: Path) -> None:
    with project_lock(tmp_path), pytest.raises(ProjectLocked), project_lock(tmp_path, timeout=0.1):
        pass


# --- link_file ------------------------------------------------------------------------------


def _source(directory: Path, data: bytes = b"weights" * 1000, mode: int = 0o644) -> Path:
    src = directory / "src.bin"
    src.write_bytes(data)
    src.chmod(mode)
    return src


def test_hardlink_shares_the_inode_and_creates_parents(tmp_path: Path) -> None:
    src = _source(tmp_path)
    dst = tmp_path / "mounts" / "abc" / "w" / "file.bin"
    link_file(src, dst, "hardlink")
    assert dst.stat().st_ino == src.stat().st_ino


def test_copy_is_a_separate_file_with_the_same_bytes_and_mode(tmp_path: Path) -> None:
    src = _source(tmp_path, mode=0o444)
    dst = tmp_path / "out" / "copy.bin"
    link_file(src, dst, "copy")
    assert dst.stat().st_ino != src.stat().st_ino
    assert dst.read_bytes() == src.read_bytes()
    assert stat.S_IMODE(dst.stat().st_mode) == 0o444


def test_copy_of_an_empty_file_is_empty(tmp_path: Path) -> None:
    src = _source(tmp_path, data=b"")
    link_file(src, tmp_path / "empty", "copy")
    assert (tmp_path / "empty").read_bytes() == b""


def test_reflink_on_a_filesystem_without_it_is_an_error_not_a_copy(tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    probe.write_bytes(b"x")
    try:
        link_file(probe, tmp_path / "probe-clone", "reflink")
    except LinkUnsupported:
        pass
    else:
        pytest.skip("tmp_path supports reflinks here")
    src = _source(tmp_path)
    dst = tmp_path / "clone.bin"
    with pytest.raises(LinkUnsupported) as caught:
        link_file(src, dst, "reflink")
    assert caught.value.errno in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL)
    assert "does not support reflinks" in str(caught.value)
    assert not dst.exists()


def test_reflink_on_xfs_clones_the_content(xfs_dir: Path) -> None:
    src = _source(xfs_dir)
    dst = xfs_dir / "a" / "clone.bin"
    link_file(src, dst, "reflink")
    assert dst.read_bytes() == src.read_bytes()
    assert dst.stat().st_ino != src.stat().st_ino


@pytest.mark.parametrize("mode", ["hardlink", "reflink", "copy"])
def test_an_existing_destination_is_never_overwritten(tmp_path: Path, mode: Mode) -> None:
    src = _source(tmp_path)
    dst = tmp_path / "taken.bin"
    dst.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        link_file(src, dst, mode)
    assert dst.read_bytes() == b"precious"


@pytest.mark.parametrize(
    ("mode", "verb"),
    [("hardlink", "hardlink"), ("reflink", "reflink")],
    ids=["hardlink", "reflink"],
)
def test_cross_device_link_names_the_cache_dir_setting(
    tmp_path: Path, other_fs_dir: Path, mode: Mode, verb: str
) -> None:
    src = _source(other_fs_dir)
    dst = tmp_path / "mount" / "file.bin"
    with pytest.raises(CrossDeviceLink) as caught:
        link_file(src, dst, mode)
    err = caught.value
    assert isinstance(err, OSError)
    assert err.errno == errno.EXDEV
    message = str(err)
    assert message.startswith(f"{verb} {src} -> {dst} failed: cache directory and project")
    assert "COG_CACHE_DIR" in message
    assert "--cache-dir" in message
    assert "underlying error" in message
    assert not dst.exists()


def test_copy_across_filesystems_works(tmp_path: Path, other_fs_dir: Path) -> None:
    src = _source(other_fs_dir)
    dst = tmp_path / "copied.bin"
    link_file(src, dst, "copy")
    assert dst.read_bytes() == src.read_bytes()


def test_hardlink_of_a_missing_source_keeps_its_errno(tmp_path: Path) -> None:
    with pytest.raises(LinkError) as caught:
        link_file(tmp_path / "missing", tmp_path / "dst", "hardlink")
    assert caught.value.errno == errno.ENOENT
    assert str(caught.value).startswith(f"hardlink {tmp_path / 'missing'} -> ")


# --- remove_tree ----------------------------------------------------------------------------


def test_remove_tree_removes_read_only_files_and_directories(tmp_path: Path) -> None:
    top = tmp_path / "mounts" / "0123456789abcdef"
    leaf = top / "weight" / "sub"
    leaf.mkdir(parents=True)
    (leaf / "blob").write_bytes(b"x")
    (leaf / "blob").chmod(0o444)
    leaf.chmod(0o555)
    (top / "weight").chmod(0o500)
    remove_tree(top)
    assert not top.exists()
    assert (tmp_path / "mounts").is_dir()


def test_remove_tree_of_a_missing_path_does_nothing(tmp_path: Path) -> None:
    remove_tree(tmp_path / "missing")
    assert os.listdir(tmp_path) == []


def test_remove_tree_removes_a_symlink_without_following_it(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "file").write_bytes(b"x")
    link = tmp_path / "link"
    link.symlink_to(kept, target_is_directory=True)
    remove_tree(link)
    assert not link.is_symlink()
    assert (kept / "file").read_bytes() == b"x"
