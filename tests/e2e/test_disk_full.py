"""A cache on a small tmpfs: pulls and imports that do not fit fail clearly and leave nothing.

Each test mounts a tmpfs of a few MiB as the cache (root only; skipped with the reason
otherwise) and checks what a full disk may leave: one error line naming the space
needed and left with a hint, exit 1, no blob the pull could not finish, no temp file,
a store that `cogw verify` passes, and for import a weights.lock with its old bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Project, write_tree
from tests.shell.test_fs import mounted_tmpfs

pytestmark = pytest.mark.registry

ONE = """weights:
  - name: big
    target: /src/big
    source:
      uri: weights/big
"""


@pytest.fixture
def small_cache(project: Project, tmp_path: Path) -> Iterator[Path]:
    with mounted_tmpfs(tmp_path / "small", "2m") as where:
        yield where


def _temps(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.name.startswith("put-")]


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _imported(project: Project, files: dict[str, bytes]) -> Project:
    write_tree(project.dir / "weights" / "big", files)
    project.write_config(ONE)
    done = project.run("import", "-q")
    assert done.exit_code == 0, done.stderr
    return project


def _assert_clean(project: Project, cache: Path) -> None:
    assert _temps(cache) == []
    verified = project.run("verify", "--all", "--cache-dir", str(cache))
    assert verified.exit_code == 0, verified.stderr


def test_a_pull_larger_than_the_disk_is_refused_before_a_byte(
    project: Project, small_cache: Path
) -> None:
    _imported(project, {"model.bin": os.urandom(5 << 20), "config.json": b"{}"})
    pulled = project.run("pull", env={"COG_CACHE_DIR": str(small_cache)})
    assert pulled.exit_code == 1
    errors = _error_lines(pulled.stderr)
    assert len(errors) == 1, pulled.stderr
    assert f"no space left on {small_cache}/weights (needs 5.0MB, has " in errors[0]
    assert "cogw gc" in pulled.stderr and "COG_CACHE_DIR" in pulled.stderr
    assert "Traceback" not in pulled.output and "Errno" not in pulled.output
    blobs = small_cache / "weights" / "files"
    assert not blobs.exists() or [p for p in blobs.rglob("*") if p.is_file()] == []
    _assert_clean(project, small_cache)


def test_a_disk_that_fills_up_during_a_pull_gives_the_same_message_and_no_partial_blob(
    project: Project, small_cache: Path
) -> None:
    # 600 tiny files fit by their bytes, but each takes a 4 KiB page of the 2 MiB tmpfs.
    files = {f"shard/{i:04d}.txt": os.urandom(64) for i in range(600)}
    _imported(project, files)
    env = {"COG_CACHE_DIR": str(small_cache)}
    pulled = project.run("pull", env=env)
    assert pulled.exit_code == 1
    errors = _error_lines(pulled.stderr)
    assert len(errors) == 1, pulled.stderr
    assert f"no space left on {small_cache}/weights (needs " in errors[0]
    assert "Errno" not in pulled.output and "Traceback" not in pulled.output
    stored = [p for p in (small_cache / "weights" / "files").rglob("*") if p.is_file()]
    assert 0 < len(stored) < len(files)  # what was stored is whole: verify re-hashes it
    _assert_clean(project, small_cache)


def test_an_import_into_a_full_store_leaves_weights_lock_untouched(
    project: Project, small_cache: Path
) -> None:
    env = {"COG_CACHE_DIR": str(small_cache)}
    write_tree(project.dir / "weights" / "big", {"config.json": b"{}"})
    project.write_config(ONE)
    first = project.run("import", "-q", env=env)
    assert first.exit_code == 0, first.stderr
    before = project.lock.read_bytes()
    (project.dir / "weights" / "big" / "model.bin").write_bytes(os.urandom(3 << 20))
    again = project.run("import", env=env)
    assert again.exit_code == 1
    assert "no space left on" in again.stderr and "cogw gc" in again.stderr, again.stderr
    assert "Errno" not in again.output and "Traceback" not in again.output
    assert project.lock.read_bytes() == before
    _assert_clean(project, small_cache)
