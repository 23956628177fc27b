"""Include/exclude patterns of a weight source: which inventory files are kept.

Knows the pattern language of ``source.include`` / ``source.exclude`` and how a
pattern selects slash-separated relative paths. Knows nothing about where the
paths come from (the shell lists sources) or about cog.yaml (``config`` validates
patterns with :func:`pattern_error` and reports them with their field names).

The translation is a port of go-gitignore's ``getPatternFromLine`` (the library
Cog v0.19.3 uses), so the patterns people write select the same files as in Cog:

* a bare name floats: ``config.json`` matches ``config.json`` and ``sub/config.json``;
* every pattern also selects everything *under* a matching path, so ``*.bin``
  keeps ``dir.bin/readme.md`` and ``tokenizer`` keeps ``tokenizer/vocab.json``;
* a trailing ``/`` (``openvino/``) selects only the contents of a directory;
* a leading ``/`` anchors at the source root;
* a pattern of the shape ``x/...*.ext`` (a non-slash, a slash, then ``*.``
  somewhere) is anchored too: ``onnx/*.onnx`` matches ``onnx/m.onnx`` but not
  ``a/onnx/m.onnx``; ``onnx/*`` has no ``*.`` and floats (``a/onnx/m.onnx``);
* ``*`` matches within one path component, ``**`` across components.

Fixed here, where Cog's behaviour is a quirk rather than a choice (import spec §17 #10):

* ``?`` matches exactly one character other than ``/`` (Cog: only a literal ``?``);
* regex metacharacters are literal: ``model+1.bin`` matches only ``model+1.bin``
  (Cog: ``+`` ``(`` ``)`` ``{`` ``}`` ``|`` ``^`` ``$`` keep their regex meaning);
* ``[abc]``, ``[a-z]`` and ``[!abc]`` / ``[^abc]`` are glob classes and never
  match ``/`` (Cog: a regex class, whose negation also matches ``/``);
* invalid patterns are rejected by :func:`pattern_error` instead of being
  silently dropped: empty, leading ``!`` (negation), backslashes, leading ``#``
  (a comment to Cog, so it selects nothing there), unbalanced ``[``, bad ranges;
* paths are matched with ``fullmatch``, so a trailing newline cannot sneak past ``$``;
  inside a path a newline is an ordinary character (Go's ``.`` would not match it,
  so Cog never selects files below a directory whose name holds a newline).

Matching runs on RE2 (``google-re2``), the engine Go's ``regexp`` implements and so
the one Cog's matcher really uses: it never backtracks, so matching a path costs time
linear in the path's length whatever the pattern (Python's ``re`` takes minutes on
``a*a*a*…b`` against a long name). The price is RE2's syntax: no lookahead, which is
why a class excludes ``/`` by set subtraction. Limits on the length and the number of
patterns keep the compiled program small (:data:`MAX_PATTERN_LENGTH`,
:data:`MAX_PATTERNS`).

Differences that remain on purpose, because changing them would change what
ordinary patterns select in Cog: the "anchored only with ``/…*.``" rule (even
after a ``+``: ``a+/x/*.bin`` floats, as in Cog), bare names matching whole
subtrees, and case-sensitive matching.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pyrsistent import PVector, pvector
from returns.result import Failure, Result, Success

from cogw.core.artifact.inventory import Inventory
from cogw.core.diagnostics import Diagnostic
from cogw.core.digest import go_quote

# go-gitignore anchors a pattern like "onnx/*.onnx" when this matches the raw line.
_PATH_SHAPED = re.compile(r"([^/+])/.*\*\.")

# Single private-use characters stand for already-translated regex pieces while
# the textual "**" rewrites of go-gitignore run; they can never be confused with
# pattern text because literal characters in that range are emitted escaped.
_ANY_DIRS_BETWEEN = "\ue000"  # "/**/" -> one slash or /.../
_ANY_DIRS_BEFORE = "\ue001"  # "**/" -> nothing or any leading directories
_ANY_BELOW = "\ue002"  # "/**" -> nothing or anything below
_ONE_CHAR = "\ue003"  # "?"
_STAR = "\ue004"  # "*" within one component
_CLASS_BASE = 0xE100  # "[...]" number i is chr(_CLASS_BASE + i)

#: Longest pattern accepted, in characters; real patterns are a few dozen.
MAX_PATTERN_LENGTH = 256
#: Most patterns accepted in one include or exclude list.
MAX_PATTERNS = 64
#: RE2's memory budget for one compiled list; the limits above keep every list below it.
_RE2_MAX_MEM = 64 << 20
_ALL_CODE_POINTS = (0, 0x10FFFF)
_SLASH = ord("/")

_PIECES = {
    _ANY_DIRS_BETWEEN: "(?:/|/.+/)",
    _ANY_DIRS_BEFORE: "(?:|.*/)",
    _ANY_BELOW: "(?:|/.*)",
    _ONE_CHAR: "[^/]",
    _STAR: "[^/]*",
}


def pattern_error(pattern: str) -> str | None:
    """Why ``pattern`` is not accepted, as the message after the field name; None if valid.

    >>> pattern_error("*.bin") is None
    True
    >>> pattern_error("!*.bin")
    "negation patterns (starting with '!') are not supported"
    """
    trimmed = pattern.strip()
    if not trimmed:
        return "pattern must not be empty"
    if trimmed.startswith("!"):
        return "negation patterns (starting with '!') are not supported"
    if "\\" in trimmed:
        return "patterns must use forward slashes, not backslashes"
    if trimmed.startswith("#"):
        return "patterns must not start with '#' (write [#] to match a literal '#')"
    if len(trimmed) > MAX_PATTERN_LENGTH:
        return (
            f"pattern is {len(trimmed)} characters long; at most {MAX_PATTERN_LENGTH} are allowed"
        )
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in trimmed):
        return "patterns must not contain control characters"
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in trimmed):
        return "pattern is not valid UTF-8"
    try:
        _compile(pattern_regex(trimmed))
    except _UnbalancedBracket:
        return "unbalanced '[' in pattern (write [[] to match a literal '[')"
    except _BadRange as err:
        return f"invalid character class in pattern: {err}"
    return None


def patterns_error(patterns: Sequence[str]) -> str | None:
    """Why a whole include or exclude list is not accepted; None if its size is fine."""
    if len(patterns) > MAX_PATTERNS:
        return f"{len(patterns)} patterns given; at most {MAX_PATTERNS} are allowed"
    return None


class _UnbalancedBracket(ValueError):
    pass


class _BadRange(ValueError):
    pass


class _Matcher(Protocol):
    def fullmatch(self, text: str) -> Any: ...


def _compile(regex: str) -> _Matcher:
    """RE2 with ``.`` matching newlines (paths may hold any character but ``/``)."""
    import re2  # here: most projects have no filters, and status should start fast

    options = re2.Options()
    options.dot_nl = True
    options.log_errors = False  # RE2 would print rejected patterns to stderr
    options.max_mem = _RE2_MAX_MEM
    return re2.compile(regex, options)  # type: ignore[no-any-return]


def pattern_regex(pattern: str) -> str:
    """The regex (for ``fullmatch``) that a valid, trimmed pattern stands for.

    >>> pattern_regex("*.bin")
    '(?:|.*/)[^/]*\\\\.bin(?:|/.*)'
    """
    line = pattern
    if not line.startswith("/") and _PATH_SHAPED.search(line):
        line = "/" + line
    text = _rewrite_double_stars(_tokens(line))
    suffix = "(?:|.*)" if text.endswith("/") else "(?:|/.*)"
    prefix = "(?:|.*/)"
    if text.startswith("/"):
        prefix, text = "(?:|/)", text[1:]
    return prefix + _expand(text, _classes(line)) + suffix


def _tokens(line: str) -> str:
    """Escape literal characters; replace ``?`` and ``[...]`` by placeholders.

    ``*`` and ``/`` stay as they are for the ``**`` rewrites that follow.
    """
    out: list[str] = []
    index, n_classes = 0, 0
    while index < len(line):
        ch = line[index]
        if ch == "[":
            index = _class_end(line, index)
            out.append(chr(_CLASS_BASE + n_classes))
            n_classes += 1
            continue
        if ch in "*/":
            out.append(ch)
        elif ch == "?":
            out.append(_ONE_CHAR)
        else:
            out.append(_literal(ch))
        index += 1
    return "".join(out)


def _literal(ch: str) -> str:
    """``ch`` as an RE2 literal: printable ASCII escaped as ``re.escape`` does, the rest
    by code point (so private-use placeholders and odd characters cannot be misread)."""
    if " " <= ch <= "~":
        return re.escape(ch)
    return f"\\x{{{ord(ch):x}}}"


def _class_end(line: str, start: int) -> int:
    """Index just past the ``]`` closing the class that opens at ``start``."""
    index = start + 1
    if index < len(line) and line[index] in "!^":
        index += 1
    if index < len(line) and line[index] == "]":
        index += 1  # a leading "]" is a member, as in fnmatch
    close = line.find("]", index)
    if close < 0:
        raise _UnbalancedBracket(line)
    return close + 1


def _classes(line: str) -> list[str]:
    """Regexes of the ``[...]`` classes of ``line``, in order."""
    found: list[str] = []
    index = 0
    while index < len(line):
        if line[index] != "[":
            index += 1
            continue
        end = _class_end(line, index)
        found.append(_class_regex(line[index + 1 : end - 1]))
        index = end
    return found


def _class_regex(body: str) -> str:
    """A class stands for one character of a path component, never the separator."""
    negate = body[:1] in ("!", "^")
    ranges = _class_ranges(body[1:] if negate else body)
    if negate:
        return "[^/" + "".join(_range_text(r) for r in ranges) + "]"
    kept = [piece for r in ranges for piece in _without_slash(r)]
    if not kept:
        return "[^" + _range_text(_ALL_CODE_POINTS) + "]"  # matches nothing, like [/]
    return "[" + "".join(_range_text(r) for r in kept) + "]"


def _class_ranges(members: str) -> list[tuple[int, int]]:
    """Code point ranges of a class body, read as Python's ``re`` reads ``[...]``:
    ``x-y`` is a range unless the ``-`` comes first or last."""
    ranges: list[tuple[int, int]] = []
    pos = 0
    while pos < len(members):
        low = members[pos]
        if pos + 2 < len(members) and members[pos + 1] == "-":
            high = members[pos + 2]
            if high < low:
                raise _BadRange(f"bad character range {low}-{high}")
            ranges.append((ord(low), ord(high)))
            pos += 3
        else:
            ranges.append((ord(low), ord(low)))
            pos += 1
    return ranges


def _without_slash(span: tuple[int, int]) -> list[tuple[int, int]]:
    low, high = span
    if not low <= _SLASH <= high:
        return [span]
    return [r for r in ((low, _SLASH - 1), (_SLASH + 1, high)) if r[0] <= r[1]]


def _range_text(span: tuple[int, int]) -> str:
    low, high = (f"\\x{{{cp:x}}}" for cp in span)
    return low if span[0] == span[1] else f"{low}-{high}"


def _rewrite_double_stars(text: str) -> str:
    """go-gitignore's ``**`` rewrites, in its order, then single stars."""
    if text.startswith("/**/"):
        text = text[1:]
    text = text.replace("/**/", _ANY_DIRS_BETWEEN)
    text = text.replace("**/", _ANY_DIRS_BEFORE)
    text = text.replace("/**", _ANY_BELOW)
    # Adjacent stars mean the same as one; collapsing them avoids needless backtracking.
    return re.sub(r"\*+", _STAR, text)


def _expand(text: str, classes: Sequence[str]) -> str:
    out: list[str] = []
    for ch in text:
        if ch in _PIECES:
            out.append(_PIECES[ch])
        elif _CLASS_BASE <= ord(ch) < _CLASS_BASE + len(classes):
            out.append(classes[ord(ch) - _CLASS_BASE])
        else:
            out.append(ch)
    return "".join(out)


def _compile_any(patterns: Iterable[str]) -> _Matcher | None:
    regexes = [f"(?:{pattern_regex(p.strip())})" for p in patterns]
    if not regexes:
        return None
    return _compile("|".join(regexes))


def _fullmatch(matcher: _Matcher, path: str) -> bool:
    try:
        return matcher.fullmatch(path) is not None
    except UnicodeEncodeError:
        # A name that is not UTF-8 on disk reaches Python with surrogate escapes; match
        # it with U+FFFD per bad byte, as Go reads such a string.
        raw = path.encode("utf-8", "surrogateescape")
        return matcher.fullmatch(raw.decode("utf-8", "replace")) is not None


@dataclass(frozen=True, slots=True)
class PathFilter:
    """Compiled include/exclude lists. Exclude wins; an empty include keeps everything."""

    include: PVector[str] = field(default_factory=pvector)
    exclude: PVector[str] = field(default_factory=pvector)
    include_re: _Matcher | None = None
    exclude_re: _Matcher | None = None

    def matches(self, path: str) -> bool:
        """True when ``path`` is kept."""
        if self.exclude_re is not None and _fullmatch(self.exclude_re, path):
            return False
        return self.include_re is None or _fullmatch(self.include_re, path)


def compile_filter(include: Sequence[str], exclude: Sequence[str]) -> PathFilter:
    """A filter for patterns already accepted by :func:`pattern_error` (invalid ones raise)."""
    return PathFilter(
        include=pvector(include),
        exclude=pvector(exclude),
        include_re=_compile_any(include),
        exclude_re=_compile_any(exclude),
    )


def filter_inventory(
    inv: Inventory, include: Sequence[str], exclude: Sequence[str]
) -> Result[Inventory, Diagnostic]:
    """The files ``include``/``exclude`` keep, in input order, with the original fingerprint.

    With both lists empty the inventory is returned as it is (even when empty);
    otherwise keeping nothing is a user mistake, reported in Cog's words.
    """
    if not include and not exclude:
        return Success(inv)
    path_filter = compile_filter(include, exclude)
    kept = pvector(f for f in inv.files if path_filter.matches(f.path))
    if not kept:
        return Failure(zero_survivors(len(inv.files), include, exclude))
    return Success(Inventory(files=kept, fingerprint=inv.fingerprint))


def zero_survivors(total: int, include: Sequence[str], exclude: Sequence[str]) -> Diagnostic:
    """Cog's ZeroSurvivorsError text: ``error:``-less lines() of this equal Cog's message."""
    detail = []
    if include:
        detail.append(f"include: [{', '.join(go_quote(p) for p in include)}]")
    if exclude:
        detail.append(f"exclude: [{', '.join(go_quote(p) for p in exclude)}]")
    detail.append("check your patterns — did you mean a different glob?")
    return Diagnostic(
        summary=f"include/exclude patterns matched zero files out of {total} in the source",
        detail="\n".join(detail),
        hint="edit source.include / source.exclude of this weight in cog.yaml",
    )
