"""`--debug`: one line per HTTP response (method, URL, status, timing), never credentials.

The trace is a response hook on every requests Session created after it is
installed (requests builds each Session's hooks from ``default_hooks``), so the
registry client needs no change. Only scheme, host, port and path are written:
no query string (signed redirect URLs carry their signature there), no user
info, never a header.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import urlsplit

import click

_lock = threading.Lock()


def safe_url(url: str) -> str:
    """``url`` without user info, query or fragment.

    >>> safe_url("https://u:p@r.example:5000/v2/a/blobs/sha256:ab?X-Amz-Signature=s#f")
    'https://r.example:5000/v2/a/blobs/sha256:ab'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def trace_line(method: str, url: str, status: int, seconds: float) -> str:
    """One trace line: "http: GET http://h/v2/ 401 12.3ms" (time to the response headers)."""
    return f"http: {method} {safe_url(url)} {status} {seconds * 1000:.1f}ms"


def install(out: TextIO) -> Callable[[], None]:
    """Trace every response of Sessions created from now on to ``out``; returns the
    function that stops tracing new Sessions."""
    import requests.sessions

    original = requests.sessions.default_hooks

    def write(response: Any, *_args: Any, **_kwargs: Any) -> None:
        line = trace_line(
            str(response.request.method),
            str(response.url),
            int(response.status_code),
            response.elapsed.total_seconds(),
        )
        with _lock:
            out.write(line + "\n")
            out.flush()

    def default_hooks() -> dict[str, list[Any]]:
        hooks = original()
        hooks["response"].append(write)
        return hooks

    def uninstall() -> None:
        requests.sessions.default_hooks = original

    requests.sessions.default_hooks = default_hooks
    return uninstall


def _enable(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
    # meta is shared by the contexts of one invocation: `cogw --debug import --debug`
    # installs once, and the hook goes when the command ends.
    if not value or ctx.resilient_parsing or ctx.meta.get("cogw.debug"):
        return
    if value is True:
        out: TextIO = sys.stderr
    else:
        try:
            out = open(value, "a", encoding="utf-8")  # noqa: SIM115  # closed with the context
        except OSError as exc:
            raise click.BadParameter(f"cannot open {value}: {exc.strerror}") from exc
        ctx.call_on_close(out.close)
    ctx.meta["cogw.debug"] = True
    ctx.call_on_close(install(out))


debug_options = [
    click.option(
        "--debug",
        is_flag=True,
        expose_value=False,
        callback=_enable,
        help="Trace HTTP requests (method, URL, status, time) to stderr; never credentials.",
    ),
    click.option(
        "--debug-file",
        metavar="FILE",
        expose_value=False,
        callback=_enable,
        help="Append the --debug trace to FILE instead of stderr.",
    ),
]
