"""kill -9 at random points of `cogw pull` and `cogw import`: nothing corrupt, nothing left.

Each round starts the installed `cogw` in a subprocess, kills it with SIGKILL after a
random delay within the time a whole run takes, and checks what a crash may leave: every
blob in the store hashes to its name, weights.lock is either its old bytes or a complete
lockfile, and, after a successful rerun, no temp file is left in the store. The number of
kills per suite is COGW_STRESS_KILLS (default 20); the random seed is printed.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from returns.result import Success

from cogw.core.lock.lockfile import parse_lockfile
from tests.e2e.conftest import COGW, write_tree
from tests.fixtures.registry import RunningRegistry

KILLS = int(os.environ.get("COGW_STRESS_KILLS", "20"))


def _cogw(project: Path, cache: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(project), "COG_CACHE_DIR": str(cache)}
    return subprocess.Popen(
        [COGW, *args, "--project", str(project)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _run(project: Path, cache: Path, *args: str) -> float:
    started = time.monotonic()
    proc = _cogw(project, cache, *args)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()
    return time.monotonic() - started


def _blobs_and_temps(cache: Path) -> tuple[list[Path], list[Path]]:
    files = cache / "weights" / "files" / "sha256"
    entries = sorted(p for p in files.glob("*/*") if p.is_file()) if files.exists() else []
    return [p for p in entries if not p.name.startswith("put-")], [
        p for p in entries if p.name.startswith("put-")
    ]


def _assert_no_corrupt_blob(cache: Path) -> None:
    blobs, _ = _blobs_and_temps(cache)
    for blob in blobs:
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name, blob


def _assert_lock_whole(project: Path, old: bytes | None) -> None:
    lock = project / "weights.lock"
    if not lock.exists():
        assert old is None
        return
    data = lock.read_bytes()
    assert data == old or isinstance(parse_lockfile(data, "weights.lock"), Success), data


def _kill_after(proc: subprocess.Popen[bytes], delay: float) -> None:
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


@pytest.fixture
def big_project(tmp_path: Path, registry: RunningRegistry) -> tuple[Path, Path]:
    project, cache = tmp_path / "project", tmp_path / "cache"
    rng = random.Random(0)
    write_tree(
        project / "weights" / "big",
        {f"shard-{i}.bin": rng.randbytes(6 << 20) for i in range(4)} | {"config.json": b"{}"},
    )
    (project / "cog.yaml").write_text(
        f"image: {registry.host}/kill/{tmp_path.name.lower()}\n"
        "weights:\n  - name: big\n    target: /src/big\n    source: {uri: weights/big}\n"
    )
    return project, cache


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_kill_9_during_pull_leaves_no_corrupt_blob_and_a_rerun_leaves_nothing(
    big_project: tuple[Path, Path],
) -> None:
    project, cache = big_project
    _run(project, cache, "import")
    lock = (project / "weights.lock").read_bytes()
    seed = random.randrange(1 << 30)
    print(f"seed {seed}, {KILLS} kills")
    rng = random.Random(seed)
    shutil.rmtree(cache)
    full = _run(project, cache, "pull")
    killed = left = 0
    for _ in range(KILLS):
        shutil.rmtree(cache / "weights" / "files", ignore_errors=True)
        proc = _cogw(project, cache, "pull")
        _kill_after(proc, rng.uniform(0, full))
        killed += proc.returncode == -signal.SIGKILL
        _assert_no_corrupt_blob(cache)
        assert (project / "weights.lock").read_bytes() == lock
        left += len(_blobs_and_temps(cache)[1])
    print(f"{killed} of {KILLS} runs were killed before they finished; {left} temp files left")
    _run(project, cache, "pull")
    _assert_no_corrupt_blob(cache)
    assert _blobs_and_temps(cache)[1] == []


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_kill_9_during_import_leaves_no_corrupt_blob_or_half_lockfile(
    big_project: tuple[Path, Path],
) -> None:
    project, cache = big_project
    full = _run(project, cache, "import")
    seed = random.randrange(1 << 30)
    print(f"seed {seed}, {KILLS} kills")
    rng = random.Random(seed)
    killed = left = 0
    for i in range(KILLS):
        (project / "weights" / "big" / "config.json").write_text(f'{{"round": {i}}}')
        old = (project / "weights.lock").read_bytes()
        proc = _cogw(project, cache, "import")
        _kill_after(proc, rng.uniform(0, full))
        killed += proc.returncode == -signal.SIGKILL
        _assert_no_corrupt_blob(cache)
        _assert_lock_whole(project, old)
        left += len(_blobs_and_temps(cache)[1])
    lock_temps = len(list(project.glob(".weights-*.lock.tmp")))
    print(f"{killed} of {KILLS} runs were killed before they finished; {left} temp files seen")
    print(f"{lock_temps} weights.lock temp files left by kills")
    # A writer killed mid-write (rarely hit at random) leaves a cut temp file; one more is
    # planted with a dead pid, and the next lockfile write must sweep them all.
    dead = subprocess.Popen(["true"])
    dead.wait()
    (project / f".weights-{dead.pid}-killed.lock.tmp").write_bytes(b'{"version": 1, "we')
    (project / "weights" / "big" / "config.json").write_text('{"round": "rerun"}')
    _run(project, cache, "import")
    _run(project, cache, "status")
    _assert_no_corrupt_blob(cache)
    assert _blobs_and_temps(cache)[1] == []
    assert list(project.glob(".weights-*.lock.tmp")) == []


def _many_files_project(
    project: Path, registry: RunningRegistry, rng: random.Random, dirs: int, sizes: tuple[int, int]
) -> dict[str, bytes]:
    """A project of one weight of 1 500 small files spread over ``dirs`` directories."""
    files = {f"d{i % dirs}/f{i}.json": rng.randbytes(rng.randint(*sizes)) for i in range(1500)}
    write_tree(project / "weights" / "many", files)
    (project / "cog.yaml").write_text(
        f"image: {registry.host}/kill/{project.parent.name.lower()}\n"
        "weights:\n  - name: many\n    target: /src/many\n    source: {uri: weights/many}\n"
    )
    return files


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_kill_9_during_a_pull_of_many_small_files_never_shows_an_unsynced_blob(
    tmp_path: Path, registry: RunningRegistry
) -> None:
    # One bundle layer's files become blobs together after one flush: a kill before
    # it leaves temps only, never a name over bytes that are not all there.
    project, cache = tmp_path / "project", tmp_path / "cache"
    files = _many_files_project(project, registry, random.Random(1), 40, (1024, 8192))
    _run(project, cache, "import")
    seed = random.randrange(1 << 30)
    print(f"seed {seed}, {KILLS} kills")
    rng = random.Random(seed)
    shutil.rmtree(cache)
    full = _run(project, cache, "pull")
    killed = left = 0
    for _ in range(KILLS):
        shutil.rmtree(cache / "weights" / "files", ignore_errors=True)
        proc = _cogw(project, cache, "pull")
        _kill_after(proc, rng.uniform(0, full))
        killed += proc.returncode == -signal.SIGKILL
        _assert_no_corrupt_blob(cache)
        left += len(_blobs_and_temps(cache)[1])
    print(f"{killed} of {KILLS} runs were killed before they finished; {left} temps left")
    _run(project, cache, "pull")
    _run(project, cache, "verify")
    _assert_no_corrupt_blob(cache)
    assert _blobs_and_temps(cache)[1] == []
    assert len(_blobs_and_temps(cache)[0]) == len(set(files.values()))


def _strays(cache: Path) -> list[Path]:
    """Anything in the store that is neither a prefix dir, a blob nor a put-* temp."""
    files = cache / "weights" / "files" / "sha256"
    if not files.exists():
        return []
    return [
        p
        for p in files.rglob("*")
        if not (p.is_dir() and p.parent == files) and not (p.is_file() and p.parent.parent == files)
    ]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_kill_9_during_an_import_of_many_small_files_leaves_only_verified_blobs_and_temps(
    tmp_path: Path, registry: RunningRegistry
) -> None:
    # The files reach the store as one batch (one flush, then each renamed into place)
    # and the bundle's gzip bytes sit in an unnamed temp until pushed: a kill anywhere
    # leaves whole blobs and put-* temps the next run sweeps, nothing else.
    project, cache = tmp_path / "project", tmp_path / "cache"
    files = _many_files_project(project, registry, random.Random(2), 30, (16, 16384))
    full = _run(project, cache, "import")
    seed = random.randrange(1 << 30)
    print(f"seed {seed}, {KILLS} kills")
    rng = random.Random(seed)
    killed = left = 0
    for i in range(KILLS):
        (project / "weights" / "many" / "d0" / "f0.json").write_text(f'{{"round": {i}}}')
        old = (project / "weights.lock").read_bytes()
        shutil.rmtree(cache / "weights" / "files", ignore_errors=True)
        proc = _cogw(project, cache, "import")
        _kill_after(proc, rng.uniform(0, full))
        killed += proc.returncode == -signal.SIGKILL
        _assert_no_corrupt_blob(cache)
        _assert_lock_whole(project, old)
        assert _strays(cache) == []
        left += len(_blobs_and_temps(cache)[1])
    print(f"{killed} of {KILLS} runs were killed before they finished; {left} temps left")
    _run(project, cache, "import")
    _run(project, cache, "verify")
    _assert_no_corrupt_blob(cache)
    assert _blobs_and_temps(cache)[1] == [] and _strays(cache) == []
    shutil.rmtree(cache)
    _run(project, cache, "pull")
    assert len(_blobs_and_temps(cache)[0]) == len(set(files.values()) - {files["d0/f0.json"]}) + 1
