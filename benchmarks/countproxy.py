"""A TCP forwarder on 127.0.0.1 that counts the bytes its upstream sends to clients.

Put in front of the fleet benchmark's origin registry, its count is exactly what the
origin served (HTTP headers included), whoever asked: a node pulling directly or a
pull-through mirror filling itself. It knows nothing of HTTP or registries.

Bounded so that it can never outlive a run: at most ``max_connections`` clients at once
(others wait in the listen backlog), and after ``lifetime`` seconds it stops by itself.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType

CHUNK = 1 << 20
ACCEPT_POLL = 0.2  # how often the accept loop looks at the stop flag and the deadline
DEFAULT_LIFETIME = 3600.0
DEFAULT_MAX_CONNECTIONS = 64


class CountingProxy:
    """``with CountingProxy("127.0.0.1:5000") as proxy:`` forwards ``proxy.host`` there."""

    def __init__(
        self,
        upstream: str,
        lifetime: float = DEFAULT_LIFETIME,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        host, _, port = upstream.rpartition(":")
        self._upstream = (host, int(port))
        self._deadline = time.monotonic() + lifetime
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._served = 0
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(ACCEPT_POLL)
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, where clients connect."""
        port = self._listener.getsockname()[1]
        return f"127.0.0.1:{port}"

    @property
    def served(self) -> int:
        """Bytes forwarded from the upstream to clients since the start or the last reset."""
        with self._lock:
            return self._served

    @property
    def accepting(self) -> bool:
        """Whether it still takes new connections (not stopped, lifetime not over)."""
        return self._thread.is_alive()

    def reset(self) -> int:
        """Set the count to zero; return what it was."""
        with self._lock:
            before, self._served = self._served, 0
            return before

    def wait_quiet(self, quiet: float, timeout: float) -> bool:
        """Wait until the count has not moved for ``quiet`` seconds (False on timeout):
        a pull-through cache goes on fetching from the origin after its client is served."""
        deadline = time.monotonic() + timeout
        last, since = self.served, time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(min(0.1, quiet))
            now = self.served
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return True
        return False

    def start(self) -> CountingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            _close(sock)
        self._listener.close()

    def __enter__(self) -> CountingProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set() and time.monotonic() < self._deadline:
            if not self._slots.acquire(timeout=ACCEPT_POLL):
                continue
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                self._slots.release()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()
        self._stopping.set()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self._upstream, timeout=10)
        except OSError:
            _close(client)
            self._slots.release()
            return
        upstream.settimeout(None)
        self._track(client, upstream)
        back = threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True)
        back.start()
        self._pump(client, upstream, False)
        back.join()
        _close(client)
        _close(upstream)
        self._untrack(client, upstream)
        self._slots.release()

    def _pump(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        try:
            while data := source.recv(CHUNK):
                sink.sendall(data)
                if counted:
                    with self._lock:
                        self._served += len(data)
            sink.shutdown(socket.SHUT_WR)  # pass the end of the stream on, as TCP would
        except OSError:
            # A reset on one side: close both so the other direction's recv returns too.
            _close(sink)
            _close(source)

    def _track(self, *socks: socket.socket) -> None:
        with self._lock:
            self._sockets.update(socks)

    def _untrack(self, *socks: socket.socket) -> None:
        with self._lock:
            self._sockets.difference_update(socks)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
