"""When a failing registry request is given up, and what the one line about it says.

Retries are bounded three ways: a number of attempts, a backoff capped per wait, and a
total deadline per operation, so a registry that keeps answering 503 cannot hold a
command for hours. "Connection refused" is not a transient fault worth the schedule —
nothing listens there — so it gets one quick retry (a registry restarting) and then a
hint. Messages name what failed and what to do; they never carry exception class names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cogw.core.registry.reference import is_loopback_host

CONNECTION_REFUSED = "connection refused"
REFUSED_ATTEMPTS = 2  # the first attempt and one retry


@dataclass(frozen=True, slots=True)
class Budget:
    """How much retrying one operation may do."""

    max_attempts: int
    deadline_seconds: float


def give_up(failures: int, reason: str, elapsed: float, delay: float, budget: Budget) -> bool:
    """Whether to stop after ``failures`` failed attempts rather than wait ``delay`` more.

    >>> b = Budget(max_attempts=5, deadline_seconds=60)
    >>> give_up(1, "HTTP 503", 0.0, 0.5, b), give_up(5, "HTTP 503", 0.0, 0.5, b)
    (False, True)
    >>> give_up(2, "HTTP 503", 59.0, 2.0, b), give_up(2, "connection refused", 0.0, 0.5, b)
    (True, True)
    """
    if failures >= budget.max_attempts:
        return True
    if reason == CONNECTION_REFUSED and failures >= REFUSED_ATTEMPTS:
        return True
    return elapsed + delay > budget.deadline_seconds


def refused_delay(reason: str, delay: float) -> float:
    """A refused connection is retried once, soon: a registry restarting is up in a moment
    or not at all.

    >>> refused_delay("connection refused", 8.0), refused_delay("HTTP 503", 8.0)
    (0.2, 8.0)
    """
    return min(delay, 0.2) if reason == CONNECTION_REFUSED else delay


#: A registry's HTTP status inside a failure's reason.
_HTTP_STATUS = re.compile(r"\bHTTP [1-5][0-9][0-9]\b")


def giving_up_message(what: str, registry: str, failures: int, reason: str) -> str:
    """The one line a request that was given up prints.

    >>> giving_up_message("GET manifest", "localhost:1", 2, "connection refused")
    'cannot reach localhost:1 (connection refused): is the registry running at localhost:1?'
    >>> giving_up_message("GET manifest", "r.io", 5, "HTTP 503").split(";")[0]
    'GET manifest: HTTP 503, giving up after 5 attempts'

    A reason that carries the registry's status anywhere (a whole upload's error names
    its request first) is the registry failing, not the network:

    >>> reason = "POST http://r.io/v2/x/blobs/uploads/: HTTP 500 UNKNOWN"
    >>> giving_up_message("upload", "r.io", 5, reason).split("; ")[1]
    'the registry r.io is busy or failing, try again later'
    """
    if reason == CONNECTION_REFUSED:
        return f"cannot reach {registry} ({reason}): is the registry running at {registry}?"
    if _HTTP_STATUS.search(reason):
        return (
            f"{what}: {reason}, giving up after {failures} attempts; the registry {registry} "
            "is busy or failing, try again later"
        )
    return (
        f"{what}: {reason}, giving up after {failures} attempts; check the network "
        f"connection to {registry} and try again"
    )


def tls_hint(registry: str, certificate_problem: bool) -> str:
    """What to do about a failed TLS connection: a private CA's bundle, or — for a server
    that does not speak TLS at all — ``--insecure-registry`` when it may be spoken to
    over plain HTTP.

    >>> "--insecure-registry reg.lan:5000" in tls_hint("reg.lan:5000", False)
    True
    >>> "--ca-bundle" in tls_hint("reg.lan", True), "--insecure" in tls_hint("reg.lan", True)
    (True, False)
    """
    ca = (
        "if the registry uses a private CA, pass its certificate as a CA bundle "
        "(--ca-bundle FILE, or COGW_CA_BUNDLE=FILE)"
    )
    if certificate_problem or is_loopback_host(registry):
        return ca
    return (
        f"{ca}; if it serves plain HTTP on a trusted network, allow that with "
        f"--insecure-registry {registry}"
    )


def is_insecure_host(registry: str, insecure_hosts: frozenset[str]) -> bool:
    """Whether the user allowed plain HTTP to ``registry``: listed as it is, or its host
    listed without a port (``--insecure-registry reg.lan`` covers ``reg.lan:5000``).

    >>> is_insecure_host("reg.lan:5000", frozenset({"reg.lan"}))
    True
    >>> is_insecure_host("reg.lan:5000", frozenset({"reg.lan:6000"}))
    False
    """
    listed = {h.strip().lower().removeprefix("http://").rstrip("/") for h in insecure_hosts}
    host = registry.lower()
    if host in listed:
        return True
    bare, colon, port = host.rpartition(":")
    return bool(colon) and port.isdigit() and not bare.endswith(":") and bare in listed
