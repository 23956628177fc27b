"""Air-gapped transfer through OCI image layouts, against real parts: `cogw export` read by
skopeo, `cogw pull --from oci:…` with no registry running, a corrupted layout refused, and
`cogw push --from oci:…` into an empty registry followed by a normal pull from there."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from cogw.core.artifact.oci import weight_tag
from tests.e2e.conftest import SMALL_FILES, Project, write_tree
from tests.fixtures.registry import RegistryFleet, RunningRegistry

pytestmark = pytest.mark.registry

BIG_FILES = {"weights.bin": bytes(range(256)) * 4096, "README": b"second weight\n"}
WEIGHTS_YAML = (
    "weights:\n"
    "  - name: alpha\n    target: /src/a\n    source:\n      uri: w/a\n"
    "  - name: beta\n    target: /src/b\n    source:\n      uri: w/b\n"
)


def imported(tmp_path: Path, origin: RunningRegistry) -> Project:
    project = Project(tmp_path / "project", tmp_path / "cache-import", origin, "air/gapped")
    project.dir.mkdir()
    write_tree(project.dir / "w" / "a", SMALL_FILES)
    write_tree(project.dir / "w" / "b", BIG_FILES)
    project.write_config(WEIGHTS_YAML)
    result = project.run("import")
    assert result.exit_code == 0, result.output
    return project


def lock_of(project: Project) -> dict[str, object]:
    return json.loads(project.lock.read_text())  # type: ignore[no-any-return]


def tags_of(project: Project) -> dict[str, str]:
    weights = lock_of(project)["weights"]
    return {weight_tag(w["name"], w["setDigest"]): w["digest"] for w in weights}  # type: ignore[attr-defined]


def lock_file_digests(project: Project) -> set[str]:
    weights = lock_of(project)["weights"]
    return {f["digest"] for w in weights for f in w["files"]}  # type: ignore[attr-defined]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def stored_digests(cache: Path) -> set[str]:
    """Every blob in the store, each checked: its bytes hash to its name."""
    root = cache / "weights" / "files" / "sha256"
    found = set()
    for path in (p for p in root.glob("*/*") if p.is_file()) if root.exists() else []:
        assert sha256_file(path) == f"sha256:{path.name}", f"wrong bytes stored in {path}"
        found.add(f"sha256:{path.name}")
    return found


def offline(project: Project, cache: Path) -> Project:
    # The same project checkout, an empty cache, and a registry that is no longer running.
    return Project(project.dir, cache, project.registry, project.repo)


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("skopeo") is None:
        pytest.skip("needs skopeo: apt-get install skopeo")
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)


def test_export_is_a_layout_skopeo_inspects_and_copies(
    tmp_path: Path, registry_fleet: RegistryFleet
) -> None:
    project = imported(tmp_path, registry_fleet.plain())
    layout = tmp_path / "layout"
    result = project.run("export", str(layout), "--project", str(project.dir))
    assert result.exit_code == 0, result.output
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((layout / "index.json").read_text())
    listed = {
        m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
        for m in index["manifests"]
    }
    assert listed == tags_of(project)
    for blob in (layout / "blobs" / "sha256").iterdir():
        assert sha256_file(blob) == f"sha256:{blob.name}"
    for tag, digest in listed.items():
        raw = skopeo("inspect", "--raw", f"oci:{layout}:{tag}")
        assert raw.returncode == 0, raw.stderr
        assert "sha256:" + hashlib.sha256(raw.stdout.encode()).hexdigest() == digest
        out = tmp_path / f"copy-{tag}"
        copied = skopeo("copy", f"oci:{layout}:{tag}", f"dir:{out}")
        assert copied.returncode == 0, copied.stderr
        manifest = json.loads((out / "manifest.json").read_text())
        for desc in [manifest["config"], *manifest["layers"]]:
            assert sha256_file(out / desc["digest"].partition(":")[2]) == desc["digest"]


def test_export_to_a_tar_that_skopeo_reads(tmp_path: Path, registry_fleet: RegistryFleet) -> None:
    project = imported(tmp_path, registry_fleet.plain())
    archive = tmp_path / "weights.tar"
    result = project.run("export", str(archive), "--project", str(project.dir))
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "weights.tar.partial").exists()
    for tag, digest in tags_of(project).items():
        raw = skopeo("inspect", "--raw", f"oci-archive:{archive}:{tag}")
        assert raw.returncode == 0, raw.stderr
        assert "sha256:" + hashlib.sha256(raw.stdout.encode()).hexdigest() == digest


@pytest.mark.parametrize("form", ["dir", "tar"])
def test_offline_pull_from_a_layout_with_no_registry_running(
    tmp_path: Path, registry_fleet: RegistryFleet, form: str
) -> None:
    origin = registry_fleet.plain()
    project = imported(tmp_path, origin)
    dest = tmp_path / ("layout.tar" if form == "tar" else "layout")
    assert project.run("export", str(dest), "--project", str(project.dir)).exit_code == 0
    registry_fleet.stop(origin)
    node = offline(project, tmp_path / "empty-cache")
    without = node.run("pull")
    assert without.exit_code == 1  # the registry is really gone
    result = node.run("pull", "--from", f"oci:{dest}", "-v")
    assert result.exit_code == 0, result.output
    assert f"from layout oci:{dest}" in result.output  # says where each layer came from
    assert stored_digests(node.cache) == lock_file_digests(project)
    status = node.run("status")
    assert status.exit_code == 0, status.output


@pytest.mark.parametrize("which", ["layer", "manifest"])
def test_a_corrupted_layout_blob_is_refused_and_nothing_wrong_is_stored(
    tmp_path: Path, registry_fleet: RegistryFleet, which: str
) -> None:
    origin = registry_fleet.plain()
    project = imported(tmp_path, origin)
    layout = tmp_path / "layout"
    assert project.run("export", str(layout), "--project", str(project.dir)).exit_code == 0
    registry_fleet.stop(origin)
    blobs = layout / "blobs" / "sha256"
    beta = next(d for t, d in tags_of(project).items() if "beta" in t)
    if which == "manifest":
        victim = blobs / beta.partition(":")[2]
    else:
        victim = max(blobs.iterdir(), key=lambda p: p.stat().st_size)  # beta's weights.bin
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size, one byte wrong
    victim.write_bytes(bytes(data))
    node = offline(project, tmp_path / "empty-cache")
    result = node.run("pull", "--from", f"oci:{layout}")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"sha256:{victim.name[:12]}" in result.output  # names what was wrong
    stored = stored_digests(node.cache)  # every stored blob is checked here
    assert stored < lock_file_digests(project)
    big = "sha256:" + hashlib.sha256(BIG_FILES["weights.bin"]).hexdigest()
    assert big not in stored


def test_push_a_layout_to_an_empty_registry_then_pull_normally(
    tmp_path: Path, registry_fleet: RegistryFleet
) -> None:
    origin = registry_fleet.plain()
    project = imported(tmp_path, origin)
    layout = tmp_path / "layout"
    assert project.run("export", str(layout), "--project", str(project.dir)).exit_code == 0
    registry_fleet.stop(origin)
    site = registry_fleet.plain()  # the air-gapped site's own, empty registry
    site_project = Project(project.dir, tmp_path / "site-cache", site, project.repo)
    site_project.write_config(WEIGHTS_YAML)  # the same weights.lock, the site's image
    pushed = site_project.run("push", "--from", f"oci:{layout}", "--project", str(project.dir))
    assert pushed.exit_code == 0, pushed.output
    assert "uploaded" in pushed.output
    again = site_project.run("push", "--from", f"oci:{layout}", "--project", str(project.dir))
    assert again.exit_code == 0, again.output
    assert "uploaded" not in again.output  # HEAD first: nothing is sent twice
    for tag, digest in tags_of(project).items():  # each manifest under its ref.name tag
        head = urllib.request.Request(
            f"{site.url}/v2/{project.repo}/manifests/{tag}",
            method="HEAD",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        with urllib.request.urlopen(head) as response:
            assert response.headers["Docker-Content-Digest"] == digest
    result = site_project.run("pull")
    assert result.exit_code == 0, result.output
    assert stored_digests(site_project.cache) == lock_file_digests(project)


@pytest.mark.parametrize(
    "args",
    [
        ("pull", "--from", "oci:{tmp}/absent"),
        ("pull", "--from", "oci:{tmp}/absent.tar"),
        ("pull", "--from", "{tmp}/no-prefix"),
        ("pull", "--from", "oci:{tmp}/junk"),
        ("push", "--from", "oci:{tmp}/junk"),
    ],
)
def test_a_bad_layout_is_one_clear_error(
    tmp_path: Path, project: Project, args: tuple[str, ...]
) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
    (junk / "index.json").write_bytes(b'{"manifests": [{"digest": "sha256:nope"}]}')
    project.write_config(WEIGHTS_YAML)
    argv = [a.format(tmp=tmp_path) for a in args]
    result = project.run(*argv, *(["--project", str(project.dir)] if args[0] == "push" else []))
    assert result.exit_code == 1, result.output
    assert "error:" in result.output
    assert "Traceback" not in result.output


def test_from_a_layout_does_not_take_a_reference(tmp_path: Path, project: Project) -> None:
    project.write_config(WEIGHTS_YAML)
    result = project.run("pull", "--from", f"oci:{tmp_path}", "reg.example/a/b@sha256:" + "a" * 64)
    assert result.exit_code == 2
    assert "reference" in result.output


def test_export_with_the_registry_down_rebuilds_from_weights_lock_and_the_store(
    tmp_path: Path, registry_fleet: RegistryFleet
) -> None:
    # A large .safetensors file is its own uncompressed layer: a fixed tar frame around the
    # file's bytes, so the store's copy rebuilds it; manifest and config come from the lock.
    origin = registry_fleet.plain()
    project = Project(tmp_path / "project", tmp_path / "cache-import", origin, "air/rebuilt")
    block = hashlib.sha256(b"weights").digest() * (1 << 15)
    big = {"model.safetensors": b"".join(bytes([i]) + block[1:] for i in range(64))}
    write_tree(project.dir / "w", big)
    project.write_config(
        "weights:\n  - name: big\n    target: /src/big\n    source:\n      uri: w\n"
    )
    assert project.run("import").exit_code == 0
    registry_fleet.stop(origin)
    layout = tmp_path / "layout.tar"
    result = project.run("export", str(layout), "--project", str(project.dir))
    assert result.exit_code == 0, result.output
    assert "fetching" not in result.output
    (tag,) = tags_of(project)
    raw = skopeo("inspect", "--raw", f"oci-archive:{layout}:{tag}")
    assert raw.returncode == 0, raw.stderr
    node = offline(project, tmp_path / "empty-cache")
    pulled = node.run("pull", "--from", f"oci:{layout}")
    assert pulled.exit_code == 0, pulled.output
    assert stored_digests(node.cache) == lock_file_digests(project)
