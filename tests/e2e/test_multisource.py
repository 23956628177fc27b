"""A weight of several sources (current Cog) through the CLI against the real registry:
import merges by path with the last source winning and says which source overrides
which, weights.lock records every source with its own fingerprint, pull and prepare
give the merged tree, and a moved source is named by its index."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import Project, mount_sources, tree

pytestmark = pytest.mark.registry

BASE = {
    "config.json": b'{"hidden_size": 384}',
    "tokenizer.json": b'{"vocab": ["a", "b"]}',
    "README.md": b"# base model\n",
}
PATCH = {"config.json": b'{"hidden_size": 768}', "extra/lora.json": b'{"rank": 8}'}
MERGED = {
    "config.json": PATCH["config.json"],  # the later source wins the path
    "tokenizer.json": BASE["tokenizer.json"],
    "extra/lora.json": PATCH["extra/lora.json"],
}  # README.md is excluded by the base source's own filter

TWO_SOURCES = """\
weights:
  - name: llm
    target: /src/weights/llm
    source:
      - uri: weights/base
        exclude: ["*.md"]
      - uri: weights/patch
"""


def _config(project: Project, key: str) -> None:
    (project.dir / "cog.yaml").write_text(
        f"{key}: {project.repo}\nrun: run.py:Runner\n{TWO_SOURCES}"
    )


@pytest.fixture
def two_sources(
    project: Project, make_weights: Callable[[str, dict[str, bytes]], Path]
) -> dict[str, str]:
    make_weights("base", BASE)
    make_weights("patch", PATCH)
    _config(project, "model")
    return {"COG_MODEL_REGISTRY": project.registry.host}


def test_a_weight_of_two_sources_imports_pulls_and_prepares_the_merged_files(
    project: Project, two_sources: dict[str, str]
) -> None:
    imported = project.run("import", "-v", env=two_sources)
    assert imported.exit_code == 0, imported.output
    assert 'weight "llm": source[1] (file://./weights/patch) overrides config.json' in (
        imported.output
    )
    (entry,) = json.loads(project.lock.read_bytes())["weights"]
    assert [s["uri"] for s in entry["sources"]] == [
        "file://./weights/base",
        "file://./weights/patch",
    ]
    assert entry["sources"][0]["exclude"] == ["*.md"]
    assert all(s["fingerprint"].startswith("sha256:") for s in entry["sources"])
    assert entry["sources"][0]["fingerprint"] != entry["sources"][1]["fingerprint"]
    assert sorted(f["path"] for f in entry["files"]) == sorted(MERGED)
    status = project.run("status", "--json", env=two_sources)
    (row,) = json.loads(status.stdout)["weights"]
    assert (row["status"], row["source"]["uri"]) == ("ready", "file://./weights/base (+1 more)")

    shutil.rmtree(project.cache)
    pulled = project.run("pull", env=two_sources)
    assert pulled.exit_code == 0, pulled.output
    prepared = project.run("prepare", "--json", env=two_sources)
    assert prepared.exit_code == 0, prepared.output
    assert tree(Path(mount_sources(prepared.stdout)["/src/weights/llm"])) == MERGED
    assert project.run("release", "--all", env=two_sources).exit_code == 0

    before = project.lock.read_bytes()
    again = project.run("import", env=two_sources)
    assert again.exit_code == 0, again.output
    assert project.lock.read_bytes() == before


def test_a_moved_second_source_is_named_by_its_index_and_reimported(
    project: Project, two_sources: dict[str, str]
) -> None:
    assert project.run("import", env=two_sources).exit_code == 0
    (project.dir / "weights" / "patch" / "config.json").write_bytes(b'{"hidden_size": 1024}')
    planned = project.run("plan", "import", env=two_sources)
    assert planned.exit_code == 0, planned.output
    assert "source[1] fingerprint: sha256:" in planned.output
    assert "source[1] (file://./weights/patch): 1 added, 1 overriding" in planned.output
    assert project.run("import", env=two_sources).exit_code == 0
    (entry,) = json.loads(project.lock.read_bytes())["weights"]
    config = next(f for f in entry["files"] if f["path"] == "config.json")
    prepared = project.run("prepare", "--json", "--pull", env=two_sources)
    assert prepared.exit_code == 0, prepared.output
    mounted = Path(mount_sources(prepared.stdout)["/src/weights/llm"])
    assert (mounted / "config.json").read_bytes() == b'{"hidden_size": 1024}'
    assert config["size"] == len(b'{"hidden_size": 1024}')


def test_a_v0_19_3_project_cannot_record_two_sources_and_says_why(
    project: Project, make_weights: Callable[[str, dict[str, bytes]], Path]
) -> None:
    make_weights("base", BASE)
    make_weights("patch", PATCH)
    _config(project, "image")
    refused = project.run("import")
    assert refused.exit_code != 0
    assert "Traceback" not in refused.output
    assert "sources" in refused.output
    assert not project.lock.exists()


def test_status_sources_compares_the_merge_source_by_source(
    project: Project, two_sources: dict[str, str]
) -> None:
    assert project.run("import", env=two_sources).exit_code == 0
    clean = project.run("status", "--sources", env=two_sources)
    assert clean.exit_code == 0, clean.output
    # The base's own config.json changes, but the patch overrides it: no merged file moved.
    (project.dir / "weights" / "base" / "config.json").write_bytes(b'{"hidden_size": 1}')
    shadowed = project.run("status", "--sources", "--json", env=two_sources)
    (row,) = json.loads(shadowed.stdout)["weights"]
    assert row["sourceCheck"]["moved"] is True  # source[0]'s fingerprint moved
    assert "changed" not in row["sourceCheck"] or not row["sourceCheck"]["changed"]
    assert "source[0] sha256:" in row["details"] and "no included file changed" in row["details"]
    # A file only the patch holds changes: that file is named.
    (project.dir / "weights" / "patch" / "extra" / "lora.json").write_bytes(b'{"rank": 16}')
    moved = project.run("status", "--sources", env=two_sources)
    assert moved.exit_code == 1
    assert "llm: changed: extra/lora.json" in moved.stdout


def test_a_lost_layer_of_two_sources_is_packed_again_from_each_source(
    project: Project, two_sources: dict[str, str]
) -> None:
    assert project.run("import", env=two_sources).exit_code == 0
    lock_bytes = project.lock.read_bytes()
    (entry,) = json.loads(lock_bytes)["weights"]
    (layer,) = entry["layers"]  # the three small files share one bundle
    url = f"{project.registry.url}/v2/{project.repo}/blobs/{layer['digest']}"
    assert requests.delete(url, timeout=10).status_code == 202
    shutil.rmtree(project.cache)  # the store cannot give the files back either
    planned = project.run("plan", "import", env=two_sources)
    assert planned.exit_code == 0, planned.output
    assert "repush llm" in planned.output and "the source" in planned.output
    repaired = project.run("import", env=two_sources)
    assert repaired.exit_code == 0, repaired.output
    assert requests.head(url, timeout=10).status_code == 200
    assert project.lock.read_bytes() == lock_bytes
    fresh_pull = project.run("prepare", "--pull", "--json", env=two_sources)
    assert fresh_pull.exit_code == 0, fresh_pull.output
    assert tree(Path(mount_sources(fresh_pull.stdout)["/src/weights/llm"])) == MERGED
