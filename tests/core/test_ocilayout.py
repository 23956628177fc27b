"""OCI image layouts: the index.json bytes, reading an index and a manifest's blobs back."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest
from pyrsistent import pvector
from returns.result import Failure, Success

from cogw.core.artifact.oci import ARTIFACT_TYPE, MEDIA_TYPE_CONFIG, config_blob, manifest_bytes
from cogw.core.artifact.ocilayout import (
    ANNOTATION_REF_NAME,
    LAYOUT_BYTES,
    LayoutManifest,
    LayoutSource,
    blob_path,
    export_entries,
    find_manifest,
    index_bytes,
    manifest_blobs,
    parse_index,
    parse_layout_source,
    rebuilt_artifact,
    standalone_file,
    unique_blobs,
)
from cogw.core.artifact.tarformat import standalone_framing
from cogw.core.digest import sha256_of
from cogw.core.lock.lockfile import MEDIA_TYPE_TAR, MEDIA_TYPE_TAR_GZIP, Lockfile, WeightEntry
from tests.core.builders import d, entry, spec

ENTRY = entry(
    spec("minilm"),
    {"bundle": [("config.json", 20), ("vocab.txt", 1200)], "big": [("model.bin", 9000)]},
)
CONFIG = config_blob(ENTRY)
MANIFEST = manifest_bytes(ENTRY, CONFIG)
A = LayoutManifest("weights-b-123", sha256_of(b"b"), 10)
B = LayoutManifest("weights-a-456", sha256_of(b"a"), 20)


def test_layout_marker_is_the_spec_version() -> None:
    assert orjson.loads(LAYOUT_BYTES) == {"imageLayoutVersion": "1.0.0"}


def test_sources_are_a_directory_or_a_tar() -> None:
    assert parse_layout_source("oci:/x/y") == Success(LayoutSource("/x/y", False))
    assert parse_layout_source("oci:w.tar") == Success(LayoutSource("w.tar", True))
    for bad in ("/x/y", "oci:", "docker://x"):
        assert isinstance(parse_layout_source(bad), Failure)


def test_blob_path_only_for_digests() -> None:
    assert blob_path("sha256:" + "ab" * 32) == "blobs/sha256/" + "ab" * 32
    with pytest.raises(ValueError):
        blob_path("sha256:../../etc/passwd")


def test_index_lists_each_manifest_with_its_tag_sorted_and_reads_back() -> None:
    raw = index_bytes([A, B])
    index = orjson.loads(raw)
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    tags = [m["annotations"][ANNOTATION_REF_NAME] for m in index["manifests"]]
    assert tags == ["weights-a-456", "weights-b-123"]
    assert all(m["artifactType"] == ARTIFACT_TYPE for m in index["manifests"])
    assert index_bytes([B, A]) == raw  # order does not change the bytes
    assert parse_index(raw, "i") == Success((B, A))


def test_index_problems_are_all_reported() -> None:
    raw = orjson.dumps(
        {
            "manifests": [
                {"mediaType": "m", "digest": "nope", "size": 1},
                {"mediaType": "m", "digest": sha256_of(b"x"), "size": -1},
                {"mediaType": "m", "digest": sha256_of(b"y"), "size": 1,
                 "annotations": {ANNOTATION_REF_NAME: "t"}},
                {"mediaType": "m", "digest": sha256_of(b"z"), "size": 1,
                 "annotations": {ANNOTATION_REF_NAME: "t"}},
            ]
        }
    )  # fmt: skip
    result = parse_index(raw, "layout/index.json")
    assert isinstance(result, Failure)
    summaries = [p.summary for p in result.failure()]
    assert len(summaries) == 3
    assert any("invalid digest" in s for s in summaries)
    assert any("invalid size" in s for s in summaries)
    assert any('tag "t"' in s for s in summaries)
    assert all(p.subject == "layout/index.json" for p in result.failure())
    assert isinstance(parse_index(b"[]", "i"), Failure)
    assert isinstance(parse_index(b'{"manifests": []}', "i"), Failure)


def test_manifest_blobs_are_the_config_then_the_layers() -> None:
    blobs = manifest_blobs(MANIFEST, "m").unwrap()
    assert blobs[0].digest == sha256_of(CONFIG)
    assert blobs[0].media_type == MEDIA_TYPE_CONFIG
    assert blobs[0].size == len(CONFIG)
    assert {b.digest for b in blobs[1:]} == {layer.digest for layer in ENTRY.layers}
    assert isinstance(manifest_blobs(b'{"config": {}, "layers": 3}', "m"), Failure)


def test_find_manifest_by_tag_or_digest() -> None:
    assert find_manifest([A, B], "weights-a-456") == B
    assert find_manifest([A, B], A.digest) == A
    assert find_manifest([A, B], "weights-c") is None


def test_shared_blobs_are_written_once() -> None:
    blobs = manifest_blobs(MANIFEST, "m").unwrap()
    assert unique_blobs([*blobs, *blobs]) == blobs


def test_export_needs_imported_weights() -> None:
    assert isinstance(export_entries(None, "weights.lock"), Failure)
    assert isinstance(export_entries(Lockfile(), "weights.lock"), Failure)
    lock = Lockfile(weights=pvector([ENTRY]))
    assert export_entries(lock, "weights.lock") == Success((ENTRY,))


def test_manifest_and_config_are_rebuilt_only_when_they_hash_to_the_lock_digest() -> None:
    assert rebuilt_artifact(ENTRY) is None  # the builder's digest is not the real one
    real = replace(ENTRY, digest=sha256_of(MANIFEST))
    assert rebuilt_artifact(real) == (CONFIG, MANIFEST)


def _with_layer_size(e: WeightEntry, label: str, size: int, media_type: str) -> WeightEntry:
    layers = [
        replace(x, size=size, media_type=media_type) if x.digest == d(label) else x
        for x in e.layers
    ]
    return replace(e, layers=pvector(layers))


def test_only_an_uncompressed_one_file_layer_is_rebuilt_from_the_store() -> None:
    before, after = standalone_framing("model.bin", 9000)
    framed = len(before) + 9000 + len(after)
    good = _with_layer_size(ENTRY, "big", framed, MEDIA_TYPE_TAR)
    found = standalone_file(good, d("big"))
    assert found is not None and found.path == "model.bin"
    assert standalone_file(good, d("bundle")) is None  # two files
    assert standalone_file(good, d("absent")) is None
    assert (
        standalone_file(_with_layer_size(ENTRY, "big", framed + 512, MEDIA_TYPE_TAR), d("big"))
        is None
    )
    gzipped = _with_layer_size(ENTRY, "big", framed, MEDIA_TYPE_TAR_GZIP)
    assert standalone_file(gzipped, d("big")) is None
