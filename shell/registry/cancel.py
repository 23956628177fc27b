"""Prompt cancellation: a transfer knows the socket it is using, so another thread can break
a read or write blocked on a stalled peer at once instead of after the read timeout.

A ``Transfer`` is one public operation; while it sends a request it is this thread's
``current`` transfer, and the connection carrying the request (``connections``) attaches
itself to it. ``CancelWatcher`` aborts the transfers whose cancel event gets set, and all of
them on ``abort_all`` (Ctrl-C).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import urllib3.connection

from cogw.shell.registry.errors import RegistryCancelled

# The transfer whose request this thread is sending, so the connection that carries it can
# register itself (requests gives no other way to reach the socket of a request in flight).
_current = threading.local()
_CANCEL_POLL_SECONDS = 0.05


def _shut_down(connection: urllib3.connection.HTTPConnection) -> None:
    sock = connection.sock
    if sock is None:
        return
    with contextlib.suppress(OSError):
        # The plain socket's shutdown: SSLSocket.shutdown would also drop its TLS state
        # under the feet of the thread blocked in it. Unlike close(), shutdown wakes a
        # thread blocked in recv or send on Linux.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Transfer:
    """One public operation's hold on the connection it is using, so another thread (the
    cancel watcher, or abort()) can break a read or write blocked on a stalled peer at once
    instead of after the read timeout."""

    def __init__(self, cancel: threading.Event | None) -> None:
        self.cancel = cancel
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._connection: urllib3.connection.HTTPConnection | None = None

    @property
    def cancelled(self) -> bool:
        return self.stopped.is_set() or (self.cancel is not None and self.cancel.is_set())

    def check(self) -> None:
        """Raise RegistryCancelled once the transfer is cancelled."""
        if self.cancelled:
            raise RegistryCancelled("cancelled")

    def wait(self, seconds: float) -> bool:
        """Sleep, waking early when cancelled; True when cancelled."""
        return self.stopped.wait(seconds) or self.cancelled

    def attach(self, connection: urllib3.connection.HTTPConnection) -> None:
        with self._lock:
            self._connection = connection
        if self.stopped.is_set():
            _shut_down(connection)  # stopped before this request reached its socket

    def detach(self) -> None:
        with self._lock:
            self._connection = None

    def abort(self) -> None:
        self.stopped.set()
        with self._lock:
            connection = self._connection
        if connection is not None:
            _shut_down(connection)


class CancelWatcher:
    """Aborts the transfers whose cancel event gets set. It polls, because a thread cannot
    wait on several Events at once, and it runs only while a transfer has a cancel event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._transfers: set[Transfer] = set()
        self._running = False
        self.aborted = False

    @contextlib.contextmanager
    def watching(self, cancel: threading.Event | None = None) -> Iterator[Transfer]:
        """One public operation: abort_all() and ``cancel`` reach the connection it uses."""
        transfer = Transfer(cancel)
        self.add(transfer)
        try:
            yield transfer
        finally:
            transfer.detach()
            self.remove(transfer)

    def add(self, transfer: Transfer) -> None:
        with self._lock:
            self._transfers.add(transfer)
            aborted = self.aborted
            start = transfer.cancel is not None and not self._running
            self._running = self._running or start
        if aborted:
            transfer.abort()
        if start:
            threading.Thread(target=self._run, name="registry-cancel", daemon=True).start()

    def remove(self, transfer: Transfer) -> None:
        with self._lock:
            self._transfers.discard(transfer)

    def abort_all(self) -> None:
        with self._lock:
            self.aborted = True
            transfers = list(self._transfers)
        for transfer in transfers:
            transfer.abort()

    def _run(self) -> None:
        while True:
            with self._lock:
                watched = [t for t in self._transfers if t.cancel is not None]
                if not watched:
                    self._running = False
                    return
            for transfer in watched:
                wanted = transfer.cancel is not None and transfer.cancel.is_set()
                if wanted and not transfer.stopped.is_set():
                    transfer.abort()
            time.sleep(_CANCEL_POLL_SECONDS)


@contextlib.contextmanager
def sending_for(transfer: Transfer) -> Iterator[None]:
    """Make ``transfer`` this thread's current one while a request is sent."""
    previous = getattr(_current, "transfer", None)
    _current.transfer = transfer
    try:
        yield
    finally:
        _current.transfer = previous


def attach_to_current_transfer(connection: urllib3.connection.HTTPConnection) -> None:
    transfer: Transfer | None = getattr(_current, "transfer", None)
    if transfer is not None:
        transfer.attach(connection)
