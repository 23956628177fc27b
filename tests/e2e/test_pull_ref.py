"""`cogw pull REGISTRY/REPO@DIGEST [--to DIR]` with no project, against the real registry:
a single weight, and a Cog-style bundle index (pushed here) holding two weights."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cogw.shell.cli import cli
from tests.e2e.conftest import SMALL_FILES, Project, tree, write_tree
from tests.fixtures.registry import RunningRegistry

pytestmark = pytest.mark.registry

OTHER_FILES = {"weights.bin": b"\x00\x01" * 5000, "README": b"second weight\n"}


def two_weights(tmp_path: Path, registry: RunningRegistry) -> Project:
    project = Project(tmp_path / "project", tmp_path / "cache-import", registry, "ref/bundle")
    project.dir.mkdir()
    write_tree(project.dir / "w" / "a", SMALL_FILES)
    write_tree(project.dir / "w" / "b", OTHER_FILES)
    project.write_config(
        "weights:\n"
        "  - name: alpha\n    target: /src/a\n    source:\n      uri: w/a\n"
        "  - name: beta\n    target: /src/b\n    source:\n      uri: w/b\n"
    )
    assert project.run("import").exit_code == 0
    return project


def run_outside(tmp_path: Path, *args: str) -> Result:
    # No --project: the command must not need cog.yaml or weights.lock.
    env = {"COG_CACHE_DIR": str(tmp_path / "fresh-cache"), "CONTAINERS_REGISTRIES_CONF": "/none"}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def push_index(registry: RunningRegistry, repo: str, manifests: list[tuple[str, int]]) -> str:
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "artifactType": "application/vnd.cog.weight.v1",
                    "digest": digest,
                    "size": size,
                }
                for digest, size in manifests
            ],
        }
    ).encode()
    request = urllib.request.Request(
        f"{registry.url}/v2/{repo}/manifests/bundle",
        data=index,
        method="PUT",
        headers={"Content-Type": "application/vnd.oci.image.index.v1+json"},
    )
    urllib.request.urlopen(request).close()
    return "sha256:" + hashlib.sha256(index).hexdigest()


def manifest_size(registry: RunningRegistry, repo: str, digest: str) -> int:
    request = urllib.request.Request(
        f"{registry.url}/v2/{repo}/manifests/{digest}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    with urllib.request.urlopen(request) as response:
        return len(response.read())


def test_pull_one_weight_by_digest_into_an_empty_cache_and_a_directory(
    tmp_path: Path, registry: RunningRegistry
) -> None:
    project = two_weights(tmp_path, registry)
    lock = json.loads(project.lock.read_text())
    alpha = lock["weights"][0]["digest"]
    out = tmp_path / "out"
    result = run_outside(
        tmp_path, "pull", f"{registry.host}/{project.repo}@{alpha}", "--to", str(out)
    )
    assert result.exit_code == 0, result.output
    assert tree(out) == SMALL_FILES
    # Hardlinks to the store by default: same inode as the cache blob.
    sample = out / "config.json"
    assert sample.stat().st_nlink >= 2
    again = run_outside(
        tmp_path, "pull", f"{registry.host}/{project.repo}@{alpha}", "--to", str(out)
    )
    assert again.exit_code == 0, again.output


def test_pull_a_bundle_index_puts_each_weight_under_its_name(
    tmp_path: Path, registry: RunningRegistry
) -> None:
    project = two_weights(tmp_path, registry)
    lock = json.loads(project.lock.read_text())
    digests = [w["digest"] for w in lock["weights"]]
    index = push_index(
        registry, project.repo, [(d, manifest_size(registry, project.repo, d)) for d in digests]
    )
    out = tmp_path / "out"
    result = run_outside(
        tmp_path,
        "pull",
        f"{registry.host}/{project.repo}@{index}",
        "--to",
        str(out),
        "--link-mode",
        "copy",
    )
    assert result.exit_code == 0, result.output
    assert tree(out / "alpha") == SMALL_FILES
    assert tree(out / "beta") == OTHER_FILES
    assert (out / "beta" / "README").stat().st_nlink == 1


def test_a_reference_that_is_not_there_is_one_clear_error(
    tmp_path: Path, registry: RunningRegistry
) -> None:
    result = run_outside(tmp_path, "pull", f"{registry.host}/nothing/here@sha256:{'a' * 64}")
    assert result.exit_code == 1
    assert "error:" in result.output
    assert "Traceback" not in result.output
