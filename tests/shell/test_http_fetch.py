"""The one GET of an http(s) file: its digest, its blob in the store, its layer digest."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cogw.core.artifact.packing import MIB
from cogw.shell.http_fetch import Fetched, _Hashing, fetch_body, fetched_layer, remember
from cogw.shell.http_source import http_get, http_session
from cogw.shell.layers import digest_file_and_layer
from cogw.shell.source_base import SourceError
from cogw.shell.store import open_store


def test_a_large_raw_file_is_hashed_into_its_standalone_layer_in_the_same_read():
    body = bytes(range(256)) * (64 * MIB // 256 + 7)
    hashing = _Hashing(io.BytesIO(body), "model.safetensors", len(body))
    while hashing.read():
        pass
    digest, layer = digest_file_and_layer("model.safetensors", len(body), io.BytesIO(body))
    assert "sha256:" + hashing.file.hexdigest() == digest
    assert hashing.layer() == layer


def test_a_small_or_compressible_file_gets_no_layer_digest():
    for name, size in (("model.safetensors", 1000), ("notes.json", 64 * MIB)):
        hashing = _Hashing(io.BytesIO(b""), name, size)
        assert hashing.layer() is None


class _Body(BaseHTTPRequestHandler):
    body = b""
    advertised = 0

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(self.advertised or len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


@pytest.fixture
def served() -> Iterator[tuple[str, type[_Body]]]:
    handler = type("Handler", (_Body,), {})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/m.bin", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _get(url: str):
    return http_get(http_session(), url, {}, url, "no credentials")


def test_the_body_becomes_the_blob_of_its_digest(served, tmp_path: Path):
    url, handler = served
    handler.body = b"weights" * 1000
    store = open_store(tmp_path / "weights")
    digest, size, layer = fetch_body(_get(url), "m.bin", store)
    assert digest == "sha256:" + hashlib.sha256(handler.body).hexdigest()
    assert (size, layer) == (len(handler.body), None)
    assert store.path(digest).read_bytes() == handler.body
    assert [p.name for p in (tmp_path / "weights").rglob("put-*")] == []


def test_a_body_cut_short_is_an_error_and_leaves_no_blob_or_temp(served, tmp_path: Path):
    url, handler = served
    handler.body, handler.advertised = b"short", 100
    store = open_store(tmp_path / "weights")
    with pytest.raises(SourceError, match="95 more expected"):
        fetch_body(_get(url), "m.bin", store)
    assert [p for p in (tmp_path / "weights").rglob("*") if p.is_file()] == []


def test_a_fetched_layer_is_found_by_path_and_digest_only():
    from pyrsistent import pvector

    from cogw.core.artifact.inventory import Inventory, InventoryFile
    from cogw.core.lock.lockfile import MEDIA_TYPE_TAR, LockLayer

    layer = LockLayer("sha256:" + "1" * 64, MEDIA_TYPE_TAR, 3072, 1024)
    inv = Inventory(pvector([InventoryFile("a.safetensors", 1024, "sha256:" + "2" * 64)]), "x")
    remember("http://example.invalid/a.safetensors", Fetched(None, inv, layer))
    assert fetched_layer("a.safetensors", "sha256:" + "2" * 64) == layer
    assert fetched_layer("b.safetensors", "sha256:" + "2" * 64) is None
