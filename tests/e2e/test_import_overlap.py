"""A local weight's bundles are packed from its source while ingest copies the same files
into the store (shell/import_pack.py): the layers, the lockfile and the store are exactly
what packing from the store after the copy gave, and a file that changes in between is
still caught."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from cogw.core.artifact.inventory import InventoryFile
from cogw.shell.file_source import FileSource
from cogw.shell.layers import CheckedReader, LayerSourceError
from tests.e2e.conftest import SMALL_FILES, Project

pytestmark = pytest.mark.registry

MANY = {f"d{i % 7}/f{i:03}.json": os.urandom(50 + i * 13) for i in range(300)}
WEIGHT = """weights:
  - name: alpha
    target: /src/weights/alpha
    source:
      uri: weights/alpha
"""


def _large(root: Path) -> None:
    """A 64 MiB file (random head, sparse rest): a standalone layer pushed from the source."""
    with open(root / "model.safetensors", "wb") as f:
        f.write(os.urandom(4096))
        f.truncate(64 << 20)


def _layers_and_files(project: Project) -> tuple[list[object], list[object]]:
    (entry,) = json.loads(project.lock.read_text())["weights"]
    return entry["layers"], entry["files"]


def _import(project: Project, image: str) -> tuple[list[object], list[object]]:
    project.write_config(WEIGHT, image=f"{project.registry.host}/{image}")
    project.lock.unlink(missing_ok=True)
    result = project.run("import")
    assert result.exit_code == 0, result.output
    return _layers_and_files(project)


@pytest.mark.parametrize("large", [False, True], ids=["bundles-only", "with-a-large-file"])
@pytest.mark.parametrize("spooled", [True, False], ids=["push-from-spool", "push-rebuilt"])
def test_packing_beside_the_copy_gives_what_packing_after_it_gave(
    project: Project,
    make_weights: Callable[[str, dict[str, bytes]], Path],
    monkeypatch: pytest.MonkeyPatch,
    large: bool,
    spooled: bool,
) -> None:
    src = make_weights("alpha", {**SMALL_FILES, **MANY})
    if large:
        _large(src)
    if not spooled:  # the push builds each bundle again, reading its files a second time
        monkeypatch.setattr("cogw.shell.layerspool.worth_spooling", lambda *_: False)
    overlapped = _import(project, f"{project.repo}-overlapped")
    blobs = {p.name for p in project.blobs()}
    assert blobs == {f["digest"].removeprefix("sha256:") for f in overlapped[1]}  # type: ignore[index]

    for p in project.blobs():  # the old order: copy everything, then pack from the store
        p.chmod(0o644)
        p.unlink()
    monkeypatch.setattr(FileSource, "is_local", lambda self: False)
    serial = _import(project, f"{project.repo}-serial")
    assert overlapped == serial
    assert {p.name for p in project.blobs()} == blobs


def test_a_checked_reader_refuses_bytes_other_than_the_hashed_ones(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abcdef")
    good = InventoryFile("f", 6, "sha256:" + hashlib.sha256(b"abcdef").hexdigest())
    with CheckedReader(open(path, "rb"), good) as reader:
        assert reader.read(4) + reader.read(4) == b"abcdef"
        assert reader.read(1) == b""
    bad = InventoryFile("f", 6, "sha256:" + "0" * 64)
    with CheckedReader(open(path, "rb"), bad) as reader, pytest.raises(LayerSourceError) as err:
        reader.read(3)  # not yet at the end: nothing to compare
        reader.read(3)
    assert "digest mismatch" in str(err.value) and '"f"' in str(err.value)


def test_a_checked_reader_closes_its_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"")
    raw = open(path, "rb")  # noqa: SIM115 (closing it is what the reader must do)
    empty = "sha256:" + hashlib.sha256(b"").hexdigest()
    with CheckedReader(raw, InventoryFile("f", 0, empty)) as reader:
        assert reader.read(1) == b""
    assert raw.closed
