"""Config blob, manifest and tag: byte-exact with Cog's recorded digests."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pvector

from cogw.core.artifact.oci import (
    ANNOTATION_SIZE_UNCOMPRESSED,
    ARTIFACT_TYPE,
    MEDIA_TYPE_CONFIG,
    TAG_MAX,
    config_blob,
    manifest_bytes,
    manifest_descriptor,
    manifest_layer_problem,
    manifest_problems,
    weight_tag,
)
from cogw.core.digest import sha256_of
from cogw.core.lock.lockfile import (
    MEDIA_TYPE_TAR,
    MEDIA_TYPE_TAR_GZIP,
    LockFile,
    LockLayer,
    LockSource,
    WeightEntry,
    parse_lockfile,
)

GOLDEN = Path(__file__).parent / "golden" / "cog_example_weights.lock"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


def _golden_entries(path: Path = GOLDEN) -> dict[str, WeightEntry]:
    return {w.name: w for w in parse_lockfile(path.read_bytes()).unwrap().weights}


def _small_entry(**changes: Any) -> WeightEntry:
    entry = WeightEntry(
        name="alpha",
        target="/src/weights/alpha",
        source=LockSource("file://./w", "sha256:" + "f" * 64),
        digest="",
        set_digest=D3,
        size=10,
        size_compressed=300,
        files=pvector([LockFile("a.json", 10, D1, D2)]),
        layers=pvector([LockLayer(D2, MEDIA_TYPE_TAR_GZIP, 300, 10)]),
    )
    return replace(entry, **changes)


GOLDEN_VALUES = [
    pytest.param(
        "parakeet",
        1394,
        "sha256:3214c0d41de8a8a3186dc901fad157ae40970eaac30b1d8b036d565b5cd4258e",
        933,
        id="parakeet",
    ),
    pytest.param(
        "minilm",
        2220,
        "sha256:341467be79475a9abac57608e59b327d484c447c9e347e39c8366181c66243e2",
        924,
        id="minilm",
    ),
]


@pytest.mark.parametrize(("name", "blob_size", "blob_digest", "manifest_size"), GOLDEN_VALUES)
def test_config_blob_and_manifest_reproduce_cogs_recorded_manifest_digest(
    name: str, blob_size: int, blob_digest: str, manifest_size: int
) -> None:
    entry = _golden_entries()[name]
    blob = config_blob(entry)
    manifest = manifest_bytes(entry, blob)
    assert (len(blob), sha256_of(blob)) == (blob_size, blob_digest)
    assert len(manifest) == manifest_size
    assert manifest_descriptor(manifest).digest == entry.digest


@pytest.mark.parametrize("path", sorted(GOLDEN.parent.glob("*.lock")), ids=lambda p: p.name)
def test_every_golden_lockfile_entry_reproduces_its_manifest_digest(path: Path) -> None:
    entries = _golden_entries(path)
    assert entries
    for entry in entries.values():
        assert manifest_problems(entry) == ()
        manifest = manifest_bytes(entry, config_blob(entry))
        assert manifest_descriptor(manifest).digest == entry.digest, entry.name


def test_manifest_lists_layers_by_digest_whatever_their_order_in_the_entry() -> None:
    entry = _golden_entries()["minilm"]
    reversed_layers = replace(entry, layers=pvector(reversed(entry.layers)))
    blob = config_blob(entry)
    layers = json.loads(manifest_bytes(reversed_layers, blob))["layers"]
    assert [x["digest"] for x in layers] == sorted(x.digest for x in entry.layers)
    assert manifest_bytes(reversed_layers, blob) == manifest_bytes(entry, blob)


def test_config_blob_lists_files_by_path_with_cogs_key_order() -> None:
    files = pvector([LockFile("b", 1, D1, D2), LockFile("a", 2, D3, D2)])
    blob = json.loads(config_blob(_small_entry(files=files)))
    assert list(blob) == ["name", "target", "setDigest", "files"]
    assert [f["path"] for f in blob["files"]] == ["a", "b"]
    assert list(blob["files"][0]) == ["path", "layer", "size", "digest"]


def test_manifest_carries_cogs_media_types_and_annotations() -> None:
    entry = _small_entry()
    manifest = json.loads(manifest_bytes(entry, config_blob(entry)))
    assert list(manifest) == [
        "schemaVersion",
        "mediaType",
        "artifactType",
        "config",
        "layers",
        "annotations",
    ]
    assert manifest["artifactType"] == ARTIFACT_TYPE
    assert manifest["config"]["mediaType"] == MEDIA_TYPE_CONFIG
    assert manifest["layers"][0]["annotations"] == {ANNOTATION_SIZE_UNCOMPRESSED: "10"}
    assert manifest["annotations"]["run.cog.weight.target"] == "/src/weights/alpha"


def test_config_blob_escapes_html_characters_like_go() -> None:
    blob = config_blob(_small_entry(files=pvector([LockFile("a&b<c>.json", 1, D1, D2)])))
    assert b'"a\\u0026b\\u003cc\\u003e.json"' in blob


def test_config_blob_of_an_entry_without_files_is_a_bug() -> None:
    with pytest.raises(ValueError, match="no files for config blob"):
        config_blob(_small_entry(files=pvector()))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({}, (), id="valid entry"),
        pytest.param({"name": ""}, ("weight name is required",), id="no name"),
        pytest.param({"target": ""}, ("weight target is required",), id="no target"),
        pytest.param({"set_digest": ""}, ("weight set digest is required",), id="no set digest"),
        pytest.param(
            {"layers": pvector()},
            ("at least one layer is required",),
            id="no layers",
        ),
        pytest.param(
            {"layers": pvector([LockLayer("", MEDIA_TYPE_TAR, 1, 1)])},
            ("layer 0: missing digest",),
            id="layer without digest",
        ),
        pytest.param(
            {"layers": pvector([LockLayer(D2, "", 0, -1)])},
            (
                f"layer 0 ({D2}): invalid size 0",
                f"layer 0 ({D2}): invalid uncompressed size -1",
                f"layer 0 ({D2}): missing media type",
            ),
            id="every layer problem at once",
        ),
        pytest.param(
            {"layers": pvector([LockLayer(D2, MEDIA_TYPE_TAR, 9, 1), LockLayer(D1, "m", 9, 1)])},
            (f"layer 0 ({D1}): plan has no files",),
            id="layer holding no file, indexed after sorting",
        ),
        pytest.param(
            {
                "files": pvector([LockFile("empty", 0, D1, D2)]),
                "layers": pvector([LockLayer(D2, MEDIA_TYPE_TAR_GZIP, 2560, 0)]),
            },
            (),
            id="weight of only zero-byte files is accepted",
        ),
        pytest.param(
            {"name": "", "target": "", "files": pvector()},
            (
                "weight name is required",
                "weight target is required",
                "weight files are required for config blob",
                f"layer 0 ({D2}): plan has no files",
            ),
            id="all problems reported together in Cog's order",
        ),
    ],
)
def test_manifest_problems_use_cogs_messages(
    changes: dict[str, Any], expected: tuple[str, ...]
) -> None:
    assert manifest_problems(_small_entry(**changes)) == expected


@pytest.mark.parametrize(
    ("name", "set_digest", "expected"),
    [
        pytest.param("minilm", D1, "weights-minilm-111111111111", id="name and 12 hex"),
        pytest.param("minilm", "nocolon", "weights-minilm", id="digest without colon"),
        pytest.param("minilm", "sha256:", "weights-minilm", id="digest with empty hex"),
        pytest.param("a", "sha256:abc", "weights-a-abc", id="short hex kept whole"),
    ],
)
def test_weight_tag_follows_cogs_scheme(name: str, set_digest: str, expected: str) -> None:
    assert weight_tag(name, set_digest) == expected


def test_weight_tag_of_a_long_name_fits_and_stays_distinct() -> None:
    first = weight_tag("x" * 200 + "a", D1)
    second = weight_tag("x" * 200 + "b", D1)
    assert len(first) == TAG_MAX
    assert first != second
    assert first.endswith("-111111111111")


_NAMES = st.from_regex(r"[a-z0-9]+(?:[._-][a-z0-9]+)*", fullmatch=True)
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")


@given(name=_NAMES, hexpart=st.text("0123456789abcdef", max_size=64))
def test_weight_tag_is_always_a_valid_oci_tag(name: str, hexpart: str) -> None:
    tag = weight_tag(name, "sha256:" + hexpart)
    assert _TAG.fullmatch(tag), tag
    if len(name) <= 107:
        assert tag.startswith(f"weights-{name}")


LAYER = LockLayer("sha256:" + "1" * 64, "application/vnd.oci.image.layer.v1.tar", 4096, 10)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'{"layers":[{"digest":"sha256:' + b"1" * 64 + b'","size":4096}]}', None),
        (b'{"layers":[]}', "does not list layer"),
        (b'{"layers":[{"digest":"sha256:' + b"1" * 64 + b'","size":5}]}', "manifest size 5"),
        (b"not json", "not valid JSON"),
        (b'{"layers":["x"]}', "not valid JSON"),
    ],
    ids=["matches", "layer-missing", "size-differs", "not-json", "malformed-layers"],
)
def test_a_fetched_manifest_must_list_every_recorded_layer_with_its_size(raw, problem):
    found = manifest_layer_problem(raw, "sha256:" + "9" * 64, [LAYER])
    assert found is None if problem is None else problem in found
