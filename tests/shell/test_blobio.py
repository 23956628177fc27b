"""The store's write steps: fresh temp names, and publishing that never replaces a blob."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import cogw.shell.blobio as blobio
from cogw.shell.blobio import StoreError, open_new_temp, publish, rename_noreplace


def test_temps_are_new_files_named_for_the_writer(tmp_path: Path) -> None:
    made = [(fd, Path(name)) for fd, name in (open_new_temp(tmp_path) for _ in range(50))]
    for fd, _ in made:
        os.close(fd)
    names = {path.name for _, path in made}
    assert len(names) == 50
    assert all(name.startswith(f"put-{os.getpid()}-") for name in names)
    assert all(path.parent == tmp_path and path.stat().st_size == 0 for _, path in made)
    assert {oct(path.stat().st_mode & 0o777) for _, path in made} == {"0o600"}


def test_a_temp_name_already_taken_is_not_opened_but_another_is_drawn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fd, name = open_new_temp(tmp_path)
    os.close(fd)
    taken = Path(name)
    taken.write_bytes(b"someone else's")
    counter = iter([int(taken.name.rsplit(blobio._TEMP_TOKEN, 1)[1], 16), 7, 8])
    monkeypatch.setattr(blobio, "_temp_counter", counter)
    fd, fresh = open_new_temp(tmp_path)
    os.close(fd)
    assert Path(fresh) != taken and taken.read_bytes() == b"someone else's"


def test_a_missing_directory_is_an_error_not_a_retry(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_new_temp(tmp_path / "gone")


def test_rename_noreplace_moves_a_file_to_a_free_name(tmp_path: Path) -> None:
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"new")
    assert rename_noreplace(src, dst) is True
    assert not src.exists() and dst.read_bytes() == b"new"


def test_rename_noreplace_leaves_an_existing_name_and_the_source_alone(tmp_path: Path) -> None:
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"new")
    dst.write_bytes(b"old")
    assert rename_noreplace(src, dst) is False
    assert src.read_bytes() == b"new" and dst.read_bytes() == b"old"


def test_rename_noreplace_reports_other_failures(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        rename_noreplace(tmp_path / "absent", tmp_path / "b")


@pytest.mark.parametrize("noreplace", [True, False], ids=["renameat2", "link-unlink"])
def test_publish_keeps_a_twin_already_there_and_drops_the_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, noreplace: bool
) -> None:
    if not noreplace:
        monkeypatch.setattr(blobio, "_renameat2", lambda: None)
    twin, tmp, fresh = tmp_path / "blob", tmp_path / "put-1-x", tmp_path / "put-1-y"
    twin.write_bytes(b"same")
    inode = twin.stat().st_ino
    tmp.write_bytes(b"same")
    publish(tmp, twin)
    assert twin.stat().st_ino == inode and not tmp.exists()
    fresh.write_bytes(b"other")
    publish(fresh, tmp_path / "blob2")
    assert (tmp_path / "blob2").read_bytes() == b"other" and not fresh.exists()


def test_publish_into_a_missing_directory_is_a_store_error_and_drops_the_temp(
    tmp_path: Path,
) -> None:
    tmp = tmp_path / "put-1-x"
    tmp.write_bytes(b"bytes")
    with pytest.raises(StoreError, match="rename"):
        publish(tmp, tmp_path / "gone" / "blob")
    assert not tmp.exists()


def test_a_forked_child_names_its_temps_by_its_own_pid(tmp_path: Path) -> None:
    # The prefix is kept, not asked for per temp: a fork must renew it, or a child's
    # temps would carry its parent's pid and be reclaimed as the parent's leftovers.
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its temp's name and its pid, then leave at once
        try:
            _fd, name = open_new_temp(tmp_path)
            os.write(write_end, f"{Path(name).name} {os.getpid()}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        name, child = pipe.read().decode().split()
    os.waitpid(pid, 0)
    assert int(child) != os.getpid()
    assert name.startswith(f"put-{child}-")
