"""Content digests: ``sha256:<64 lowercase hex>``, the only algorithm cogw accepts.

Digests stay plain ``str`` values everywhere; this module is the one place that
knows their grammar, so every store path, lockfile field and registry reference
is validated by the same rules (Cog's ``parseDigest``, with its error texts).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

ALGORITHM = "sha256"
PREFIX = "sha256:"
EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
_HEX = frozenset("0123456789abcdef")
# The valid form, matched in C: a lockfile of 100 000 files checks as many digests.
_VALID = re.compile(r"sha256:[0-9a-f]{64}").fullmatch


def go_quote(s: str) -> str:
    """Go's %q for the strings that reach digest errors (ASCII in practice)."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def digest_error(value: str) -> str | None:
    """Why ``value`` is not a valid digest, in Cog's words; None when it is valid.

    >>> digest_error("sha256:" + "a" * 64) is None
    True
    >>> digest_error("no-colon")
    'invalid digest "no-colon": missing algorithm prefix'
    """
    if _VALID(value) is not None:
        return None  # the common case, decided without building a message
    prefix = f"invalid digest {go_quote(value)}: "
    algo, sep, hexpart = value.partition(":")
    if not sep:
        return prefix + "missing algorithm prefix"
    if algo != ALGORITHM:
        return prefix + "only sha256 is supported"
    if len(hexpart.encode()) != 64:
        return prefix + f"expected 64 hex chars, got {len(hexpart.encode())}"
    if hexpart.lower() != hexpart:
        return prefix + "non-lowercase hex"
    for ch in hexpart:
        if ch not in _HEX:
            return prefix + f"encoding/hex: invalid byte: U+{ord(ch):04X} {ch!r}"
    return None


_LENGTH = len(PREFIX) + 64
_HEX_BYTES = b"0123456789abcdef"
_PREFIX_LEFT = PREFIX.encode().translate(None, _HEX_BYTES)  # b"sh:": its bytes not hex digits


def all_valid(digests: Sequence[str]) -> bool:
    """Whether :func:`digest_error` finds nothing in any of ``digests``.

    Decided on their bytes joined, in a few C passes rather than a match per digest:
    every one is ``_LENGTH`` ASCII characters, byte ``i`` of each is byte ``i`` of
    ``sha256:`` for the prefix, and deleting every hex digit leaves exactly what it
    leaves of the prefixes, so no other byte is anything but ``[0-9a-f]``.

    >>> all_valid(["sha256:" + "a" * 64, "sha256:" + "0" * 64]), all_valid([])
    (True, True)
    >>> all_valid(["sha256:" + "A" * 64]), all_valid(["sha512:" + "a" * 64])
    (False, False)
    """
    if not digests:
        return True
    joined = "".join(digests)
    if set(map(len, digests)) != {_LENGTH} or not joined.isascii():
        return False
    data, count = joined.encode("ascii"), len(digests)
    for index, byte in enumerate(PREFIX.encode()):
        if data[index::_LENGTH] != bytes((byte,)) * count:
            return False
    return data.translate(None, _HEX_BYTES) == _PREFIX_LEFT * count


def is_digest(value: str) -> bool:
    return digest_error(value) is None


def hex_of(digest: str) -> str:
    """The part after the first colon ('' when there is none)."""
    return digest.partition(":")[2]


def short_digest(digest: str) -> str:
    """First 12 characters after the colon (Cog's ShortDigest); '' without a colon."""
    _, sep, rest = digest.partition(":")
    if not sep or not rest:
        return ""
    return rest[:12]


def format_digest_short(digest: str) -> str:
    """``sha256:<12 hex>`` for display; anything unparseable is returned unchanged."""
    short = short_digest(digest)
    if not short:
        return digest
    return f"{digest.partition(':')[0]}:{short}"


def sha256_of(data: bytes) -> str:
    """The digest of an in-memory value (hashing is pure computation, not I/O)."""
    return PREFIX + hashlib.sha256(data).hexdigest()
