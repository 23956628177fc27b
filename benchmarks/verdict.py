"""Whether a target is met, missed, or undecided because the runs' spread hides the gap.

A target compares repetitions, not medians: it is met only when even the contender's
slowest run beats the bound applied to the reference's fastest run, missed only when
even its fastest run loses to the bound applied to the reference's slowest, and
undecided in between. Pure: numbers in, a verdict out.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class Verdict(StrEnum):
    MET = "met"
    MISSED = "missed"
    UNDECIDED = "undecided"


def within(contender: Sequence[float], reference: Sequence[float], factor: float) -> Verdict:
    """Target: the contender takes at most ``factor`` × the reference's time."""
    if max(contender) <= factor * min(reference):
        return Verdict.MET
    if min(contender) > factor * max(reference):
        return Verdict.MISSED
    return Verdict.UNDECIDED


def faster(contender: Sequence[float], peer: Sequence[float], factor: float) -> Verdict:
    """Target: the contender is at least ``factor`` times faster than the peer."""
    return within(contender, peer, 1 / factor)


def below(values: Sequence[float], limit: float) -> Verdict:
    """Target: every run stays under ``limit`` (seconds, or MB of peak memory)."""
    if max(values) < limit:
        return Verdict.MET
    if min(values) >= limit:
        return Verdict.MISSED
    return Verdict.UNDECIDED
