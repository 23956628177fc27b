"""Writing and reading OCI layouts on real disk: blobs kept only when their digest checks,
a tar read by member offsets, and memory that stays flat for large blobs."""

from __future__ import annotations

import hashlib
import tarfile
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from cogw.core.artifact.ocilayout import LayoutManifest, LayoutSource, blob_path, index_bytes
from cogw.core.digest import sha256_of
from cogw.shell.ocilayout_read import LayoutError, LayoutRegistry
from cogw.shell.ocilayout_write import LayoutWriteError, layout_writer
from cogw.shell.registry import (
    RegistryCancelled,
    RegistryDigestMismatch,
    RegistryError,
    RegistryNotFound,
)

MANIFEST = b'{"schemaVersion":2,"layers":[]}'
LAYER = b"layer bytes " * 1000


def write_layout(dest: Path, blobs: list[bytes]) -> None:
    writer = layout_writer(dest)
    for blob in blobs:
        writer.add_blob(sha256_of(blob), len(blob), [blob[:7], blob[7:]])
    manifest = LayoutManifest("weights-x-1", sha256_of(MANIFEST), len(MANIFEST))
    writer.finish(index_bytes([manifest]))


@pytest.fixture(params=["dir", "tar"])
def dest(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return tmp_path / ("layout.tar" if request.param == "tar" else "layout")


def test_a_layout_reads_back_blob_for_blob(dest: Path) -> None:
    write_layout(dest, [LAYER, MANIFEST])
    layout = LayoutRegistry(LayoutSource(str(dest), dest.name.endswith(".tar")))
    assert [m.tag for m in layout.manifests] == ["weights-x-1"]
    assert layout.get_manifest("any", "weights-x-1").raw == MANIFEST
    assert layout.get_manifest("any", sha256_of(MANIFEST)).raw == MANIFEST
    got = b"".join(layout.iter_blob("any", sha256_of(LAYER), expected_size=len(LAYER)))
    assert got == LAYER
    assert layout.blob_exists("any", sha256_of(LAYER))
    assert not layout.blob_exists("any", sha256_of(b"other"))
    with pytest.raises(RegistryNotFound):
        list(layout.iter_blob("any", sha256_of(b"other")))
    with pytest.raises(RegistryDigestMismatch):
        list(layout.iter_blob("any", sha256_of(LAYER), expected_size=len(LAYER) + 1))
    assert layout.head_manifest("any", "weights-nope") is None


def test_a_blob_with_wrong_bytes_is_not_kept_and_can_be_written_again(dest: Path) -> None:
    writer = layout_writer(dest)
    wrong = b"X" + LAYER[1:]
    with pytest.raises(LayoutWriteError):
        writer.add_blob(sha256_of(LAYER), len(LAYER), [wrong])
    with pytest.raises(LayoutWriteError):
        writer.add_blob(sha256_of(LAYER), len(LAYER), [LAYER, b"extra"])
    assert not writer.has(sha256_of(LAYER), len(LAYER))
    writer.add_blob(sha256_of(LAYER), len(LAYER), [LAYER])
    writer.add_blob(sha256_of(MANIFEST), len(MANIFEST), [MANIFEST])
    writer.finish(index_bytes([LayoutManifest("t", sha256_of(MANIFEST), len(MANIFEST))]))
    if dest.name.endswith(".tar"):
        with tarfile.open(dest) as archive:
            names = [m.name for m in archive if m.isreg()]
        assert names.count(blob_path(sha256_of(LAYER))) == 1
    else:
        leftovers = [p.name for p in (dest / "blobs/sha256").iterdir() if p.name.startswith(".")]
        assert leftovers == []
    layout = LayoutRegistry(LayoutSource(str(dest), dest.name.endswith(".tar")))
    assert b"".join(layout.iter_blob("", sha256_of(LAYER))) == LAYER


def test_an_unfinished_tar_export_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "w.tar"
    writer = layout_writer(dest)
    writer.add_blob(sha256_of(LAYER), len(LAYER), [LAYER])
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_corrupted_blob_is_refused_after_its_last_byte(tmp_path: Path) -> None:
    dest = tmp_path / "layout"
    write_layout(dest, [LAYER, MANIFEST])
    path = dest / blob_path(sha256_of(LAYER))
    path.write_bytes(b"Y" + LAYER[1:])
    (dest / blob_path(sha256_of(MANIFEST))).write_bytes(MANIFEST + b" ")
    layout = LayoutRegistry(LayoutSource(str(dest), False))
    with pytest.raises(RegistryDigestMismatch):
        list(layout.iter_blob("", sha256_of(LAYER), expected_size=len(LAYER)))
    with pytest.raises(RegistryDigestMismatch):
        layout.get_manifest("", "weights-x-1")


def test_cancel_stops_a_stream(tmp_path: Path) -> None:
    dest = tmp_path / "layout"
    write_layout(dest, [LAYER, MANIFEST])
    layout = LayoutRegistry(LayoutSource(str(dest), False))
    cancel = threading.Event()
    stream = layout.iter_blob("", sha256_of(LAYER), chunk_size=100, cancel=cancel)
    next(stream)
    cancel.set()
    with pytest.raises(RegistryCancelled):
        list(stream)


def test_not_a_layout_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="no such directory"):
        LayoutRegistry(LayoutSource(str(tmp_path / "absent"), False))
    with pytest.raises(LayoutError, match="oci-layout"):
        LayoutRegistry(LayoutSource(str(tmp_path), False))
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(LayoutError, match="tar"):
        LayoutRegistry(LayoutSource(str(tmp_path / "junk.tar"), True))


BLOCK = hashlib.sha256(b"seed").digest() * (1 << 15)  # 1 MiB
BIG_BLOCKS = 48


def big_chunks() -> Iterator[bytes]:
    for i in range(BIG_BLOCKS):
        yield bytes([i]) + BLOCK[1:]


@pytest.mark.slow
def test_memory_stays_flat_for_a_large_blob(dest: Path) -> None:
    hasher = hashlib.sha256()
    for chunk in big_chunks():
        hasher.update(chunk)
    digest, size = "sha256:" + hasher.hexdigest(), BIG_BLOCKS * len(BLOCK)
    tracemalloc.start()
    try:
        writer = layout_writer(dest)
        writer.add_blob(digest, size, big_chunks())
        writer.finish(index_bytes([LayoutManifest("t", digest, size)]))
        layout = LayoutRegistry(LayoutSource(str(dest), dest.name.endswith(".tar")))
        read = sum(len(c) for c in layout.iter_blob("", digest, expected_size=size))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read == size
    assert peak < 8 * len(BLOCK), f"peak {peak} bytes for a {size}-byte blob"


def test_a_layout_is_read_only(tmp_path: Path) -> None:
    dest = tmp_path / "layout"
    write_layout(dest, [MANIFEST])
    layout = LayoutRegistry(LayoutSource(str(dest), False))
    with pytest.raises(RegistryError, match="read-only"):
        layout.put_manifest("", "t", MANIFEST, "m")
    with pytest.raises(RegistryError, match="read-only"):
        layout.push_blob("", sha256_of(LAYER), len(LAYER), lambda: [LAYER])
