"""The registry as truth, end to end: a registry that lost a manifest or a layer after the
import (deleted through the API of the real docker-registry, which the fixture starts with
deletes enabled) is found by `status --remote` and `plan import`, repaired by `import`
without touching weights.lock, and a pull that meets the loss says what to run."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace

import pytest
import requests

from tests.e2e.conftest import ONE_WEIGHT, SMALL_FILES, Project, tree

pytestmark = pytest.mark.registry


def _entry(project: Project) -> dict:
    (entry,) = json.loads(project.lock.read_bytes())["weights"]
    return entry


def _delete(project: Project, kind: str, digest: str) -> None:
    url = f"{project.registry.url}/v2/{project.repo}/{kind}/{digest}"
    assert requests.delete(url, timeout=10).status_code == 202
    assert requests.head(url, timeout=10).status_code == 404


def _imported(project: Project) -> tuple[dict, bytes, int]:
    result = project.run("import")
    assert result.exit_code == 0, result.output
    return _entry(project), project.lock.read_bytes(), project.lock.stat().st_mtime_ns


def _status(project: Project, *flags: str) -> tuple[int, str]:
    result = project.run("status", "--remote", *flags)
    return result.exit_code, result.stdout


def _pull_into_empty_cache(project: Project, tmp_path) -> Project:
    fresh = replace(project, cache=tmp_path / "fresh-cache")
    result = fresh.run("pull")
    assert result.exit_code == 0, result.output
    return fresh


def test_a_lost_manifest_is_found_shown_and_pushed_again_without_touching_the_lock(
    one_weight: Project, tmp_path
):
    project = one_weight
    entry, lock_bytes, mtime = _imported(project)
    assert _status(project)[0] == 0
    _delete(project, "manifests", entry["digest"])

    code, text = _status(project)
    assert code == 1
    assert "incomplete" in text and "registry lost manifest" in text
    code, verbose = _status(project, "-v")
    assert code == 1
    assert f"registry {project.registry.host}/{project.repo}:" in verbose
    assert any("manifest" in line and "missing" in line for line in verbose.splitlines())
    code, raw = _status(project, "--json")
    (item,) = json.loads(raw)["weights"]
    assert (item["status"], item["manifest"]["present"]) == ("incomplete", False)
    assert [layer["present"] for layer in item["layers"]] == [True] * len(entry["layers"])
    assert [layer["digest"] for layer in item["layers"]] == [x["digest"] for x in entry["layers"]]

    plan = project.run("plan", "import")
    assert plan.exit_code == 0, plan.output
    assert "^ repush minilm → /src/weights/minilm (registry lost manifest)" in plan.stdout
    assert "Plan: 1 weight to repush." in plan.stdout
    (step,) = json.loads(project.run("plan", "import", "--json").stdout)["steps"]
    assert (step["action"], step["pushManifest"], step["layers"]) == ("repush", True, [])

    repaired = project.run("import")
    assert repaired.exit_code == 0, repaired.output
    assert "repushed minilm" in repaired.output
    assert (project.lock.read_bytes(), project.lock.stat().st_mtime_ns) == (lock_bytes, mtime)
    assert _status(project)[0] == 0
    fresh = _pull_into_empty_cache(project, tmp_path)
    assert len(fresh.blobs()) == len(SMALL_FILES)


def test_a_lost_layer_is_packed_again_from_the_store_then_from_the_source(
    one_weight: Project, tmp_path
):
    project = one_weight
    entry, lock_bytes, _ = _imported(project)
    layer = entry["layers"][0]["digest"]
    _delete(project, "blobs", layer)
    code, raw = _status(project, "--json")
    (item,) = json.loads(raw)["weights"]
    assert code == 1
    assert {x["digest"]: x["present"] for x in item["layers"]}[layer] is False
    assert item["manifest"]["present"] is True

    plan = project.run("plan", "import")
    assert "from the local store" in plan.stdout and "registry lost 1 layer" in plan.stdout
    assert project.run("import").exit_code == 0
    assert _status(project)[0] == 0

    # Again, with an empty store: the files come from the source (still the same).
    _delete(project, "blobs", layer)
    shutil.rmtree(project.cache)
    plan = project.run("plan", "import")
    assert "from the source" in plan.stdout, plan.output
    result = project.run("import")
    assert result.exit_code == 0, result.output
    assert project.lock.read_bytes() == lock_bytes
    assert _status(project)[0] == 0
    fresh = _pull_into_empty_cache(project, tmp_path)
    assert len(fresh.blobs()) == len(SMALL_FILES)


def test_a_pull_that_meets_a_lost_manifest_or_layer_says_what_to_run(one_weight: Project, tmp_path):
    project = one_weight
    entry, _, _ = _imported(project)
    fresh = replace(project, cache=tmp_path / "fresh-cache")
    _delete(project, "manifests", entry["digest"])
    result = fresh.run("pull")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if "lacks the manifest" in line]
    assert len(lines) == 1, result.stderr
    assert "cogw import minilm" in lines[0] and "cogw status --remote" in lines[0]

    assert project.run("import").exit_code == 0
    _delete(project, "blobs", entry["layers"][0]["digest"])
    result = fresh.run("pull")
    assert result.exit_code == 1
    assert any(
        "lacks the layer" in line and "cogw import minilm" in line
        for line in result.stderr.splitlines()
    ), result.stderr
    prepared = fresh.run("prepare", "--pull")
    assert prepared.exit_code == 1
    assert "lacks the layer" in prepared.stderr


def test_force_pushes_everything_again_and_saved_plans_carry_repushes(
    one_weight: Project, tmp_path
):
    project = one_weight
    entry, lock_bytes, mtime = _imported(project)
    plan = project.run("plan", "import", "--force")
    assert "^ repush minilm → /src/weights/minilm (--force)" in plan.stdout
    misplaced = project.run("plan", "--force")
    assert misplaced.exit_code == 2 and "--force goes with import" in misplaced.output
    trace = tmp_path / "http.trace"
    forced = project.run("import", "--force", "--json", "--debug-file", str(trace))
    assert forced.exit_code == 0, forced.output
    # Uploaded although the registry had every blob: no HEAD on them, an upload each.
    lines = trace.read_text().splitlines()
    uploads = [line for line in lines if "POST" in line and "/blobs/uploads/" in line]
    assert len(uploads) == len(entry["layers"]) + 1  # the layers and the config blob
    assert any("PUT" in line and "/manifests/" in line for line in lines)
    (result,) = json.loads(forced.stdout)["results"]
    assert (result["action"], result["status"]) == ("repush", "done")
    assert len(result["layers"]) == len(entry["layers"]) and result["pushManifest"]
    assert (project.lock.read_bytes(), project.lock.stat().st_mtime_ns) == (lock_bytes, mtime)

    _delete(project, "manifests", entry["digest"])
    saved = tmp_path / "repair.plan"
    assert project.run("plan", "import", "--out", str(saved)).exit_code == 0
    assert '"action": "repush"' in saved.read_text()
    applied = project.run("apply", "--plan", str(saved))
    assert applied.exit_code == 0, applied.output
    assert _status(project)[0] == 0
    assert tree(project.dir / "weights" / "minilm") == SMALL_FILES


def test_a_registry_that_cannot_be_asked_is_incomplete_for_status_and_a_note_for_plans(
    one_weight: Project,
):
    project = one_weight
    _imported(project)
    project.write_config(ONE_WEIGHT, image="127.0.0.1:1/nobody/home")  # nothing listens there
    code, text = _status(project)
    assert code == 1
    assert "incomplete" in text and "registry not checked: cannot reach 127.0.0.1:1" in text
    plan = project.run("plan", "import")
    assert plan.exit_code == 0, plan.output
    assert "minilm: registry not checked (cannot reach 127.0.0.1:1" in plan.stdout
    assert "Nothing to do." in plan.stdout


def test_a_layer_that_packs_to_another_digest_is_refused_before_any_byte_is_sent(
    one_weight: Project,
):
    project = one_weight
    entry, lock_bytes, _ = _imported(project)
    layer = entry["layers"][0]["digest"]
    _delete(project, "blobs", layer)
    # A store file changed behind the store's back (same size, other bytes).
    victim = next(f for f in entry["files"] if f["size"] > 10)
    blob = project.cache / "weights/files/sha256" / victim["digest"][7:9] / victim["digest"][7:]
    blob.chmod(0o644)
    blob.write_bytes(b"x" * victim["size"])
    result = project.run("import")
    assert result.exit_code == 1
    assert "packing its files again gives" in result.output
    assert "nothing was pushed" in result.output and "cogw verify --repair" in result.output
    assert "Traceback" not in result.output
    url = f"{project.registry.url}/v2/{project.repo}/blobs/{layer}"
    assert requests.head(url, timeout=10).status_code == 404
    assert project.lock.read_bytes() == lock_bytes


def _tags(project: Project) -> list[str]:
    answer = requests.get(f"{project.registry.url}/v2/{project.repo}/tags/list", timeout=10)
    return sorted(answer.json().get("tags") or []) if answer.status_code == 200 else []


def test_a_current_cog_project_gets_its_manifest_back_under_current_cogs_tag(
    project: Project, make_weights
):
    make_weights("tiny", SMALL_FILES)
    (project.dir / "cog.yaml").write_text(
        f"model: {project.repo}\nrun: run.py:Runner\nweights:\n  - name: tiny.model\n"
        "    target: /src/weights/tiny\n    source:\n      uri: weights/tiny\n"
    )
    env = {"COG_MODEL_REGISTRY": project.registry.host}
    assert project.run("import", env=env).exit_code == 0
    entry = _entry(project)
    tag = "cog-weight.tiny-model." + entry["setDigest"][7:19]
    assert _tags(project) == [tag]
    lock_bytes = project.lock.read_bytes()
    _delete(project, "manifests", entry["digest"])
    assert _tags(project) == []  # distribution drops the tags of a deleted manifest
    repaired = project.run("import", env=env)
    assert repaired.exit_code == 0, repaired.output
    assert _tags(project) == [tag]
    assert project.lock.read_bytes() == lock_bytes
    assert project.run("status", "--remote", env=env).exit_code == 0


@pytest.mark.slow
def test_a_lost_large_raw_layer_is_read_again_from_the_source(
    project: Project, make_weights, tmp_path
):
    """A 64 MiB safetensors file has its own uncompressed layer, pushed straight from the
    source at import; re-pushed, it is packed again from the store after the source filled
    it (the store was emptied), and its digest still is weights.lock's."""
    big = {"model.safetensors": os.urandom(64 << 20), "config.json": b"{}"}
    make_weights("big", big)
    project.write_config(
        "weights:\n  - name: big\n    target: /src/weights/big\n"
        "    source:\n      uri: weights/big\n"
    )
    entry, lock_bytes, _ = _imported(project)
    raw = next(x for x in entry["layers"] if x["mediaType"].endswith(".tar"))
    _delete(project, "blobs", raw["digest"])
    shutil.rmtree(project.cache)
    plan = project.run("plan", "import")
    assert "from the source" in plan.stdout and "64.0MB" in plan.stdout, plan.output
    result = project.run("import")
    assert result.exit_code == 0, result.output
    assert project.lock.read_bytes() == lock_bytes
    fresh = _pull_into_empty_cache(project, tmp_path)
    assert len(fresh.blobs()) == 2


def test_the_gate_and_status_ask_the_registry_beside_the_sources(one_weight: Project):
    project = one_weight
    entry, _, _ = _imported(project)
    for args in (["check", "--remote"], ["status", "--remote", "--sources"]):
        assert project.run(*args).exit_code == 0, args
    _delete(project, "manifests", entry["digest"])

    gate = project.run("check", "--remote")
    assert gate.exit_code == 1
    (line,) = gate.stdout.splitlines()
    assert line.startswith("minilm: registry: registry lost manifest")
    assert line.endswith("run 'cogw import minilm'")
    as_json = json.loads(project.run("check", "--remote", "--json").stdout)
    assert as_json["compared"] == ["cog.yaml", "weights.lock", "registry"]
    assert [p["kind"] for p in as_json["problems"]] == ["registry-incomplete"]
    assert project.run("check").exit_code == 0  # the registry only when asked

    both = project.run("status", "--remote", "--sources", "--json")
    assert both.exit_code == 1
    (item,) = json.loads(both.stdout)["weights"]
    assert item["status"] == "incomplete" and item["manifest"]["present"] is False
    assert item["sourceCheck"]["moved"] is False
