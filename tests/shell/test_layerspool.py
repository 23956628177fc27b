"""Spooled layers: digested once, pushed from the very bytes that were digested."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest
from pyrsistent import pvector

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.artifact.packing import LayerPlan
from cogw.core.lock.lockfile import MEDIA_TYPE_TAR, MEDIA_TYPE_TAR_GZIP
from cogw.shell.layers import digest_layer, stream_layer
from cogw.shell.layerspool import LayerSpools


def _tree(root: Path, count: int) -> list[InventoryFile]:
    files = []
    for i in range(count):
        data = os.urandom(i * 97) + b"text " * i
        (root / f"f{i}.json").write_bytes(data)
        files.append(InventoryFile(f"f{i}.json", len(data), hashlib.sha256(data).hexdigest()))
    return files


def _counting_opener(root: Path, opened: list[str]) -> Callable[[InventoryFile], IO[bytes]]:
    def open_file(f: InventoryFile) -> IO[bytes]:
        opened.append(f.path)
        return (root / f.path).open("rb")

    return open_file


@pytest.mark.parametrize("jobs", [1, 3])
def test_a_gzip_layer_is_built_once_and_pushed_from_its_digested_bytes(
    tmp_path: Path, jobs: int
) -> None:
    files = _tree(tmp_path, 12)
    gz = [LayerPlan(pvector(files[i::2]), MEDIA_TYPE_TAR_GZIP, 9) for i in range(2)]
    raw = LayerPlan(pvector(files[:1]), MEDIA_TYPE_TAR, None)
    plans = [*gz, raw]
    opened: list[str] = []
    spool_dir = tmp_path / "store"
    with LayerSpools(spool_dir) as spools:
        layers = spools.digest(plans, _counting_opener(tmp_path, opened), jobs)
        assert layers == [digest_layer(p, _counting_opener(tmp_path, [])) for p in plans]
        built = len(opened)
        for plan, layer in zip(plans, layers, strict=True):
            for _ in range(2):  # a retried push reads the same bytes from the start
                blob = b"".join(spools.chunks(plan, _counting_opener(tmp_path, opened)))
                assert len(blob) == layer.size
                assert "sha256:" + hashlib.sha256(blob).hexdigest() == layer.digest
        # Only the uncompressed layer was built again (its one file, twice).
        assert opened[built:] == [raw.files[0].path] * 2
        assert os.listdir(spool_dir) == []  # the spools have no names to leave behind
    expected = b"".join(stream_layer(gz[0], _counting_opener(tmp_path, [])))
    with LayerSpools(spool_dir) as spools:
        spools.digest(gz[:1], _counting_opener(tmp_path, []), 1)
        assert b"".join(spools.chunks(gz[0], _counting_opener(tmp_path, []))) == expected


def test_a_plan_never_digested_is_built_from_its_files(tmp_path: Path) -> None:
    files = _tree(tmp_path, 3)
    plan = LayerPlan(pvector(files), MEDIA_TYPE_TAR_GZIP, 9)
    with LayerSpools(tmp_path / "store") as spools:
        blob = b"".join(spools.chunks(plan, _counting_opener(tmp_path, [])))
    assert blob == b"".join(stream_layer(plan, _counting_opener(tmp_path, [])))
