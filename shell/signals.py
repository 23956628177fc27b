"""SIGTERM is handled like Ctrl-C: the same cleanup, then exit 143 instead of 130.

``docker stop`` and Kubernetes send SIGTERM. Python's default ends the process at once,
skipping every ``finally`` (temp files and half-built mounts stay behind). Raising
:class:`Terminated`, a KeyboardInterrupt, from the handler sends the termination down
every path Ctrl-C already takes: workers are cancelled, temp files removed, a mount
being built is deleted, weights.lock is not written, and the CLI prints its one
``interrupted`` line. Only the exit status differs (128 + 15).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType

EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


_received: list[int] = []


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    if _received:
        return  # a second SIGTERM must not interrupt the cleanup the first one started
    _received.append(signum)
    raise Terminated


def run_terminable(entry: Callable[[], None]) -> None:
    """Run the CLI ``entry``; after a SIGTERM, whatever it exits with becomes 143."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        entry()
    except SystemExit:
        if _received:
            raise SystemExit(EXIT_TERMINATED) from None
        raise
    except Terminated:
        raise SystemExit(EXIT_TERMINATED) from None
    if _received:
        raise SystemExit(EXIT_TERMINATED)
