"""Import from hf:// end to end: a loopback Hugging Face endpoint, the CLI and the real registry.

The ``hf_endpoint`` fixture serves repos with LFS files (redirected to a CDN
path) and inline files; refs move when a repo is added again, while old
commits stay readable by their sha, as on the Hub.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.e2e.conftest import Project, mount_sources, tree

pytestmark = pytest.mark.registry

REPO = "acme/tiny-model"
FILES = {
    "config.json": b'{"hidden_size": 32}',
    "tokenizer/vocab.txt": b"a\nb\nc\n" * 50,
    "model.safetensors": os.urandom(70_000),
    "onnx/model.onnx": os.urandom(30_000),
}
LFS = frozenset({"model.safetensors", "onnx/model.onnx"})
HF_WEIGHT = """weights:
  - name: tiny
    target: /src/weights/tiny
    source:
      uri: hf://acme/tiny-model
"""


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def lock_state(project: Project) -> tuple[bytes, int] | None:
    if not project.lock.exists():
        return None
    return project.lock.read_bytes(), project.lock.stat().st_mtime_ns


def the_entry(project: Project) -> dict:
    (entry,) = json.loads(project.lock.read_bytes())["weights"]
    return entry


def test_an_hf_repo_imports_at_its_commit_and_pulls_into_an_empty_cache(project, hf_endpoint):
    repo = hf_endpoint.add_repo(REPO, FILES, lfs=LFS)
    project.write_config(HF_WEIGHT)

    planned = project.run("plan", "import")
    assert planned.exit_code == 0, planned.stderr
    assert hf_endpoint.paths_requested("/cdn/") == []  # LFS digests come from the tree listing

    imported = project.run("import")
    assert imported.exit_code == 0, imported.stderr
    entry = the_entry(project)
    assert entry["source"]["fingerprint"] == f"commit:{repo.commit}"
    assert {f["path"]: f["digest"] for f in entry["files"]} == {p: sha(b) for p, b in FILES.items()}

    shutil.rmtree(project.cache)
    pulled = project.run("pull")
    assert pulled.exit_code == 0, pulled.stderr
    prepared = project.run("prepare", "--json")
    assert prepared.exit_code == 0, prepared.stderr
    assert tree(Path(mount_sources(prepared.stdout)["/src/weights/tiny"])) == FILES


def test_moving_the_ref_makes_plan_import_show_source_changed_and_a_reimport_records_it(
    project, hf_endpoint
):
    first = hf_endpoint.add_repo(REPO, FILES, lfs=LFS)
    project.write_config(HF_WEIGHT)
    assert project.run("import").exit_code == 0
    assert project.run("plan", "import", "--detailed-exitcode").exit_code == 0

    moved = {**FILES, "config.json": b'{"hidden_size": 64}', "extra.md": b"new file\n"}
    second = hf_endpoint.add_repo(REPO, moved, lfs=LFS)
    assert second.commit != first.commit
    planned = project.run("plan", "import")
    assert planned.exit_code == 0, planned.stderr
    assert "(source-changed)" in planned.stdout
    assert f"fingerprint: commit:{first.commit} → commit:{second.commit}" in planned.stdout
    assert f"files: {len(moved)} (+1 -0 ~1)" in planned.stdout

    assert project.run("import").exit_code == 0
    entry = the_entry(project)
    assert entry["source"]["fingerprint"] == f"commit:{second.commit}"
    assert {f["path"]: f["digest"] for f in entry["files"]} == {p: sha(b) for p, b in moved.items()}


@pytest.mark.parametrize(
    ("token", "needles"),
    [
        (None, ["HTTP 401", "set HF_TOKEN"]),
        ("wrong-token", ["HTTP 401", "was rejected"]),
    ],
    ids=["no-token", "wrong-token"],
)
def test_a_private_repo_without_the_right_hf_token_fails_clearly_and_writes_nothing(
    project, hf_endpoint, token, needles
):
    hf_endpoint.add_repo(REPO, FILES, lfs=LFS)
    project.write_config(HF_WEIGHT)
    assert project.run("import").exit_code == 0
    before = lock_state(project)

    hf_endpoint.add_repo(REPO, {**FILES, "config.json": b"{}"}, lfs=LFS)
    hf_endpoint.token = "the-right-token"
    env = {"HF_TOKEN": token} if token else {}
    result = project.run("import", env=env)
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
    assert "the-right-token" not in result.stderr and "wrong-token" not in result.stderr
    assert lock_state(project) == before


def test_hf_token_from_the_environment_is_sent_to_the_endpoint(project, hf_endpoint):
    repo = hf_endpoint.add_repo(REPO, FILES, lfs=LFS)
    hf_endpoint.token = "the-right-token"
    project.write_config(HF_WEIGHT)
    imported = project.run("import", env={"HF_TOKEN": "the-right-token"})
    assert imported.exit_code == 0, imported.stderr
    assert the_entry(project)["source"]["fingerprint"] == f"commit:{repo.commit}"
    shutil.rmtree(project.cache)
    assert project.run("pull").exit_code == 0  # the registry, not the endpoint, serves pulls


def test_an_hf_base_with_a_local_patch_merges_and_pins_each_source(
    project, hf_endpoint, make_weights
):
    """Current Cog's usual weight of several sources: a Hub repo, then local files that
    override some of its paths; the hf:// source is pinned to its commit, the local one
    to its directory hash, and the merge is what gets mounted."""
    repo = hf_endpoint.add_repo(REPO, FILES, lfs=LFS)
    make_weights("patch", {"config.json": b'{"hidden_size": 64}'})
    (project.dir / "cog.yaml").write_text(
        f"model: {project.repo}\n"
        "weights:\n  - name: tiny\n    target: /src/weights/tiny\n    source:\n"
        "      - uri: hf://acme/tiny-model\n        exclude: [onnx/]\n"
        "      - uri: weights/patch\n"
    )
    env = {"COG_MODEL_REGISTRY": project.registry.host}
    imported = project.run("import", "-v", env=env)
    assert imported.exit_code == 0, imported.output
    assert "source[1] (file://./weights/patch) overrides config.json" in imported.output
    entry = the_entry(project)
    assert [s["fingerprint"][:7] for s in entry["sources"]] == ["commit:", "sha256:"]
    assert entry["sources"][0]["fingerprint"] == f"commit:{repo.commit}"
    shutil.rmtree(project.cache)
    prepared = project.run("prepare", "--pull", "--json", env=env)
    assert prepared.exit_code == 0, prepared.output
    mounted = tree(Path(mount_sources(prepared.stdout)["/src/weights/tiny"]))
    assert mounted == {
        "config.json": b'{"hidden_size": 64}',
        "tokenizer/vocab.txt": FILES["tokenizer/vocab.txt"],
        "model.safetensors": FILES["model.safetensors"],
    }
    # The Hub ref moves: only source[0] is named, and the import takes the new commit.
    moved = hf_endpoint.add_repo(REPO, {**FILES, "tokenizer/vocab.txt": b"z\n"}, lfs=LFS)
    planned = project.run("plan", "import", env=env)
    assert f"source[0] fingerprint: commit:{repo.commit[:12]}" in planned.output, planned.output
    assert project.run("import", env=env).exit_code == 0
    assert the_entry(project)["sources"][0]["fingerprint"] == f"commit:{moved.commit}"
