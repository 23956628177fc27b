"""Go-style JSON decoding: bytes to values as Go's ``encoding/json`` sees them, then typed fields.

Cog reads weights.lock with ``encoding/json``, so a file only means the same to
both tools if cogw decodes it the same way: object keys match field names
case-insensitively (Unicode simple folding, the last match wins), unknown keys
are ignored, a missing key or ``null`` leaves the zero value, and an integer
field refuses a fraction, an exponent or a value outside 64 bits. Numbers keep
their text and objects their key order until a :class:`Reader` types them.

This module knows JSON only: which fields a document has, and what its
problems mean to the user, are the caller's business (it names the subject and
the hint of every problem).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from pyrsistent import PVector, pvector
from returns.result import Failure, Result, Success

from cogw.core.diagnostics import Diagnostic

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class Number(NamedTuple):
    """A JSON number as written; Go refuses a fraction or exponent for an integer field.

    Tuples, not dataclasses: a lockfile of 100 000 files decodes 100 000s of them."""

    text: str
    integral: bool


class Object(tuple[tuple[str, Any], ...]):
    """A JSON object as its (key, value) pairs, so keys can be matched Go's way.

    A tuple of the pairs the JSON decoder hands over, built without a Python call."""

    __slots__ = ()

    @property
    def pairs(self) -> tuple[tuple[str, Any], ...]:
        return self


def _integer(text: str) -> Number:
    return _new_tuple(Number, (text, True))  # Number(text, True) without its keyword handling


def _fraction(text: str) -> Number:
    return Number(text, False)


_new_tuple = tuple.__new__


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid literal {name} (JSON has no NaN or Infinity)")


def _position(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    return line, offset - (data.rfind(b"\n", 0, offset) + 1) + 1


def decode_json(data: bytes) -> Result[Any, str]:
    """The document's value (objects as :class:`Object`, numbers as :class:`Number`),
    or the syntax error with its line and column."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line, column = _position(data, err.start)
        return Failure(f"invalid UTF-8 at line {line}, column {column}")
    try:
        return Success(
            json.loads(
                text,
                object_pairs_hook=Object,
                parse_int=_integer,
                parse_float=_fraction,
                parse_constant=_reject_constant,
            )
        )
    except json.JSONDecodeError as err:
        return Failure(f"{err.msg} at line {err.lineno}, column {err.colno}")
    except RecursionError:
        return Failure("values nested too deeply")
    except ValueError as err:
        return Failure(str(err))


# Go matches keys case-insensitively with Unicode simple folding: besides ASCII
# case, only these two runes fold onto ASCII letters.
_FOLD_TO_ASCII = {"\u017f": "S", "\u212a": "K"}


@functools.lru_cache(maxsize=1024)
def _fold(key: str) -> str:
    # Cached: a lockfile repeats the same few keys for each of its (up to 100 000s of) files.
    return "".join(_FOLD_TO_ASCII.get(ch, ch.upper() if ch.isascii() else ch) for ch in key)


@functools.lru_cache(maxsize=64)
def _fold_table(names: tuple[str, ...]) -> dict[str, str]:
    return {_fold(name): name for name in names}


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Number):
        return f"the number {value.text}"
    if isinstance(value, Object):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "true" if value is True else "false"


def _has_surrogate(text: str) -> bool:
    # Lone surrogates are the only code points UTF-8 cannot encode; ASCII has none.
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


@dataclass(frozen=True, slots=True)
class Reader:
    """Reads JSON values into typed fields Go's way, recording each type problem.

    ``subject`` names the file and entry; paths name the field inside it. A
    field with the wrong type reads as its zero value, so reading goes on and
    every problem is found in one pass.
    """

    subject: str
    problems: list[Diagnostic]
    hint: str  # what the user can do about any problem in this document

    def problem(self, summary: str, detail: str = "") -> None:
        self.problems.append(Diagnostic(summary, detail, self.subject, self.hint))

    def wrong_type(self, path: str, expected: str, value: Any) -> None:
        self.problem(f"{path} must be {expected}, not {_kind(value)}")

    def fields(self, value: Any, path: str, names: Iterable[str], what: str) -> dict[str, Any]:
        """Known keys (matched case-insensitively, last one wins); unknown keys ignored."""
        if value is None:
            return {}
        if not isinstance(value, Object):
            self.wrong_type(path or what, "an object", value)
            return {}
        known = tuple(names)
        by_fold = _fold_table(known)
        out: dict[str, Any] = {}
        for key, item in value.pairs:
            # An exact name folds onto itself: skip folding in the common case.
            name = key if key in known else by_fold.get(_fold(key))
            if name is not None:
                out[name] = item
        return out

    def string(self, value: Any, path: str) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            self.wrong_type(path, "a string", value)
            return ""
        if _has_surrogate(value):
            self.problem(f"{path} holds an invalid \\u escape (a lone UTF-16 surrogate)")
            return ""
        return value

    def integer(self, value: Any, path: str) -> int:
        if value is None:
            return 0
        if not isinstance(value, Number):
            self.wrong_type(path, "an integer", value)
            return 0
        if not value.integral:
            self.problem(f"{path} must be an integer, not {value.text}")
            return 0
        number = int(value.text) if len(value.text) <= 20 else None
        if number is None or not _INT64_MIN <= number <= _INT64_MAX:
            self.problem(f"{path} is out of range", f"{value.text} does not fit in 64 bits")
            return 0
        return number

    def array(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.wrong_type(path, "an array", value)
            return []
        return value

    def strings(self, value: Any, path: str) -> PVector[str]:
        items = self.array(value, path)
        return pvector(self.string(item, f"{path}[{i}]") for i, item in enumerate(items))
