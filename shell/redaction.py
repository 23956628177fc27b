"""The secrets in use this run, and the output streams that never show them.

Credentials register here as they are loaded (environment, Docker or containers config,
credential helpers) and tokens as token servers issue them. ``install`` wraps stdout and
stderr so that every line the process writes — messages, ``--json``, progress, debug logs,
a traceback — is redacted of them by ``core.redact``; registry errors are redacted when
they are made as well, so a caller that logs one elsewhere is covered too.
"""

from __future__ import annotations

import io
import sys
import threading
from typing import Any, TextIO

from cogw.core.redact import basic_forms, redact, secret_forms

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(secret: str) -> None:
    """Hide ``secret`` (in all its spellings) from every later output."""
    forms = secret_forms(secret)
    with _lock:
        _secrets.update(forms)


def register_login(username: str, password: str) -> None:
    """Hide a password and the Basic header made of it."""
    forms = basic_forms(username, password)
    with _lock:
        _secrets.update(forms)


def scrub(text: str) -> str:
    """``text`` without any secret registered so far."""
    with _lock:
        secrets = tuple(_secrets)
    return redact(text, secrets) if secrets else text


class RedactingStream(io.TextIOBase):
    """A text stream that redacts each write before passing it on."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(scrub(text))
        return len(text)

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._inner.encoding

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def install() -> None:
    """Redact everything written to stdout and stderr from now on (idempotent)."""
    if not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout)
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)
