"""Secrets out of text: every line a user, a log or ``--json`` sees passes through here.

A credential can reach output by many roads — a registry's error body that echoes the
request headers, an exception from an HTTP library that quotes a URL, a debug line. Rather
than trust each road, the shell registers every secret it loads or is issued (passwords,
identity tokens, bearer tokens) and redacts all outgoing text of them. A secret is hidden
in the forms it travels in: as it is, URL-encoded, JSON-escaped, and — for a username and
password — as the base64 of a Basic ``Authorization`` header.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "<redacted>"
# Shorter secrets are hidden only where they stand alone: hiding every "pw" inside other
# words would garble messages while protecting nothing a guess would not find.
MIN_INFIX_LENGTH = 4


def secret_forms(secret: str) -> frozenset[str]:
    """The spellings of ``secret`` that may appear in text: raw, URL-encoded, JSON-escaped.

    >>> sorted(secret_forms('p@ss"'))
    ['p%40ss%22', 'p@ss"', 'p@ss\\\\"']
    >>> secret_forms("")
    frozenset()
    """
    if not secret:
        return frozenset()
    import json  # here, not at the top: every command, --help too, loads this module

    return frozenset({secret, _percent_encoded(secret), json.dumps(secret)[1:-1]})


def _percent_encoded(text: str) -> str:
    """``text`` as a URL query or path carries it (RFC 3986 unreserved characters kept)."""
    return "".join(
        char
        if char.isascii() and (char.isalnum() or char in "-._~")
        else "".join(f"%{byte:02X}" for byte in char.encode())
        for char in text
    )


def basic_forms(username: str, password: str) -> frozenset[str]:
    """The password's forms plus the base64 ``user:password`` a Basic header carries.

    >>> sorted(basic_forms("u", "secret1"))
    ['dTpzZWNyZXQx', 'secret1']
    """
    if not password:
        return frozenset()
    import base64  # here, not at the top: as json above

    pair = base64.b64encode(f"{username}:{password}".encode()).decode()
    return secret_forms(password) | {pair}


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by ``<redacted>``; longer
    secrets first, so one that contains another is hidden whole.

    >>> redact("Authorization: Bearer abc.def.ghi", ["abc.def.ghi"])
    'Authorization: Bearer <redacted>'
    >>> redact("pw is not in pwned", ["pw"])
    '<redacted> is not in pwned'
    >>> redact("nothing here", [])
    'nothing here'
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if secret not in text:
            continue
        if len(secret) >= MIN_INFIX_LENGTH:
            text = text.replace(secret, REDACTED)
        else:
            alone = rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])"
            text = re.sub(alone, REDACTED, text)
    return text
