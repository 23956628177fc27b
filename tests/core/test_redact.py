"""Redaction of secrets from output text, and the forms a secret travels in."""

from __future__ import annotations

import base64
import json

from hypothesis import given
from hypothesis import strategies as st

from cogw.core.redact import REDACTED, basic_forms, redact, secret_forms


def test_every_form_of_a_password_is_redacted_from_an_echoed_request() -> None:
    password = 'pa ss/"w0rd'
    basic = base64.b64encode(f"ci:{password}".encode()).decode()
    echoed = json.dumps({"message": f"Authorization: Basic {basic}; body: pw={password}"})
    echoed += " url: https://r/?p=pa%20ss%2F%22w0rd"
    text = redact(echoed, basic_forms("ci", password))
    assert password not in text and basic not in text and "pa%20ss" not in text
    assert json.dumps(password)[1:-1] not in text
    assert text.count(REDACTED) == 3


def test_a_secret_containing_another_is_hidden_whole() -> None:
    assert redact("token=abcdef123", ["abcd", "abcdef123"]) == f"token={REDACTED}"


def test_short_secrets_are_hidden_only_where_they_stand_alone() -> None:
    assert redact("user pw: pw, pwned", ["pw"]) == f"user {REDACTED}: {REDACTED}, pwned"


def test_no_secret_leaves_the_text_as_it_is() -> None:
    assert redact("HTTP 500", []) == "HTTP 500"
    assert redact("HTTP 500", [""]) == "HTTP 500"
    assert secret_forms("") == frozenset() and basic_forms("u", "") == frozenset()


@given(
    secret=st.text(min_size=4, max_size=40).filter(lambda s: REDACTED not in s),
    before=st.text(max_size=40),
    after=st.text(max_size=40),
)
def test_a_long_secret_never_survives_redaction(secret: str, before: str, after: str) -> None:
    text = redact(before + secret + after, secret_forms(secret))
    assert secret not in text or secret in REDACTED
