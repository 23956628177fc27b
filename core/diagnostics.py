"""Problems as values: what went wrong, where, and the next command to run.

Modelled on Terraform's tfdiags: parsing and validation return every problem
at once as a tuple of Diagnostics instead of raising on the first one, so a
user fixes a broken cog.yaml or weights.lock in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from returns.result import Failure, Result, Success


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One user-facing problem.

    summary: one line, no trailing period ("invalid weights.lock").
    subject: the file and entry it concerns ("weights.lock: weights[1] \"alpha\"").
    detail:  the specifics, possibly several lines.
    hint:    the fix or the next command ("run 'cogw import'").
    """

    summary: str
    detail: str = ""
    subject: str = ""
    hint: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "subject": self.subject,
            "detail": self.detail,
            "hint": self.hint,
        }

    def lines(self) -> list[str]:
        """Text form: ``error: <subject>: <summary>`` then indented detail and hint."""
        head = f"{self.subject}: {self.summary}" if self.subject else self.summary
        out = [f"error: {head}"]
        out.extend(f"  {line}" for line in self.detail.splitlines() if self.detail)
        hint, *more = self.hint.splitlines() or [""]
        if hint:
            out.append(f"  hint: {hint}")
        out.extend(f"        {line}" for line in more)  # under the hint's first word
        return out


Problems = tuple[Diagnostic, ...]

T = TypeVar("T")


def distinct(problems: Iterable[Diagnostic]) -> Problems:
    """Each problem once, in first-seen order: several steps of one weight (its layers)
    fail with the same error when the registry cannot be reached, and saying it once per
    layer only repeats it.

    >>> d = Diagnostic("cannot reach host", subject="minilm")
    >>> len(distinct([d, Diagnostic("other"), d]))
    2
    """
    return tuple(dict.fromkeys(problems))


def collect(value: T, problems: list[Diagnostic]) -> Result[T, Problems]:
    """Success(value) when no problems were found, else Failure(all of them)."""
    if problems:
        return Failure(tuple(problems))
    return Success(value)


def json_object(raw: bytes, what: str, problems: list[Diagnostic]) -> dict[str, Any]:
    """``raw`` parsed as a JSON object; otherwise {} and a problem naming ``what``."""
    import orjson

    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        problems.append(Diagnostic(f"{what} is not valid JSON: {exc}"))
        return {}
    if not isinstance(value, dict):
        problems.append(Diagnostic(f"{what} is not a JSON object"))
        return {}
    return value
