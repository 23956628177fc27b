"""The fleet benchmark's counting proxy, which decides its "origin bytes served" figure,
against a real loopback TCP echo server."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from benchmarks.countproxy import CountingProxy
from benchmarks.fleet_report import FleetRun, WeightSizes, render


def _echo(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


@pytest.fixture
def echo_server() -> Iterator[str]:
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    server.close()


def _round_trip(host: str, payload: bytes) -> bytes:
    address, _, port = host.rpartition(":")
    with socket.create_connection((address, int(port)), timeout=10) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)  # the echo server ends when the request does
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    return bytes(received)


def test_counts_exactly_the_bytes_upstream_sent_to_clients(echo_server: str) -> None:
    payloads = [os.urandom(size) for size in (1, 70_000, 3 << 20)]
    results: list[bytes] = []
    with CountingProxy(echo_server) as proxy:
        threads = [
            threading.Thread(target=lambda p=p: results.append(_round_trip(proxy.host, p)))
            for p in payloads
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == sorted(payloads)  # forwarded intact, both ways
        assert proxy.wait_quiet(quiet=0.2, timeout=10)
        assert proxy.served == sum(len(p) for p in payloads)


def test_reset_returns_the_count_and_starts_again_from_zero(echo_server: str) -> None:
    with CountingProxy(echo_server) as proxy:
        _round_trip(proxy.host, b"x" * 1000)
        assert proxy.reset() == 1000
        assert proxy.served == 0
        _round_trip(proxy.host, b"y" * 10)
        assert proxy.served == 10


def test_stops_by_itself_after_its_lifetime(echo_server: str) -> None:
    proxy = CountingProxy(echo_server, lifetime=0.3).start()
    try:
        assert proxy.accepting
        deadline = time.monotonic() + 5
        while proxy.accepting and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not proxy.accepting
    finally:
        proxy.stop()


def test_the_report_gives_min_median_max_of_each_scenario() -> None:
    mib = 1 << 20
    runs = [
        FleetRun("A", 1, 30.0, 400 * mib),
        FleetRun("B", 1, 12.0, 0, 9.0, 200 * mib),
        FleetRun("A", 2, 10.0, 402 * mib),
        FleetRun("B", 2, 14.0, 1 * mib, 7.0, 202 * mib),
        FleetRun("A", 3, 20.0, 401 * mib),
        FleetRun("B", 3, 13.0, 2 * mib, 8.0, 201 * mib),
    ]
    report = render(runs, 4, 100, WeightSizes(files=105 * mib, stored=100 * mib), [("k", "v")])
    assert (
        "| A: straight from the origin | 10.0 / 20.0 / 30.0 | 400.0 / 401.0 / 402.0 | 4.01× |"
        in report
    )
    assert (
        "| B: through the warmed mirror | 12.0 / 13.0 / 14.0 | 0.0 / 1.0 / 2.0 | 0.01× |" in report
    )
    assert "| 7.0 / 8.0 / 9.0 | 200.0 / 201.0 / 202.0 | 2.01× |" in report
    assert "| k | v |" in report
