"""Weight-relative path rules, and Go's lexical path functions, as pure string work.

A weight file path (``files[].path`` in weights.lock, a tar entry name, an
inventory path) is always relative to its weight directory, uses forward
slashes and is already clean. This module knows those rules and Go's
``filepath.Clean``/``Join`` semantics (which Cog's mount and config code rely
on); it does not know about the disk: nothing here resolves symlinks or
touches a file, so every answer is lexical.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cogw.core.digest import go_quote

_MAX_ASCII_CONTROL = 0x20
_DEL = 0x7F
# The common safe path, matched in C: components of printable ASCII but "/" and "\\", none
# of them "." or ".." (a lockfile or a source of 100 000 files asks this of every path).
_PLAIN_PATH = re.compile(
    r"(?!\.\.?(?:/|\Z))[ -.0-\[\]-~]+(?:/(?!\.\.?(?:/|\Z))[ -.0-\[\]-~]+)*"
).fullmatch


def go_clean(path: str) -> str:
    """Go ``filepath.Clean`` on a slash-separated path (``Clean("") == "."``).

    >>> go_clean("a//b/./c/..")
    'a/b'
    >>> go_clean("/../x/")
    '/x'
    >>> go_clean("a/../..")
    '..'
    """
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for comp in path.split("/"):
        if comp in ("", "."):
            continue
        if comp != "..":
            parts.append(comp)
        elif parts and parts[-1] != "..":
            parts.pop()
        elif not rooted:
            # A relative path may climb above its start; a rooted one stops at "/".
            parts.append("..")
    body = "/".join(parts)
    if rooted:
        return "/" + body
    return body or "."


def quote(text: str) -> str:
    """Go's %q (:func:`cogw.core.digest.go_quote`) that stays printable for any str.

    A lone surrogate (from a ``\\udXXX`` JSON escape or surrogateescape decoding)
    is shown as ``\\uXXXX``: left raw it could not be written to a UTF-8 terminal.

    >>> quote('a"b\\tc')
    '"a\\\\"b\\\\tc"'
    >>> quote("x\\udc80")
    '"x\\\\udc80"'
    """
    return "".join(f"\\u{ord(ch):04x}" if _is_surrogate(ch) else ch for ch in go_quote(text))


def _is_surrogate(ch: str) -> bool:
    return 0xD800 <= ord(ch) <= 0xDFFF


def _bad_character(path: str) -> str | None:
    if path.isascii() and path.isprintable() and "\\" not in path:
        return None  # the common case: printable ASCII has no control character or surrogate
    for ch in path:
        code = ord(ch)
        if code < _MAX_ASCII_CONTROL or code == _DEL:
            return f"path {quote(path)} contains control character U+{code:04X}"
        if _is_surrogate(ch):
            # Lone surrogates only arrive through "\udXXX" JSON escapes or
            # surrogateescape decoding; they cannot be written as UTF-8.
            return f"path {quote(path)} is not valid UTF-8"
        if ch == "\\":
            quoted = quote(path)
            return f"path {quoted} contains a backslash; weight file paths use forward slashes"
    return None


def path_error(path: str) -> str | None:
    """Why ``path`` is not a safe weight-relative file path; None when it is.

    Safe means: non-empty, relative, forward slashes, every component a real
    name (no "", "." or ".."), no control characters, valid UTF-8. Such a path
    can be joined under a weight directory without any cleaning and names
    exactly one file, so two spellings of the same file cannot both appear.

    >>> path_error("1_Pooling/config.json") is None
    True
    >>> path_error("../x")
    'path "../x" escapes the weight directory'
    """
    if _PLAIN_PATH(path) is not None:
        return None
    if path == "":
        return "file path is empty"
    bad = _bad_character(path)
    if bad is not None:
        return bad
    if path.startswith("/"):
        return (
            f"path {quote(path)} is absolute; weight file paths are relative to the weight "
            "directory"
        )
    components = path.split("/")
    if "" not in components and "." not in components and ".." not in components:
        return None  # clean, so go_clean would return it unchanged: it cannot escape
    cleaned = go_clean(path)
    if cleaned == ".." or cleaned.startswith("../"):
        return f"path {quote(path)} escapes the weight directory"
    return f'path {quote(path)} is not clean (it has an empty, "." or ".." component)'


def all_plain(paths: Iterable[str]) -> bool:
    """True only when :func:`path_error` finds nothing in any of ``paths`` and each is
    plain printable ASCII (one C match per path); False: ask :func:`path_error` of each.

    >>> all_plain(["a/b.bin", "c"]), all_plain(["a/../b"]), all_plain(["é.bin"])
    (True, False, False)
    """
    return all(map(_PLAIN_PATH, paths))


def go_join(*elems: str) -> str:
    """Go ``filepath.Join``: join the non-empty elements with "/" and clean; "" if none."""
    kept = [e for e in elems if e != ""]
    if not kept:
        return ""
    return go_clean("/".join(kept))


def _is_within(joined: str, clean_base: str) -> bool:
    if joined == clean_base:
        return True
    if clean_base == "/":
        # Cog's `base + "/"` prefix test would reject everything under "/"; a
        # root base holds every absolute path.
        return joined.startswith("/")
    if clean_base == ".":
        return not joined.startswith("/") and joined != ".." and not joined.startswith("../")
    return joined.startswith(clean_base + "/")


def safe_join(base: str, rel: str) -> str | None:
    """Cog's ``safeJoin``: ``rel`` joined under ``base``, or None if it escapes or is empty.

    An absolute ``rel`` is re-rooted under ``base`` (Go ``filepath.Join``), so
    ``safe_join("/m", "/etc/passwd") == "/m/etc/passwd"``; ``"."`` gives base itself.

    >>> safe_join("/m/w", "a/../b")
    '/m/w/b'
    >>> safe_join("/m/w", "../x") is None
    True
    """
    if rel == "":
        return None
    clean_base = go_clean(base)
    if _PLAIN_PATH(rel) is not None:
        # No empty, "." or ".." component and not absolute: cleaning the join would
        # change nothing, and it stays under base (prepare asks this once per file).
        if clean_base == ".":
            return rel
        return ("" if clean_base == "/" else clean_base) + "/" + rel
    joined = go_clean(clean_base + "/" + rel)
    if not _is_within(joined, clean_base):
        return None
    return joined


def is_subpath(child: str, parent: str) -> bool:
    """Cog's ``isSubpath`` on cleaned paths: ``child`` lies strictly inside ``parent``.

    ``/src/weights2`` is not inside ``/src/weights``; a path is not inside itself.

    >>> is_subpath("/src/weights/a/", "/src/weights")
    True
    >>> is_subpath("/src/weights2", "/src/weights")
    False
    """
    c, p = go_clean(child), go_clean(parent)
    if c == p:
        return False
    if p == "/":
        return c.startswith("/")
    return c.startswith(p + "/")
