"""Pull by reference: a weight manifest and config blob as a synthetic lock entry."""

from __future__ import annotations

import orjson
import pytest
from returns.result import Failure, Success

from cogw.core.digest import sha256_of
from cogw.core.oci import ARTIFACT_TYPE, config_blob, manifest_bytes
from cogw.core.plan import FetchLayer, plan_fetches
from cogw.core.reference import Repository
from cogw.core.refpull import (
    PullReference,
    config_digest,
    entry_from_artifact,
    is_index,
    looks_like_reference,
    parse_pull_reference,
    weights_in_index,
)
from tests.core.builders import entry, spec

ENTRY = entry(
    spec("minilm"),
    {"bundle": [("config.json", 20), ("vocab.txt", 1200)], "big": [("model.bin", 9000)]},
)
CONFIG = config_blob(ENTRY)
MANIFEST = manifest_bytes(ENTRY, CONFIG)


def test_manifest_and_config_give_back_the_lock_entry() -> None:
    got = entry_from_artifact(MANIFEST, sha256_of(MANIFEST), CONFIG, "r/x@d").unwrap()
    assert (got.name, got.target, got.set_digest) == (ENTRY.name, ENTRY.target, ENTRY.set_digest)
    assert sorted(got.files, key=lambda f: f.path) == sorted(ENTRY.files, key=lambda f: f.path)
    assert sorted(got.layers, key=lambda layer: layer.digest) == sorted(
        ENTRY.layers, key=lambda layer: layer.digest
    )
    assert got.digest == sha256_of(MANIFEST)
    assert config_digest(MANIFEST) == sha256_of(CONFIG)


def test_synthetic_entry_plans_only_layers_with_missing_files() -> None:
    got = entry_from_artifact(MANIFEST, sha256_of(MANIFEST), CONFIG, "r/x@d").unwrap()
    present = frozenset(f.digest for f in got.files if f.path != "model.bin")
    steps, _ = plan_fetches([got], present)
    assert [list(s.missing) for s in steps if isinstance(s, FetchLayer)] == [["model.bin"]]
    assert len(steps) == 1


def test_every_problem_in_an_artifact_is_reported() -> None:
    config = orjson.loads(CONFIG)
    config["files"][0]["path"] = "../escape"
    config["files"][1]["layer"] = "sha256:" + "f" * 64
    manifest = orjson.loads(MANIFEST)
    manifest["layers"][0]["mediaType"] = "text/plain"
    result = entry_from_artifact(
        orjson.dumps(manifest), "sha256:" + "a" * 64, orjson.dumps(config), "ref"
    )
    assert isinstance(result, Failure)
    summaries = " | ".join(p.summary for p in result.failure())
    assert "escapes" in summaries
    assert "is not in the manifest" in summaries
    assert "unsupported media type" in summaries
    assert all(p.subject == "ref" for p in result.failure())


def test_files_that_do_not_match_the_set_digest_are_refused() -> None:
    config = orjson.loads(CONFIG)
    config["files"][0]["size"] += 1
    config["setDigest"] = "sha256:" + "0" * 64
    result = entry_from_artifact(MANIFEST, "sha256:" + "a" * 64, orjson.dumps(config), "ref")
    assert isinstance(result, Failure)
    assert any("set digest" in p.summary for p in result.failure())


def test_weights_in_a_cog_bundle_index() -> None:
    index = orjson.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": "x", "digest": "sha256:" + "1" * 64, "size": 1},
                {"artifactType": ARTIFACT_TYPE, "digest": "sha256:" + "2" * 64, "size": 1},
                {"artifactType": ARTIFACT_TYPE, "digest": "sha256:" + "3" * 64, "size": 1},
            ],
        }
    )
    assert is_index(index) and not is_index(MANIFEST)
    assert weights_in_index(index, "i") == Success(("sha256:" + "2" * 64, "sha256:" + "3" * 64))
    assert isinstance(weights_in_index(b'{"manifests": []}', "i"), Failure)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "127.0.0.1:5000/a/b@sha256:" + "e" * 64,
            PullReference(Repository("127.0.0.1:5000", "a/b"), "sha256:" + "e" * 64),
        ),
        (
            "r8.im/acme/m:weights-x-123",
            PullReference(Repository("r8.im", "acme/m"), "weights-x-123"),
        ),
    ],
)
def test_references_parse(text: str, expected: PullReference) -> None:
    assert parse_pull_reference(text) == Success(expected)
    assert parse_pull_reference(text).unwrap().name == text


@pytest.mark.parametrize("text", ["r8.im/acme/m", "r8.im/acme/m@sha256:zz", "R8.im/Acme/m:t"])
def test_bad_references_are_diagnostics(text: str) -> None:
    assert isinstance(parse_pull_reference(text), Failure)


def test_weight_names_are_not_references() -> None:
    assert not looks_like_reference("minilm")
    assert looks_like_reference("localhost:5000/m@sha256:" + "a" * 64)
