"""JSON bytes exactly as Go's encoding/json writes them.

Cog's weights.lock, config blob and manifest are Go-marshalled; to share files
and digests with Cog, cogw must produce the same bytes: HTML characters and
U+2028/U+2029 escaped, other non-ASCII raw, map keys in the order given.
"""

from __future__ import annotations

import json
import re
from typing import Any

_GO_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def _go_escape(text: str) -> str:
    # Safe on whole documents: these characters can only occur inside strings.
    for raw, escaped in _GO_ESCAPES:
        text = text.replace(raw, escaped)
    return text


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _to_text(text: str) -> bytes:
    # Lone surrogates cannot come from UTF-8 input; if one is built in memory,
    # write the escape \ufffd as Go does for invalid UTF-8.
    return _LONE_SURROGATE.sub(r"\\ufffd", _go_escape(text)).encode("utf-8")


def go_marshal(value: Any) -> bytes:
    """Compact form: Go ``json.Marshal``."""
    return _to_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def go_marshal_indent(value: Any) -> bytes:
    """Two-space indented form, no trailing newline: Go ``json.MarshalIndent(v, "", "  ")``."""
    return _to_text(json.dumps(value, ensure_ascii=False, indent=2))
