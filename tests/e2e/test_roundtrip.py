"""import → empty cache → pull → prepare, through the CLI, against the real registry."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.e2e.conftest import SMALL_FILES, mount_sources, tree

pytestmark = pytest.mark.registry

BIG = os.urandom(1 << 16) * 1040  # 65 MiB: a standalone layer (>= 64 MiB)

ALPHA = """weights:
  - name: alpha
    target: /src/weights/alpha
    source:
      uri: weights/alpha
"""


def test_import_then_pull_into_an_empty_cache_then_prepare_gives_identical_files(
    project, make_weights
):
    src = make_weights("alpha", {**SMALL_FILES, "model.safetensors": BIG})
    project.write_config(ALPHA)

    imported = project.run("import")
    assert imported.exit_code == 0, imported.stderr
    lock = json.loads(project.lock.read_bytes())
    (entry,) = lock["weights"]
    assert {f["path"] for f in entry["files"]} == set(SMALL_FILES) | {"model.safetensors"}
    assert {layer["mediaType"] for layer in entry["layers"]} == {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
    }

    shutil.rmtree(project.cache)
    status = project.run("status")
    assert status.exit_code == 1 and "missing-files" in status.stdout

    pulled = project.run("pull")
    assert pulled.exit_code == 0, pulled.stderr
    assert "Pulling alpha" in pulled.stderr

    prepared = project.run("prepare", "--json")
    assert prepared.exit_code == 0, prepared.stderr
    mount = mount_sources(prepared.stdout)["/src/weights/alpha"]
    assert tree(src) == tree(__import__("pathlib").Path(mount))
    assert project.run("status").exit_code == 0
    released = project.run("release", "--all")
    assert released.exit_code == 0 and not os.path.exists(mount)


def test_a_second_import_of_unchanged_sources_changes_nothing(project, make_weights):
    make_weights("alpha", SMALL_FILES)
    project.write_config(ALPHA)
    assert project.run("import").exit_code == 0
    before = project.lock.read_bytes(), project.lock.stat().st_mtime_ns
    again = project.run("import")
    assert again.exit_code == 0, again.stderr
    assert "Nothing to do." in again.stderr
    assert (project.lock.read_bytes(), project.lock.stat().st_mtime_ns) == before


def test_a_fully_cached_pull_needs_no_registry(project, make_weights):
    make_weights("alpha", SMALL_FILES)
    project.write_config(ALPHA)
    assert project.run("import").exit_code == 0
    project.write_config(ALPHA, image="127.0.0.1:1/unreachable/repo")
    result = project.run("pull")
    assert result.exit_code == 0, result.stderr
    assert "cached" in result.stderr


def test_skopeo_copies_the_pushed_manifest_and_gnu_tar_extracts_its_layers(
    project, make_weights, tmp_path
):
    src = make_weights("alpha", {**SMALL_FILES, "model.safetensors": BIG})
    project.write_config(ALPHA)
    assert project.run("import").exit_code == 0
    digest = json.loads(project.lock.read_bytes())["weights"][0]["digest"]
    out = tmp_path / "oci"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--src-tls-verify=false",
            f"docker://{project.registry.host}/{project.repo}@{digest}",
            f"oci:{out}",
        ],
        check=True,
        capture_output=True,
    )
    manifest = json.loads((out / "blobs/sha256" / digest.split(":")[1]).read_bytes())
    extracted = tmp_path / "x"
    extracted.mkdir()
    for layer in manifest["layers"]:
        blob = out / "blobs/sha256" / layer["digest"].split(":")[1]
        subprocess.run(["tar", "-xf", str(blob), "-C", str(extracted)], check=True)
    assert tree(extracted) == tree(src)


def test_plan_out_then_apply_plan_and_a_stale_plan_is_refused(project, make_weights, tmp_path):
    make_weights("alpha", SMALL_FILES)
    project.write_config(ALPHA)
    plan_file = tmp_path / "import.plan"
    planned = project.run("plan", "import", "--out", str(plan_file))
    assert planned.exit_code == 0, planned.stderr
    assert "import alpha" in planned.stdout
    applied = project.run("apply", "--plan", str(plan_file))
    assert applied.exit_code == 0, applied.stderr
    assert project.lock.exists()

    (project.dir / "weights/alpha/config.json").write_bytes(b"{}")
    stale_file = tmp_path / "pull.plan"
    assert project.run("plan", "pull", "--out", str(stale_file)).exit_code == 0
    project.write_config(ALPHA.replace("/src/weights/alpha", "/src/w/alpha"))
    refused = project.run("apply", "--plan", str(stale_file))
    assert refused.exit_code == 1
    assert "Saved plan is stale" in refused.stderr
    assert "cog.yaml changed" in refused.stderr and "cogw plan pull --out" in refused.stderr


def test_plan_detailed_exitcode_says_whether_there_are_changes(project, make_weights):
    make_weights("alpha", SMALL_FILES)
    project.write_config(ALPHA)
    assert project.run("plan", "import", "--detailed-exitcode").exit_code == 2
    assert project.run("import").exit_code == 0
    assert project.run("plan", "--detailed-exitcode").exit_code == 0


def test_removing_a_weight_from_cog_yaml_then_apply_prune_removes_its_entry(project, make_weights):
    make_weights("alpha", SMALL_FILES)
    project.write_config(ALPHA)
    assert project.run("import").exit_code == 0
    project.write_config("weights: []\n")
    status = project.run("status")
    assert "orphaned" in status.stdout
    assert project.run("apply", "prune", "--yes").exit_code == 0
    assert json.loads(project.lock.read_bytes())["weights"] == []


def test_pull_names_every_unknown_weight_at_once(project, make_weights):
    make_weights("alpha", SMALL_FILES)
    project.write_config(ALPHA)
    assert project.run("import").exit_code == 0
    result = project.run("pull", "alpha", "nope", "typo")
    assert result.exit_code == 1
    assert '"nope"' in result.stderr and '"typo"' in result.stderr
    assert result.stdout == ""


def test_prepare_without_cached_files_names_cogw_pull(project, make_weights):
    make_weights("alpha", SMALL_FILES)
    project.write_config(ALPHA)
    assert project.run("import").exit_code == 0
    shutil.rmtree(project.cache)
    result = project.run("prepare")
    assert result.exit_code == 1
    assert "not fully cached" in result.stderr and "cogw pull alpha" in result.stderr
    assert not (project.dir / ".cog/mounts").exists() or not any(
        (project.dir / ".cog/mounts").iterdir()
    )
    with_pull = project.run("prepare", "--pull", "--docker")
    assert with_pull.exit_code == 0, with_pull.stderr
    assert with_pull.stdout.startswith("-v ") and ":/src/weights/alpha:ro" in with_pull.stdout


def test_import_with_ingest_hardlink_makes_the_source_file_the_store_blob(project, make_weights):
    src = make_weights("alpha", SMALL_FILES)
    project.write_config(ALPHA)
    result = project.run("import", "--ingest", "hardlink")
    assert result.exit_code == 0, result.stderr
    lock = json.loads(project.lock.read_bytes())
    digest = {f["path"]: f["digest"] for f in lock["weights"][0]["files"]}["config.json"]
    hexpart = digest.split(":")[1]
    blob = project.cache / "weights/files/sha256" / hexpart[:2] / hexpart
    assert os.stat(blob).st_ino == os.stat(src / "config.json").st_ino
    assert os.stat(blob).st_mode & 0o777 == 0o444


def test_import_with_default_ingest_leaves_a_writable_source_untouched(project, make_weights):
    src = make_weights("alpha", SMALL_FILES)
    project.write_config(ALPHA)
    assert project.run("import").exit_code == 0
    assert os.stat(src / "config.json").st_mode & 0o200
    assert os.stat(src / "config.json").st_nlink == 1


def test_ctrl_c_during_an_import_upload_exits_130_and_writes_nothing(
    project, make_weights, fault_proxy
):
    import signal
    import sys
    import time

    from tests.fixtures.faultproxy import FaultRule

    make_weights("alpha", {**SMALL_FILES, "model.safetensors": os.urandom(1 << 20) * 70})
    proxy = fault_proxy(project.registry)
    # The upload of the big layer hangs: the proxy reads the head and never answers.
    proxy.add(FaultRule("hang", method="PUT", path="/blobs/uploads/", stall_seconds=25))
    proxy.add(FaultRule("hang", method="PATCH", path="/blobs/uploads/", stall_seconds=25))
    project.write_config(ALPHA, image=f"{proxy.host}/{project.repo}")
    cogw = os.path.join(os.path.dirname(sys.executable), "cogw")
    env = {**os.environ, "COG_CACHE_DIR": str(project.cache)}
    proc = subprocess.Popen(
        [cogw, "import", "-q", "--project", str(project.dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not any(r.fault == "hang" for r in list(proxy.recorded)):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)  # well before the 25 s hang ends
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert not project.lock.exists()
    assert list(project.cache.rglob("put-*")) == []


def test_a_recorded_layer_digest_this_packer_cannot_reproduce_is_repacked(project, make_weights):
    """An entry whose gzip layer another packer made (its blob gone from the registry) is
    re-packed on re-import instead of failing on the digest check before the commit."""
    make_weights("alpha", SMALL_FILES)
    project.write_config(ALPHA)
    assert project.run("import").exit_code == 0
    lock = json.loads(project.lock.read_bytes())
    entry = lock["weights"][0]
    foreign = "sha256:" + "ab" * 32  # as if another packer's gzip bytes, unknown to the registry
    old = entry["layers"][0]["digest"]
    entry["layers"][0]["digest"] = foreign
    for f in entry["files"]:
        if f["layer"] == old:
            f["layer"] = foreign
    project.lock.write_text(json.dumps(lock, indent=2))
    project.write_config(ALPHA.replace("/src/weights/alpha", "/src/weights/moved"))

    result = project.run("import")
    assert result.exit_code == 0, result.stderr
    entry = json.loads(project.lock.read_bytes())["weights"][0]
    assert entry["target"] == "/src/weights/moved"
    assert [layer["digest"] for layer in entry["layers"]] == [old]
