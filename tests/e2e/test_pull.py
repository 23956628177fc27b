"""`cogw pull` through the CLI against the real registry: artifacts cogw did not push, network
faults, hostile or corrupted layers, partial failure, concurrent processes and Ctrl-C.

Hand-made artifacts follow Cog's weight format (infra.md §2): GNU tar layers, a gzip bundle,
a config blob and an OCI manifest pushed with curl; weights.lock and cog.yaml are written by
hand. Corruption is injected by overwriting the registry's stored blob, which it serves
without re-verifying.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import SMALL_FILES, Project, mount_sources, tree, write_tree
from tests.fixtures.faultproxy import FaultProxy, FaultRule
from tests.fixtures.registry import RunningRegistry

pytestmark = pytest.mark.registry

TAR = "application/vnd.oci.image.layer.v1.tar"
TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
BLOB_GET = r"/blobs/sha256:"
GNU_TAR = ["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0"]

StartProxy = Callable[[RunningRegistry], FaultProxy]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def set_digest(files: dict[str, bytes]) -> str:
    # Cog's DirHash, written out independently of cogw.core.lock.setdigest.
    lines = sorted(f"{hashlib.sha256(data).hexdigest()}  {path}" for path, data in files.items())
    return sha256("\n".join(lines).encode())


# --- pushing by hand with curl ------------------------------------------------------------


def curl(*args: str, data: bytes | None = None) -> str:
    done = subprocess.run(
        ["curl", "-fsS", *args], input=data, capture_output=True, check=False, timeout=30
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode("latin-1")


def push_blob(reg: RunningRegistry, repo: str, data: bytes) -> str:
    """Monolithic upload: POST a session, PUT the bytes with ?digest= (infra.md §2)."""
    digest = sha256(data)
    head = curl("-X", "POST", "-D", "-", "-o", "/dev/null", f"{reg.url}/v2/{repo}/blobs/uploads/")
    location = next(
        line.split(":", 1)[1].strip()
        for line in head.splitlines()
        if line.lower().startswith("location:")
    )
    if not location.startswith("http"):
        location = reg.url + location
    location += ("&" if "?" in location else "?") + f"digest={digest}"
    curl(
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        "@-",
        location,
        data=data,
    )
    return digest


def push_manifest(reg: RunningRegistry, repo: str, manifest: bytes) -> str:
    digest = sha256(manifest)
    curl(
        "-X",
        "PUT",
        "-H",
        f"Content-Type: {MANIFEST_TYPE}",
        "--data-binary",
        "@-",
        f"{reg.url}/v2/{repo}/manifests/{digest}",
        data=manifest,
    )
    return digest


@dataclass
class HandLayer:
    """A layer blob and the files weights.lock will say it holds."""

    blob: bytes
    media_type: str
    files: dict[str, bytes]


@dataclass
class HandWeight:
    name: str
    layers: list[HandLayer]
    target: str = ""
    files: dict[str, bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.target = self.target or f"/src/weights/{self.name}"
        self.files = {p: d for layer in self.layers for p, d in layer.files.items()}


def push_weight(reg: RunningRegistry, repo: str, weight: HandWeight) -> dict[str, object]:
    """Push the layers, a config blob and the manifest; return the weights.lock entry."""
    layer_digests = [push_blob(reg, repo, layer.blob) for layer in weight.layers]
    set_dig = set_digest(weight.files)
    config = json.dumps(
        {
            "name": weight.name,
            "target": weight.target,
            "setDigest": set_dig,
            "files": sorted(weight.files),
        }
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": "application/vnd.cog.weight.v1",
        "config": {
            "mediaType": "application/vnd.cog.weight.config.v1+json",
            "digest": push_blob(reg, repo, config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": layer.media_type,
                "digest": digest,
                "size": len(layer.blob),
                "annotations": {
                    "run.cog.weight.size.uncompressed": str(sum(map(len, layer.files.values())))
                },
            }
            for layer, digest in zip(weight.layers, layer_digests, strict=True)
        ],
        "annotations": {
            "run.cog.weight.name": weight.name,
            "run.cog.weight.target": weight.target,
            "run.cog.weight.set-digest": set_dig,
        },
    }
    manifest_digest = push_manifest(reg, repo, json.dumps(manifest, indent=3).encode())
    return lock_entry(weight, manifest_digest, set_dig, layer_digests)


def lock_entry(
    weight: HandWeight, manifest_digest: str, set_dig: str, layer_digests: list[str]
) -> dict[str, object]:
    layer_of = {
        p: d for layer, d in zip(weight.layers, layer_digests, strict=True) for p in layer.files
    }
    return {
        "name": weight.name,
        "target": weight.target,
        "source": {
            "uri": f"file://./weights/{weight.name}",
            "fingerprint": set_dig,
            "include": [],
            "exclude": [],
            "importedAt": "2026-01-02T03:04:05Z",
        },
        "digest": manifest_digest,
        "setDigest": set_dig,
        "size": sum(map(len, weight.files.values())),
        "sizeCompressed": sum(len(layer.blob) for layer in weight.layers),
        "files": [
            {"path": p, "size": len(d), "digest": sha256(d), "layer": layer_of[p]}
            for p, d in sorted(weight.files.items())
        ],
        "layers": [
            {
                "digest": d,
                "mediaType": layer.media_type,
                "size": len(layer.blob),
                "sizeUncompressed": sum(map(len, layer.files.values())),
            }
            for layer, d in zip(weight.layers, layer_digests, strict=True)
        ],
    }


def write_hand_project(project: Project, weights: list[HandWeight], image: str = "") -> None:
    """cog.yaml and weights.lock written by hand for weights pushed by hand."""
    entries = [push_weight(project.registry, project.repo, w) for w in weights]
    project.lock.write_text(json.dumps({"version": 1, "weights": entries}, indent=2))
    yaml = "weights:\n" + "".join(
        f"  - name: {w.name}\n    target: {w.target}\n    source:\n      uri: weights/{w.name}\n"
        for w in weights
    )
    project.write_config(yaml, image=image or None)


# --- layers --------------------------------------------------------------------------------


def gnu_tar(tmp: Path, files: dict[str, bytes]) -> bytes:
    """A deterministic layer made by GNU tar from a real directory (ancestor dirs included)."""
    src = tmp / f"src-{sha256(repr(sorted(files)).encode())[7:19]}"
    write_tree(src, files)
    done = subprocess.run(
        [*GNU_TAR, "-cf", "-", "-C", str(src), *sorted(files)], capture_output=True, check=True
    )
    return done.stdout


def python_tar(entries: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    """A tar with whatever entries a hostile registry might serve."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                info = tarfile.TarInfo(entry[0])
                info.size = len(entry[1])
                tar.addfile(info, io.BytesIO(entry[1]))
    return out.getvalue()


def symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def good_weight(name: str, tmp: Path, size: int = 4096) -> HandWeight:
    files = {f"{name}.bin": os.urandom(size), "conf/settings.json": b'{"a": 1}'}
    return HandWeight(
        name, [HandLayer(gzip.compress(gnu_tar(tmp, files), mtime=0), TAR_GZIP, files)]
    )


# --- running the CLI --------------------------------------------------------------------------


def cogw_command() -> list[str]:
    script = Path(sys.executable).parent / "cogw"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from cogw.shell.cli import main; main()"]


def subprocess_env(project: Project) -> dict[str, str]:
    return {
        **os.environ,
        "COG_CACHE_DIR": str(project.cache),
        "DOCKER_CONFIG": str(project.cache.parent / "no-docker"),
    }


def start_pull(project: Project, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*cogw_command(), "pull", *args, "--project", str(project.dir)],
        env=subprocess_env(project),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def temp_files(project: Project) -> list[Path]:
    return sorted(project.cache.rglob("put-*")) if project.cache.exists() else []


def stored(project: Project) -> set[str]:
    return {"sha256:" + p.name for p in project.blobs()}


def assert_store_consistent(project: Project) -> None:
    for blob in project.blobs():
        assert sha256(blob.read_bytes()) == "sha256:" + blob.name, blob
    assert temp_files(project) == []


@pytest.fixture
def project(tmp_path: Path, registry: RunningRegistry, request: pytest.FixtureRequest) -> Project:
    """The shared project fixture, with a repository name valid for parametrized test ids."""
    directory = tmp_path / "project"
    directory.mkdir()
    repo = "pull/" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:60].strip("-")
    return Project(directory, tmp_path / "cache", registry, repo)


ALPHA = """weights:
  - name: alpha
    target: /src/weights/alpha
    source:
      uri: weights/alpha
"""


@pytest.fixture
def imported(project: Project, make_weights: Callable[[str, dict[str, bytes]], Path]) -> Project:
    """alpha (with a 3 MiB random file) imported by cogw, then the cache emptied."""
    make_weights("alpha", {**SMALL_FILES, "model.bin": os.urandom(3 << 20)})
    project.write_config(ALPHA)
    result = project.run("import")
    assert result.exit_code == 0, result.stderr
    shutil.rmtree(project.cache)
    return project


# --- tests ----------------------------------------------------------------------------------


def test_an_artifact_pushed_with_curl_pulls_and_prepares_to_the_exact_files(
    project: Project, tmp_path: Path
) -> None:
    bundle_files = {
        "config.json": b'{"hidden_size": 384}',
        "tokenizer/vocab.txt": b"a\nb\n" * 50,
        "tokenizer/special.json": '{"ü": 1}'.encode(),
        "empty.txt": b"",
        "ünïcödé/名前.txt": "✓".encode(),
        "long/" + "n" * 150 + ".json": b"{}",  # GNU tar writes a long-name entry
    }
    big = {"model.safetensors": os.urandom(300_000)}
    bundle = subprocess.run(
        ["gzip", "-n"], input=gnu_tar(tmp_path, bundle_files), capture_output=True, check=True
    ).stdout
    weight = HandWeight(
        "curlw",
        [HandLayer(bundle, TAR_GZIP, bundle_files), HandLayer(gnu_tar(tmp_path, big), TAR, big)],
    )
    write_hand_project(project, [weight])

    pulled = project.run("pull")
    assert pulled.exit_code == 0, pulled.stderr + pulled.stdout
    assert stored(project) == {sha256(d) for d in weight.files.values()}
    prepared = project.run("prepare", "--json")
    assert prepared.exit_code == 0, prepared.stderr
    assert tree(Path(mount_sources(prepared.stdout)["/src/weights/curlw"])) == weight.files
    assert project.run("pull").exit_code == 0  # everything cached: nothing fetched twice


@pytest.mark.parametrize("action", ["reset", "truncate"])
def test_a_blob_cut_short_resumes_with_a_range_request(
    action: str, imported: Project, fault_proxy: StartProxy
) -> None:
    proxy = fault_proxy(imported.registry)
    proxy.add(FaultRule(action, path=BLOB_GET, after_bytes=1 << 20))  # type: ignore[arg-type]
    imported.write_config(ALPHA, image=f"{proxy.host}/{imported.repo}")
    result = imported.run("pull")
    assert result.exit_code == 0, result.stderr
    gets = proxy.requests_matching("GET", BLOB_GET)
    assert any(r.fault == action for r in gets)
    starts = [int(r.headers["range"][6:].split("-")[0]) for r in gets if "range" in r.headers]
    # A reset may discard bytes already sent (RST drops unread data); a truncation may not.
    assert starts and 0 < starts[0] <= (1 << 20)
    assert action == "reset" or starts[0] == 1 << 20
    assert imported.run("status").exit_code == 0
    assert_store_consistent(imported)


@pytest.mark.parametrize(
    ("status", "headers", "path"),
    [(503, {}, BLOB_GET), (429, {"Retry-After": "0"}, BLOB_GET), (503, {}, "/manifests/")],
    ids=["503-blob", "429-blob", "503-manifest"],
)
def test_busy_registry_answers_are_retried(
    status: int, headers: dict[str, str], path: str, imported: Project, fault_proxy: StartProxy
) -> None:
    proxy = fault_proxy(imported.registry)
    proxy.add(FaultRule("status", path=path, status=status, headers=headers, times=2))
    imported.write_config(ALPHA, image=f"{proxy.host}/{imported.repo}")
    result = imported.run("pull")
    assert result.exit_code == 0, result.stderr
    answered = [r.status for r in proxy.requests_matching("GET", path)]
    assert answered[:3] == [status, status, 200]
    assert imported.run("status").exit_code == 0


def test_a_blob_redirected_elsewhere_is_followed_and_verified(
    imported: Project, fault_proxy: StartProxy
) -> None:
    # Registries often send blob GETs to storage on another host (S3, a CDN).
    proxy = fault_proxy(imported.registry)
    proxy.add(FaultRule("redirect", path=BLOB_GET, location=imported.registry.url + "{path}"))
    imported.write_config(ALPHA, image=f"{proxy.host}/{imported.repo}")
    result = imported.run("pull")
    assert result.exit_code == 0, result.stderr
    assert [r.fault for r in proxy.requests_matching("GET", BLOB_GET)] == ["redirect"]
    assert imported.run("status").exit_code == 0
    assert_store_consistent(imported)


def test_two_weights_sharing_files_both_become_ready_in_one_pull(
    project: Project, make_weights: Callable[[str, dict[str, bytes]], Path]
) -> None:
    shared = {**SMALL_FILES, "model.bin": os.urandom(1 << 18)}
    make_weights("alpha", shared)
    make_weights("beta", {**shared, "extra.txt": b"only beta"})
    project.write_config(ALPHA + ALPHA.replace("alpha", "beta").replace("weights:\n", ""))
    assert project.run("import").exit_code == 0
    shutil.rmtree(project.cache)
    result = project.run("pull")
    assert result.exit_code == 0, result.stderr
    assert project.run("status").exit_code == 0
    assert stored(project) == {sha256(d) for d in [*shared.values(), b"only beta"]}
    assert_store_consistent(project)


def hardlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.LNKTYPE, target
    return info


def device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    return info


TarEntries = list[tarfile.TarInfo | tuple[str, bytes]]
GOOD = ("good.txt", b"good")
# Entries a hostile registry serves for a layer the lockfile says holds only good.txt.
HOSTILE: dict[str, TarEntries] = {
    "dotdot": [("../evil", b"pwned"), GOOD],
    "symlink": [symlink("good.txt", "/etc/passwd")],
    "unexpected-name": [("surprise.txt", b"boo"), GOOD],
    "absolute": [("/tmp/evil", b"pwned"), GOOD],
    "hardlink": [hardlink("good.txt", "../../etc/passwd")],
    "device": [device("good.txt")],
    "wrong-size": [("good.txt", b"good but longer")],
}
# Refused only after a good.txt that matched its lockfile digest was stored: that file
# is exactly what weights.lock names, so keeping it is safe (every file is verified
# on its own); nothing else of the layer may land in the store.
HOSTILE_AFTER_A_GOOD_FILE: dict[str, TarEntries] = {
    "duplicate": [GOOD, ("good.txt", b"evil")],
    "truncated": [GOOD],
    "symlink-after": [GOOD, symlink("link", "/etc/passwd")],
}


def hostile_layer(kind: str) -> HandLayer:
    entries = HOSTILE.get(kind) or HOSTILE_AFTER_A_GOOD_FILE[kind]
    blob = python_tar(entries)
    if kind == "truncated":
        blob = blob[:700]  # the header and data of good.txt, cut inside its padding
    return HandLayer(blob, TAR, {"good.txt": b"good"})


@pytest.mark.parametrize("kind", [*HOSTILE, *HOSTILE_AFTER_A_GOOD_FILE])
def test_a_hostile_layer_fails_its_weight_alone_and_stores_nothing_unverified(
    kind: str, project: Project, tmp_path: Path
) -> None:
    hostile = hostile_layer(kind)
    bad, good = HandWeight("bad", [hostile]), good_weight("fine", tmp_path)
    write_hand_project(project, [bad, good])
    layer_digest = sha256(hostile.blob)

    result = project.run("pull")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert f"error: bad: layer {layer_digest}: " in result.stderr
    assert "Failed: 1 step (bad); 1 succeeded." in result.stderr
    kept = {sha256(b"good")} if kind in HOSTILE_AFTER_A_GOOD_FILE else set()
    assert stored(project) == {sha256(d) for d in good.files.values()} | kept
    assert_store_consistent(project)
    assert not (project.dir.parent / "evil").exists() and not Path("/tmp/evil").exists()


def test_a_layer_served_uncompressed_where_the_lockfile_says_gzip_is_refused(
    project: Project, tmp_path: Path
) -> None:
    files = {"x.bin": os.urandom(2048)}
    write_hand_project(
        project, [HandWeight("liar", [HandLayer(gnu_tar(tmp_path, files), TAR_GZIP, files)])]
    )
    result = project.run("pull")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "error: liar: layer sha256:" in result.stderr
    assert stored(project) == set()


def corrupt(reg: RunningRegistry, digest: str) -> None:
    """Flip one byte in the middle of the registry's copy of a blob."""
    path = reg.blob_path(digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_corrupted_registry_blob_fails_that_weight_and_the_summary_names_only_it(
    project: Project, make_weights: Callable[[str, dict[str, bytes]], Path]
) -> None:
    make_weights("alpha", {"model.bin": os.urandom(1 << 20)})  # random: no other test shares it
    make_weights("beta", {"other.bin": os.urandom(1 << 16), **SMALL_FILES})
    project.write_config(ALPHA + ALPHA.replace("alpha", "beta").replace("weights:\n", ""))
    assert project.run("import").exit_code == 0
    lock = json.loads(project.lock.read_bytes())
    alpha = next(e for e in lock["weights"] if e["name"] == "alpha")
    (layer,) = alpha["layers"]
    corrupt(project.registry, layer["digest"])
    shutil.rmtree(project.cache)

    result = project.run("pull")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert f"layer {layer['digest']}" in result.stderr
    assert "Failed: 1 step (alpha); 1 succeeded." in result.stderr
    beta = next(e for e in lock["weights"] if e["name"] == "beta")
    assert stored(project) == {f["digest"] for f in beta["files"]}
    assert temp_files(project) == []
    status = project.run("status")
    assert "alpha" in status.stdout and "missing-files" in status.stdout


def test_a_corrupted_uncompressed_layer_is_caught_by_the_file_digest(
    project: Project, tmp_path: Path
) -> None:
    files = {"weights.bin": os.urandom(1 << 18)}
    layer = HandLayer(gnu_tar(tmp_path, files), TAR, files)
    write_hand_project(project, [HandWeight("plain", [layer]), good_weight("fine", tmp_path)])
    corrupt(project.registry, sha256(layer.blob))

    result = project.run("pull")
    assert result.exit_code == 1
    assert f"layer {sha256(layer.blob)}" in result.stderr and "digest mismatch" in result.stderr
    assert "Failed: 1 step (plain); 1 succeeded." in result.stderr
    assert sha256(files["weights.bin"]) not in stored(project)
    assert temp_files(project) == []


def test_a_corrupted_manifest_in_the_registry_is_refused_by_its_digest(
    project: Project, tmp_path: Path
) -> None:
    write_hand_project(project, [good_weight("mnfst", tmp_path), good_weight("fine", tmp_path)])
    digest = json.loads(project.lock.read_bytes())["weights"][0]["digest"]
    path = project.registry.blob_path(digest)
    original = path.read_bytes()
    path.write_bytes(original.replace(b'"mnfst"', b'"mnfsT"'))  # still valid JSON
    assert path.read_bytes() != original

    result = project.run("pull")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert f"error: mnfst: fetch weight manifest: manifest {project.repo}@{digest}" in result.stderr
    assert "Failed: 1 step (mnfst); 1 succeeded." in result.stderr


def _drop_layer(entry: dict[str, Any]) -> str:
    entry["layers"][0]["digest"] = entry["files"][0]["layer"] = sha256(b"no such layer")
    return "does not list layer"


def _grow_layer(entry: dict[str, Any]) -> str:
    entry["layers"][0]["size"] += 1
    return "differs from weights.lock size"


@pytest.mark.parametrize("edit", [_drop_layer, _grow_layer], ids=["unlisted-layer", "layer-size"])
def test_a_lockfile_that_disagrees_with_the_manifest_fails_with_advice(
    edit: Callable[[dict[str, Any]], str], project: Project, tmp_path: Path
) -> None:
    weight = HandWeight("solo", [HandLayer(gnu_tar(tmp_path, {"a": b"a"}), TAR, {"a": b"a"})])
    write_hand_project(project, [weight])
    lock = json.loads(project.lock.read_bytes())
    expected = edit(lock["weights"][0])
    project.lock.write_text(json.dumps(lock, indent=2))
    result = project.run("pull")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert expected in result.stderr and "run 'cogw import' to push it again" in result.stderr
    assert stored(project) == set()


def test_after_one_layer_of_a_weight_fails_the_next_pull_fetches_only_that_layer(
    project: Project, tmp_path: Path
) -> None:
    bundle_files = {"a.json": b"{}", "b/c.txt": os.urandom(512)}
    big = {"big.bin": os.urandom(1 << 18)}
    bundle = HandLayer(
        gzip.compress(gnu_tar(tmp_path, bundle_files), mtime=0), TAR_GZIP, bundle_files
    )
    plain = HandLayer(gnu_tar(tmp_path, big), TAR, big)
    write_hand_project(project, [HandWeight("two", [bundle, plain])])
    blob_path = project.registry.blob_path(sha256(plain.blob))
    corrupt(project.registry, sha256(plain.blob))

    failed = project.run("pull")
    assert failed.exit_code == 1
    assert f"✗ fetch two layer {sha256(plain.blob)[:19]}" in failed.stderr
    assert f"+ fetched two layer {sha256(bundle.blob)[:19]}" in failed.stderr
    assert "Failed: 1 step (two); 1 succeeded." in failed.stderr
    assert f"two: layer {sha256(plain.blob)[:19]} failed: store big.bin" in failed.stderr

    blob_path.write_bytes(plain.blob)
    again = project.run("pull", "--json")
    assert again.exit_code == 0, again.stderr
    events = [json.loads(line)["event"] for line in again.stderr.splitlines()]
    started = [e["layer_digest"] for e in events if e["kind"] == "layer-start"]
    assert started == [sha256(plain.blob)]
    assert stored(project) == {sha256(d) for d in [*bundle_files.values(), *big.values()]}


def test_a_blob_whose_digest_is_wrong_fails_even_when_every_file_inside_is_right(
    project: Project, tmp_path: Path
) -> None:
    files = {"w.bin": os.urandom(4096)}
    layer = HandLayer(gzip.compress(gnu_tar(tmp_path, files), mtime=0), TAR_GZIP, files)
    write_hand_project(project, [HandWeight("hdr", [layer])])
    path = project.registry.blob_path(sha256(layer.blob))
    data = bytearray(path.read_bytes())
    data[4] ^= 0xFF  # the gzip header's mtime: the files inflate unchanged
    path.write_bytes(bytes(data))

    result = project.run("pull")
    assert result.exit_code == 1
    assert f"error: hdr: layer {sha256(layer.blob)}: " in result.stderr
    assert sha256(bytes(data)) in result.stderr  # the digest the registry really served
    assert_store_consistent(project)


def test_a_weight_whose_manifest_is_gone_does_not_stop_the_others(
    project: Project, tmp_path: Path
) -> None:
    weights = [good_weight("one", tmp_path), good_weight("two", tmp_path)]
    write_hand_project(project, weights)
    lock = json.loads(project.lock.read_bytes())
    lock["weights"][0]["digest"] = sha256(b"a manifest nobody pushed")
    project.lock.write_text(json.dumps(lock, indent=2))

    result = project.run("pull")
    assert result.exit_code == 1
    assert "Failed: 1 step (one); 1 succeeded." in result.stderr
    assert stored(project) == {sha256(d) for d in weights[1].files.values()}


def test_three_concurrent_pulls_into_one_store_all_succeed(imported: Project) -> None:
    procs = [start_pull(imported) for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outputs]
    assert_store_consistent(imported)
    assert imported.run("status").exit_code == 0


@pytest.fixture
def stalled_pull(imported: Project, fault_proxy: StartProxy) -> Iterator[subprocess.Popen[str]]:
    """A `cogw pull` subprocess whose blob download is hanging mid-body."""
    proxy = fault_proxy(imported.registry)
    proxy.add(FaultRule("stall", path=BLOB_GET, after_bytes=1 << 20, stall_seconds=3, times=9))
    imported.write_config(ALPHA, image=f"{proxy.host}/{imported.repo}")
    proc = start_pull(imported)
    deadline = time.monotonic() + 30
    while not any(r.fault == "stall" for r in proxy.requests_matching("GET", BLOB_GET)):
        assert proc.poll() is None and time.monotonic() < deadline, "the pull never stalled"
        time.sleep(0.05)
    time.sleep(0.2)  # let the client read the bytes that did arrive
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_ctrl_c_during_a_stalled_pull_exits_130_and_leaves_nothing_partial(
    imported: Project, stalled_pull: subprocess.Popen[str]
) -> None:
    stalled_pull.send_signal(signal.SIGINT)
    _, stderr = stalled_pull.communicate(timeout=30)
    assert stalled_pull.returncode == 130, stderr
    assert "Traceback" not in stderr
    said = [line for line in stderr.splitlines() if "interrupted" in line.lower()]
    assert said == [
        "interrupted: weights.lock left as it was; the store holds only whole, verified files"
    ], stderr
    assert temp_files(imported) == []
    assert_store_consistent(imported)
    imported.write_config(ALPHA)  # straight to the registry this time
    again = imported.run("pull")
    assert again.exit_code == 0, again.stderr
    assert imported.run("status").exit_code == 0


def test_sigterm_during_a_stalled_pull_cleans_up_like_ctrl_c_and_exits_143(
    imported: Project, stalled_pull: subprocess.Popen[str]
) -> None:
    stalled_pull.send_signal(signal.SIGTERM)
    _, stderr = stalled_pull.communicate(timeout=30)
    assert stalled_pull.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert [line for line in stderr.splitlines() if "interrupted" in line] == [
        "interrupted: weights.lock left as it was; the store holds only whole, verified files"
    ]
    assert temp_files(imported) == []
    assert_store_consistent(imported)
    imported.write_config(ALPHA)
    again = imported.run("pull")
    assert again.exit_code == 0, again.stderr
    assert imported.run("status").exit_code == 0


def test_json_pull_prints_the_outcome_on_stdout_and_events_as_json_lines_on_stderr(
    imported: Project,
) -> None:
    result = imported.run("pull", "--json")
    assert result.exit_code == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["operation"] == "pull" and outcome["exitCode"] == 0
    assert [r["status"] for r in outcome["results"]] == ["done"]
    events = [json.loads(line)["event"] for line in result.stderr.splitlines() if line.strip()]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "weight-start" and kinds[-1] == "weight-done"
    assert "file-stored" in kinds and "layer-done" in kinds
    assert all(e.get("weight") == "alpha" for e in events if e["kind"] != "phase")
    assert {
        "kind": "phase",
        "phase": "download",
        "nbytes": outcome["results"][0]["layer"]["size"],
        "message": "1 layer(s)",
    } in events


def test_quiet_pull_prints_no_progress(imported: Project) -> None:
    result = imported.run("pull", "-q")
    assert result.exit_code == 0, result.stderr
    assert "Pulling" not in result.stderr and "%" not in result.stderr
    assert result.stdout == ""
    assert imported.run("status").exit_code == 0


def test_json_pull_reports_a_failure_in_the_outcome_and_only_json_on_stderr(
    project: Project, tmp_path: Path
) -> None:
    weights = [good_weight("one", tmp_path), good_weight("two", tmp_path)]
    write_hand_project(project, weights)
    lock = json.loads(project.lock.read_bytes())
    lock["weights"][1]["digest"] = sha256(b"a manifest nobody pushed")
    project.lock.write_text(json.dumps(lock, indent=2))

    result = project.run("pull", "--json")
    assert result.exit_code == 1
    outcome = json.loads(result.stdout)
    assert outcome["exitCode"] == 1
    by_weight = {r["weight"]: r for r in outcome["results"]}
    assert by_weight["one"]["status"] == "done" and by_weight["one"]["error"] is None
    assert by_weight["two"]["status"] == "failed"
    assert "MANIFEST_UNKNOWN" in json.dumps(by_weight["two"]["error"])
    events = [json.loads(line)["event"] for line in result.stderr.splitlines()]
    assert {"kind": "step-failed", "weight": "two"}.items() <= next(
        e for e in events if e["kind"] == "step-failed"
    ).items()


def test_quiet_pull_still_reports_what_failed(project: Project, tmp_path: Path) -> None:
    files = {"a.txt": b"a", "b.txt": b"b"}
    layer = HandLayer(gnu_tar(tmp_path, {"a.txt": b"a"}), TAR, files)  # b.txt never arrives
    write_hand_project(project, [HandWeight("short", [layer])])
    result = project.run("pull", "-q")
    assert result.exit_code == 1
    assert 'missing expected file "b.txt"' in result.stderr
    assert "Pulling" not in result.stderr
    assert sha256(b"b") not in stored(project)


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_on_a_terminal(project: Project, *args: str) -> tuple[int, str]:
    """Run cogw with stderr on a pseudo-terminal (so rich draws bars); return the text drawn."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*cogw_command(), *args, "--project", str(project.dir)],
        env={**subprocess_env(project), "COLUMNS": "120", "TERM": "xterm"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    drawn = bytearray()
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not chunk:
            break
        drawn += chunk
    os.close(master)
    return proc.wait(timeout=60), ANSI.sub("", drawn.decode(errors="replace"))


BAR_SIZES = re.compile(r"([0-9.]+(?:[KMG]B|B))/([0-9.]+(?:[KMG]B|B))")
UNIT = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}


def _nbytes(size: str) -> float:
    number = re.match(r"[0-9.]+", size)
    assert number, size
    return float(number.group()) * UNIT[size[number.end() :]]


def last_bar(drawn: str, label: str) -> tuple[str, str]:
    """(done, total) of the last frame of the bar whose description starts with ``label``,
    in cogw's one unit system ("3.0MB/3.0MB", binary); no frame ever passes its total."""
    frames = [line for line in drawn.splitlines() if line.startswith(label)]
    assert frames, f"no bar {label!r} in {drawn!r}"
    sizes = [m.groups() for m in map(BAR_SIZES.search, frames) if m]
    assert sizes and BAR_SIZES.search(frames[-1]), frames[-1]
    assert all(_nbytes(done) <= _nbytes(total) for done, total in sizes), frames
    return sizes[-1]


def test_on_a_terminal_every_bar_ends_full_for_import_and_pull(
    project: Project, make_weights: Callable[[str, dict[str, bytes]], Path]
) -> None:
    make_weights("alpha", {"model.bin": os.urandom(3 << 20), **SMALL_FILES})
    project.write_config(ALPHA)
    code, drawn = run_on_a_terminal(project, "import")
    assert code == 0, drawn
    for phase in ("ingest", "pack", "push"):
        done, total = last_bar(drawn, f"alpha {phase}")
        assert done == total, phase
    shutil.rmtree(project.cache)

    code, drawn = run_on_a_terminal(project, "pull")
    assert code == 0, drawn
    (layer,) = json.loads(project.lock.read_bytes())["weights"][0]["layers"]
    done, total = last_bar(drawn, f"alpha {layer['digest'][7:19]}")
    assert done == total
    assert "Pulling alpha... done" in drawn
