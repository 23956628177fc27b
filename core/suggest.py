"""Did-you-mean hints for names the user typed that nothing declares."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


def close_names(unknown: Sequence[str], known: Iterable[str]) -> list[str]:
    """For each unknown name, the closest known name (difflib's ratio >= 0.6), in order.

    >>> close_names(["minlm", "zzz"], ["minilm", "other"])
    ['minilm']
    """
    choices = sorted(set(known))
    found: list[str] = []
    for name in unknown:
        for match in difflib.get_close_matches(name, choices, n=1):
            if match not in found:
                found.append(match)
    return found


def did_you_mean(unknown: Sequence[str], known: Iterable[str], otherwise: str) -> str:
    """A hint naming the closest declared names, or ``otherwise`` when none is close.

    >>> did_you_mean(["minlm"], ["minilm"], "run 'cogw status'")
    'did you mean "minilm"?'
    """
    close = close_names(unknown, known)
    if not close:
        return otherwise
    return "did you mean " + " or ".join(f'"{n}"' for n in close) + "?"
