"""When retries stop, what the line says, plain HTTP for insecure hosts, the TLS hint."""

from __future__ import annotations

import pytest

from cogw.core.registry.registryfaults import (
    CONNECTION_REFUSED,
    Budget,
    give_up,
    giving_up_message,
    is_insecure_host,
    refused_delay,
    tls_hint,
)
from cogw.core.registry.registryrules import registry_scheme

BUDGET = Budget(max_attempts=5, deadline_seconds=120)


@pytest.mark.parametrize(
    ("failures", "reason", "elapsed", "delay", "stop"),
    [
        (1, "HTTP 503", 0.0, 0.5, False),
        (4, "connection reset", 10.0, 4.0, False),
        (5, "HTTP 503", 0.0, 0.5, True),
        (2, "HTTP 429", 119.0, 2.0, True),
        (1, CONNECTION_REFUSED, 0.0, 0.2, False),
        (2, CONNECTION_REFUSED, 0.0, 0.2, True),
    ],
)
def test_retries_stop_at_the_attempts_the_deadline_or_a_second_refusal(
    failures: int, reason: str, elapsed: float, delay: float, stop: bool
) -> None:
    assert give_up(failures, reason, elapsed, delay, BUDGET) is stop


def test_a_refused_connection_is_retried_soon_and_others_on_schedule() -> None:
    assert refused_delay(CONNECTION_REFUSED, 4.0) < 1.0
    assert refused_delay("HTTP 503", 4.0) == 4.0


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        (CONNECTION_REFUSED, "is the registry running at reg.lan:5000?"),
        ("HTTP 503", "busy or failing, try again later"),
        ("POST http://reg.lan:5000/v2/a/blobs/uploads/: HTTP 500", "busy or failing, try again"),
        ("the answer broke off before its end", "check the network connection to reg.lan:5000"),
        ("HTTP/1.1 connection reset", "check the network connection to reg.lan:5000"),
    ],
)
def test_a_given_up_request_is_one_line_saying_what_to_do(reason: str, says: str) -> None:
    message = giving_up_message("GET http://reg.lan:5000/v2/", "reg.lan:5000", 2, reason)
    assert says in message and "\n" not in message
    assert "Error" not in message and "Exception" not in message


@pytest.mark.parametrize(
    ("registry", "listed", "insecure"),
    [
        ("reg.lan:5000", {"reg.lan"}, True),
        ("reg.lan:5000", {"reg.lan:5000"}, True),
        ("reg.lan", {"reg.lan"}, True),
        ("reg.lan:5000", {"reg.lan:6000"}, False),
        ("reg.lan", {"reg.lan:5000"}, False),
        ("other.lan:5000", {"reg.lan"}, False),
        ("REG.lan:5000", {"http://reg.lan/"}, True),
    ],
)
def test_insecure_registry_covers_the_host_with_or_without_port(
    registry: str, listed: set[str], insecure: bool
) -> None:
    assert is_insecure_host(registry, frozenset(listed)) is insecure
    assert registry_scheme(registry, frozenset(listed)) == ("http" if insecure else "https")


def test_the_tls_hint_names_insecure_registry_only_where_it_can_help() -> None:
    plain = tls_hint("reg.lan:5000", certificate_problem=False)
    assert "--insecure-registry reg.lan:5000" in plain and "--ca-bundle" in plain
    assert "--insecure-registry" not in tls_hint("reg.lan:5000", certificate_problem=True)
    assert "--insecure-registry" not in tls_hint("127.0.0.1:5000", certificate_problem=False)
