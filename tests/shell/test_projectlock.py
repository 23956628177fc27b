"""The project lock's shared mode and the sweep of lockfile temp files killed writers left."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cogw.shell.fs import ProjectLocked, atomic_write, project_lock, reclaim_write_temps

_TRY = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from cogw.shell.fs import ProjectLocked, project_lock
    try:
        with project_lock(Path(sys.argv[1]), float(sys.argv[2]), shared=sys.argv[3] == "shared"):
            print("acquired")
    except ProjectLocked:
        sys.exit(3)
    """
)


def _try(project: Path, mode: str, timeout: float = 0.3) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _TRY, str(project), str(timeout), mode],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return done.returncode


def test_shared_holders_coexist_and_exclude_an_exclusive_one(tmp_path: Path) -> None:
    with project_lock(tmp_path, shared=True):
        assert _try(tmp_path, "shared", timeout=5) == 0
        assert _try(tmp_path, "exclusive") == 3
    assert _try(tmp_path, "exclusive", timeout=5) == 0


def test_an_exclusive_holder_excludes_a_shared_one(tmp_path: Path) -> None:
    with project_lock(tmp_path):
        assert _try(tmp_path, "shared") == 3
    with (
        pytest.raises(ProjectLocked),
        project_lock(tmp_path),
        project_lock(tmp_path, 0.1, shared=True),
    ):
        pass


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _plant(directory: Path, name: str, age: float = 0.0) -> Path:
    path = directory / name
    path.write_bytes(b'{"version": 1, "weig')  # what a killed writer leaves: a cut lockfile
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    return path


def test_writing_the_lockfile_removes_the_temp_files_of_dead_writers_only(tmp_path: Path) -> None:
    dead = _plant(tmp_path, f".weights-{_dead_pid()}-k9abc.lock.tmp")
    live = _plant(tmp_path, f".weights-{os.getpid()}-live1.lock.tmp")
    cog_fresh = _plant(tmp_path, ".weights-2894162731.lock.tmp")  # Cog's: no pid
    cog_old = _plant(tmp_path, ".weights-1193046.lock.tmp", age=3600)
    ancient = _plant(tmp_path, f".weights-{os.getpid()}-old.lock.tmp", age=3 * 86400)
    other = _plant(tmp_path, f".cog-{_dead_pid()}-x.yaml.tmp")
    atomic_write(tmp_path / "weights.lock", b"{}\n")
    assert not dead.exists() and not cog_old.exists() and not ancient.exists()
    assert live.exists() and cog_fresh.exists() and other.exists()
    assert (tmp_path / "weights.lock").read_bytes() == b"{}\n"
    assert sorted(p.name for p in tmp_path.glob(".weights-*")) == sorted(
        [live.name, cog_fresh.name]
    )


def test_the_writers_own_temp_file_carries_its_pid(tmp_path: Path) -> None:
    import tempfile

    seen: list[str] = []
    real = tempfile.mkstemp

    def spy(*args: object, **kwargs: object) -> tuple[int, str]:
        fd, name = real(*args, **kwargs)  # type: ignore[call-overload]
        seen.append(Path(name).name)
        return fd, name

    tempfile.mkstemp = spy  # type: ignore[assignment]
    try:
        atomic_write(tmp_path / "weights.lock", b"{}\n")
    finally:
        tempfile.mkstemp = real
    assert len(seen) == 1 and seen[0].startswith(f".weights-{os.getpid()}-")
    assert seen[0].endswith(".lock.tmp")


def test_reclaiming_in_a_missing_directory_removes_nothing(tmp_path: Path) -> None:
    assert reclaim_write_temps(tmp_path / "gone" / "weights.lock") == []
