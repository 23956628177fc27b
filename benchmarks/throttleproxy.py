"""A TCP proxy on 127.0.0.1 that caps each connection's download rate, as a remote
registry or CDN caps a single stream.

    ThrottleProxy("127.0.0.1:5000", 25e6).start()  # .host is "127.0.0.1:PORT"; .stop()

Bytes from the upstream to the client go out in 64 KiB slices, each connection paced
on its own to ``rate`` bytes per second; the other direction is not limited. A connection
that sat idle (a kept-alive one between requests) earns no credit for a later burst:
the pace restarts from when bytes flow again, so no connection ever beats the cap.
``connections`` counts the connections accepted so far. Bounded: at most MAX_CONNECTIONS
at once (later ones wait in the listen backlog), daemon threads, and stop() closes every
socket.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

SLICE = 64 << 10
MAX_CONNECTIONS = 64


class ThrottleProxy:
    def __init__(self, upstream: str, rate: float) -> None:
        host, _, port = upstream.rpartition(":")
        self._upstream = (host, int(port))
        self._rate = rate
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._stopped = threading.Event()
        self.connections = 0

    def start(self) -> ThrottleProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            self._slots.acquire()
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            with self._lock:
                self._sockets |= {client, upstream}
                self.connections += 1
            done = threading.Event()
            for args in ((client, upstream, 0.0, done), (upstream, client, self._rate, done)):
                threading.Thread(target=self._pump, args=args, daemon=True).start()

    def _pump(
        self, src: socket.socket, dst: socket.socket, rate: float, done: threading.Event
    ) -> None:
        due = time.monotonic()  # when the bytes sent so far may all have left, at ``rate``
        try:
            while data := src.recv(SLICE):
                dst.sendall(data)
                if rate:
                    now = time.monotonic()
                    due = max(due, now) + len(data) / rate  # idle time is no credit
                    if due > now:
                        time.sleep(due - now)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            if not done.is_set():
                done.set()
            else:
                src.close()
                dst.close()
                with self._lock:
                    self._sockets -= {src, dst}
                self._slots.release()
