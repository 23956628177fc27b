"""Pulls through a faulty network, against nothing at all, and against plain endpoints.

The fault proxy spoils about 30 % of the requests of each pull — resets mid-body, bodies
cut short, the connection closed right after the headers, 503s and 429s with Retry-After,
a byte flipped in a manifest — and every pull must still complete with the right bytes.
A pull against a port where nothing listens must stop after one quick retry and say
"is the registry running?", once per failure, without exception class names.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cogw.shell.registry import RegistryClient, RegistryOptions
from tests.e2e.conftest import SMALL_FILES, Project
from tests.fixtures.faultproxy import Chaos, FaultProxy, FaultRule
from tests.fixtures.registry import RunningRegistry

pytestmark = pytest.mark.registry

StartProxy = Callable[[RunningRegistry], FaultProxy]
ALPHA = """weights:
  - name: alpha
    target: /src/weights/alpha
    source:
      uri: weights/alpha
"""
PULLS = int(os.environ.get("COGW_FAULT_PULLS", "10"))
REGISTRY_PATHS = r"/v2/"


def chaos_faults() -> list[FaultRule]:
    """What a flaky network and a busy registry do, for GET and HEAD alike."""
    faults: list[FaultRule] = []
    for method in ("GET", "HEAD"):
        faults += [
            FaultRule("status", method=method, path=REGISTRY_PATHS, status=503),
            FaultRule(
                "status",
                method=method,
                path=REGISTRY_PATHS,
                status=429,
                headers={"Retry-After": "1"},
            ),
            FaultRule("truncate", method=method, path=REGISTRY_PATHS, after_bytes=0),
            FaultRule("drop", method=method, path=REGISTRY_PATHS),
        ]
    faults += [
        FaultRule("reset", path=REGISTRY_PATHS, after_bytes=700),
        FaultRule("truncate", path=REGISTRY_PATHS, after_bytes=300),
        FaultRule("flip", path="/manifests/sha256:", after_bytes=40),
    ]
    return faults


@pytest.fixture
def imported(tmp_path: Path, registry: RunningRegistry) -> Project:
    directory = tmp_path / "project"
    (directory / "weights" / "alpha").mkdir(parents=True)
    for rel, data in {**SMALL_FILES, "model.bin": os.urandom(1 << 20)}.items():
        path = directory / "weights" / "alpha" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    project = Project(directory, tmp_path / "cache", registry, "faults/alpha")
    project.write_config(ALPHA)
    result = project.run("import")
    assert result.exit_code == 0, result.stderr
    return project


@pytest.mark.slow
def test_every_pull_through_a_faulty_network_completes(
    imported: Project, fault_proxy: StartProxy
) -> None:
    proxy = fault_proxy(imported.registry)
    proxy.chaos = Chaos(rate=0.3, faults=chaos_faults(), seed=9)
    imported.write_config(ALPHA, image=f"{proxy.host}/{imported.repo}")
    failed = []
    for attempt in range(PULLS):
        shutil.rmtree(imported.cache, ignore_errors=True)
        result = imported.run("pull")
        if result.exit_code != 0 or imported.run("status").exit_code != 0:
            failed.append((attempt, result.stderr))
    injected = sum(proxy.chaos.injected.values())
    print(f"{PULLS} pulls, {len(proxy.recorded)} requests, {injected} faults", proxy.chaos.injected)
    assert failed == []
    assert injected >= PULLS, "the network was faulty enough to matter"


def test_a_flipped_byte_in_a_manifest_is_fetched_again(
    imported: Project, fault_proxy: StartProxy
) -> None:
    proxy = fault_proxy(imported.registry)
    proxy.add(FaultRule("flip", path="/manifests/sha256:", after_bytes=40))
    imported.write_config(ALPHA, image=f"{proxy.host}/{imported.repo}")
    shutil.rmtree(imported.cache)
    result = imported.run("pull")
    assert result.exit_code == 0, result.stderr
    faults = [r.fault for r in proxy.requests_matching("GET", "/manifests/sha256:")]
    assert faults[:2] == ["flip", ""]


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_pull_against_a_dead_port_fails_with_one_line_asking_if_the_registry_runs(
    imported: Project,
) -> None:
    host = f"127.0.0.1:{dead_port()}"
    imported.write_config(ALPHA, image=f"{host}/{imported.repo}")
    shutil.rmtree(imported.cache)
    result = imported.run("pull")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert f"is the registry running at {host}?" in errors[0]
    assert "Error:" not in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("connection refused") == 1, result.stderr


class TlsSilentServer:
    """Plain HTTP on loopback that never answers a TLS hello (it just waits), counting
    the hellos: a client that tries HTTPS first would sit out its connect timeout."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.tls_hellos = 0
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            first = conn.recv(65536)
            if first[:1] == b"\x16":  # a TLS handshake record
                self.tls_hellos += 1
                self.stop.wait(30)
                return
            body = b"{}"
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Docker-Distribution-API-Version: registry/2.0\r\n"
                b"Content-Length: 2\r\nConnection: close\r\n\r\n" + body
            )


@pytest.fixture
def tls_silent() -> Iterator[TlsSilentServer]:
    server = TlsSilentServer()
    yield server
    server.stop.set()
    server.listener.close()


def test_a_loopback_registry_is_asked_over_plain_http_first(tls_silent: TlsSilentServer) -> None:
    options = RegistryOptions(connect_timeout=20, read_timeout=20)
    with RegistryClient(tls_silent.host, options) as client:
        client.ping()
        assert client.base_url == f"http://{tls_silent.host}"
    assert tls_silent.tls_hellos == 0
