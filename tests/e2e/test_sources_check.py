"""Status that sees sources, plan import naming files, and `cogw check` as the CI gate:
a real project, the real registry, local and http:// sources, through the CLI."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import threading
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import COGW, ONE_WEIGHT, Project

pytestmark = pytest.mark.registry


def cogw(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, as CI would run it."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(project.dir),
        "COG_CACHE_DIR": str(project.cache),
    }
    return subprocess.run(
        [COGW, *args], cwd=project.dir, env=env, capture_output=True, text=True, timeout=120
    )


def short(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:8] + "…"


def locked_digest(project: Project, path: str) -> str:
    (weight,) = json.loads(project.lock.read_text())["weights"]
    return next(f["digest"][7:15] + "…" for f in weight["files"] if f["path"] == path)


@pytest.fixture
def edited(one_weight: Project) -> tuple[Project, dict[str, str]]:
    """minilm imported, then config.json edited, extra.bin added, .gitattributes removed."""
    assert one_weight.run("import", "-q").exit_code == 0
    src = one_weight.dir / "weights" / "minilm"
    old = {"config.json": locked_digest(one_weight, "config.json")}
    old[".gitattributes"] = locked_digest(one_weight, ".gitattributes")
    (src / "config.json").write_bytes(b'{"hidden_size": 768}')
    (src / "extra.bin").write_bytes(b"x" * 100)
    (src / ".gitattributes").unlink()
    return one_weight, old


def test_status_without_sources_still_says_ready_and_hashes_nothing(edited):
    project, _ = edited
    result = project.run("status")
    assert result.exit_code == 0, result.output
    assert " ready " in result.stdout and "source-changed" not in result.stdout


def test_status_sources_names_the_changed_added_and_removed_files(edited):
    project, old = edited
    result = project.run("status", "--sources")
    assert result.exit_code == 1
    row = result.stdout.splitlines()[1].split()
    assert row[:3] == ["minilm", "/src/weights/minilm", "source-changed"] and row[-2:] == [
        "cogw",
        "import",
    ]
    assert (
        "  minilm: changed: config.json; added: extra.bin; removed: .gitattributes"
        in result.stdout.splitlines()
    )
    verbose = project.run("status", "--sources", "-v").stdout.splitlines()
    new = short(b'{"hidden_size": 768}')
    assert f"    ~ config.json {old['config.json']} → {new}" in verbose
    assert f"    + extra.bin {short(b'x' * 100)}" in verbose
    assert f"    - .gitattributes {old['.gitattributes']}" in verbose


def test_status_sources_json_carries_the_full_lists(edited):
    project, old = edited
    result = project.run("status", "--sources", "--json")
    assert result.exit_code == 1
    value = json.loads(result.stdout)
    assert value["ready"] is False and value["sourcesChecked"] is True
    (weight,) = value["weights"]
    assert weight["status"] == "source-changed" and weight["next"] == "cogw import"
    check = weight["sourceCheck"]
    assert check["moved"] is True
    assert check["changed"] == [
        {"path": "config.json", "old": old["config.json"], "new": short(b'{"hidden_size": 768}')}
    ]
    assert check["added"] == [{"path": "extra.bin", "new": short(b"x" * 100)}]
    assert check["removed"] == [{"path": ".gitattributes", "old": old[".gitattributes"]}]


def test_plan_import_names_the_files_with_short_digests(edited):
    project, old = edited
    text = project.run("plan", "import")
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    new = short(b'{"hidden_size": 768}')
    assert f"      ~ config.json {old['config.json']} → {new}" in lines
    assert f"      + extra.bin {short(b'x' * 100)}" in lines
    assert f"      - .gitattributes {old['.gitattributes']}" in lines
    (step,) = json.loads(project.run("plan", "import", "--json").stdout)["steps"]
    changes = step["fileChanges"]
    assert [c["path"] for c in changes["changed"]] == ["config.json"]
    assert changes["added"][0]["new"] == "sha256:" + hashlib.sha256(b"x" * 100).hexdigest()
    assert [c["path"] for c in changes["removed"]] == [".gitattributes"]


def test_check_fails_on_a_moved_source_and_passes_after_the_import(edited):
    project, _ = edited
    plain = cogw(project, "check")
    assert plain.returncode == 0, plain.stderr
    assert plain.stderr.strip() == "ok: cog.yaml and weights.lock agree"
    failed = cogw(project, "check", "--sources")
    assert failed.returncode == 1, failed.stderr
    assert failed.stdout.splitlines() == [
        "minilm: source changed: config.json, extra.bin (+1 more); run 'cogw import minilm'"
    ]
    assert "check failed: 1 disagreement" in failed.stderr
    quiet = cogw(project, "check", "--sources", "-q")
    assert quiet.returncode == 1 and quiet.stderr == "" and quiet.stdout == failed.stdout
    as_json = json.loads(cogw(project, "check", "--sources", "--json").stdout)
    assert as_json == {
        "ok": False,
        "compared": ["cog.yaml", "weights.lock", "sources"],
        "problems": [
            {
                "weight": "minilm",
                "kind": "source-changed",
                "message": "source changed: config.json, extra.bin (+1 more)",
                "hint": "run 'cogw import minilm'",
            }
        ],
    }
    assert cogw(project, "import", "-q").returncode == 0
    passed = cogw(project, "check", "--sources")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert passed.stdout == "" and "ok: cog.yaml, weights.lock and sources agree" in passed.stderr
    assert json.loads(cogw(project, "check", "--sources", "--json").stdout)["ok"] is True
    assert project.run("status", "--sources").exit_code == 0


def test_check_fails_on_config_drift_without_sources(one_weight):
    pending = cogw(one_weight, "check")
    assert pending.returncode == 1
    assert pending.stdout.splitlines() == [
        "minilm: declared in cog.yaml, not in weights.lock; run 'cogw import minilm'"
    ]
    assert cogw(one_weight, "import", "-q").returncode == 0
    one_weight.write_config(ONE_WEIGHT.replace("/src/weights/minilm", "/elsewhere"))
    moved = cogw(one_weight, "check", "--json")
    assert moved.returncode == 1
    (problem,) = json.loads(moved.stdout)["problems"]
    assert problem["kind"] == "config-changed" and "target" in problem["message"]


def test_check_exits_2_when_it_cannot_read_the_project(one_weight, tmp_path):
    (one_weight.dir / "cog.yaml").write_text("weights: [\n")
    broken = cogw(one_weight, "check")
    assert broken.returncode == 2 and "invalid YAML" in broken.stderr
    assert json.loads(cogw(one_weight, "check", "--json").stdout)["errors"][0]["summary"]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "COG_CACHE_DIR": str(tmp_path / "c")}
    outside = subprocess.run(
        [COGW, "check"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert outside.returncode == 2 and "not in a project" in outside.stderr
    usage = cogw(one_weight, "check", "--no-such-flag")
    assert usage.returncode == 2 and "Usage:" in usage.stderr


# --- an http:// source whose ETag changes ---------------------------------------------------------


class Served:
    """One file over HTTP with a strong ETag of its content; counts the GETs."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.gets = 0
        self.missing = False
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _answer(self, send_body: bool) -> None:
                if served.missing:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                served.gets += send_body
                self.send_response(200)
                self.send_header("Content-Length", str(len(served.body)))
                self.send_header("ETag", '"' + hashlib.sha256(served.body).hexdigest()[:16] + '"')
                self.end_headers()
                if send_body:
                    self.wfile.write(served.body)

            def do_GET(self) -> None:
                self._answer(True)

            def do_HEAD(self) -> None:
                self._answer(False)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/files/model.bin"


@pytest.fixture
def served_weight(project: Project) -> Iterator[tuple[Project, Served]]:
    served = Served(b"version one" * 1000)
    project.write_config(
        "weights:\n  - name: remote\n    target: /src/weights/remote\n"
        f"    source:\n      uri: {served.url}\n"
    )
    assert project.run("import", "-q").exit_code == 0
    yield project, served
    served.httpd.shutdown()
    served.httpd.server_close()
    served.thread.join(timeout=5)


def test_an_http_source_whose_etag_changed_is_source_changed_without_downloading_it(served_weight):
    project, served = served_weight
    gets = served.gets
    unchanged = cogw(project, "check", "--sources")
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    served.body = b"version two" * 1000
    status = project.run("status", "--sources")
    assert status.exit_code == 1
    assert "source-changed" in status.stdout
    assert "  remote: changed: model.bin" in status.stdout.splitlines()
    failed = cogw(project, "check", "--sources")
    assert failed.returncode == 1
    assert failed.stdout.splitlines() == [
        "remote: source changed: model.bin; run 'cogw import remote'"
    ]
    assert served.gets == gets  # only HEAD: the version alone answered
    assert cogw(project, "import", "-q").returncode == 0
    assert cogw(project, "check", "--sources").returncode == 0


def test_an_http_source_that_is_gone_fails_the_gate_with_its_reason(served_weight):
    project, served = served_weight
    served.missing = True
    failed = cogw(project, "check", "--sources", "--json")
    assert failed.returncode == 1
    (problem,) = json.loads(failed.stdout)["problems"]
    assert problem["kind"] == "source-unreadable"
    assert "HTTP 404" in problem["message"] and problem["hint"]
    status = project.run("status", "--sources")
    assert status.exit_code == 1 and "HTTP 404" in status.stderr


def test_check_is_listed_with_its_exit_codes_in_help():
    done = subprocess.run([COGW, "check", "--help"], capture_output=True, text=True, timeout=60)
    assert "0 everything agrees; 1 a disagreement" in done.stdout


# --- an hf:// source whose ref moves --------------------------------------------------------------

HF_FILES = {"config.json": b'{"hidden_size": 32}', "model.safetensors": os.urandom(50_000)}
HF_WEIGHT = """weights:
  - name: tiny
    target: /src/weights/tiny
    source:
      uri: hf://acme/tiny-model
"""


def test_an_hf_source_is_asked_for_its_commit_and_listed_only_when_the_ref_moved(
    project, hf_endpoint
):
    hf_endpoint.add_repo("acme/tiny-model", HF_FILES, lfs={"model.safetensors"})
    project.write_config(HF_WEIGHT)
    assert project.run("import", "-q").exit_code == 0
    asked = len(hf_endpoint.requests)
    unchanged = project.run("check", "--sources", "--project", str(project.dir))
    assert unchanged.exit_code == 0, unchanged.output
    new_paths = [p for _, p in hf_endpoint.requests[asked:]]
    assert new_paths and all("/revision/" in p for p in new_paths)  # no tree, no file

    moved = {**HF_FILES, "config.json": b'{"hidden_size": 64}', "extra.md": b"new\n"}
    hf_endpoint.add_repo("acme/tiny-model", moved, lfs={"model.safetensors"})
    downloads = len(hf_endpoint.paths_requested("/cdn/"))
    status = project.run("status", "--sources")
    assert status.exit_code == 1
    assert "  tiny: changed: config.json; added: extra.md" in status.stdout.splitlines()
    assert len(hf_endpoint.paths_requested("/cdn/")) == downloads  # LFS digests: the tree
    failed = project.run("check", "--sources", "--project", str(project.dir))
    assert failed.exit_code == 1
    assert failed.stdout.splitlines() == [
        "tiny: source changed: config.json, extra.md; run 'cogw import tiny'"
    ]
    assert project.run("import", "-q").exit_code == 0
    assert project.run("check", "--sources", "--project", str(project.dir)).exit_code == 0
