"""What applying a plan did: one result per step, and what was left afterwards.

A result carries what happened as data (counts, bytes, the mount made);
core/plan/render.py words it. The exit code lives here, in one place (like Black's
Report.return_code): 0 when every step succeeded and re-planning found nothing
left to do, else 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from pyrsistent import PVector, pvector

from cogw.core.diagnostics import Diagnostic
from cogw.core.plan.planner import Plan, Step


class StepStatus(StrEnum):
    DONE = "done"
    SKIPPED = "skipped"  # nothing to do when it ran (e.g. another process did it first)
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Pushed:
    """An import pushed its weight: the manifest reference, its layers and their bytes.
    ``present`` layers the registry already held (or mounted from another repository),
    so only ``sent`` bytes were uploaded; ``sent`` is None where that was not counted."""

    ref: str
    layers: int
    nbytes: int  # compressed, the layers' sizes
    present: int = 0
    sent: int | None = None

    def detail(self, size: Callable[[int], str]) -> str:
        """The result line's words, never claiming an upload that did not happen.

        >>> kib = lambda n: f"{n // 1024}KiB"
        >>> Pushed("r:t", 2, 4096).detail(kib)
        'r:t (2 layer(s), 4KiB)'
        >>> Pushed("r:t", 2, 4096, present=2, sent=0).detail(kib)
        'r:t (2 layer(s), 4KiB; all already in the registry, nothing uploaded)'
        >>> Pushed("r:t", 3, 4096, present=1, sent=1024).detail(kib)
        'r:t (3 layer(s), 4KiB; 1KiB uploaded, 1 layer already in the registry)'
        """
        head = f"{self.ref} ({self.layers} layer(s), {size(self.nbytes)}"
        if not self.present or self.sent is None:
            return head + ")"
        if self.present >= self.layers:
            return head + "; all already in the registry, nothing uploaded)"
        there = f"{self.present} layer{'' if self.present == 1 else 's'} already in the registry"
        return head + f"; {size(self.sent)} uploaded, {there})"


@dataclass(frozen=True, slots=True)
class Stored:
    """A fetch stored files from one layer."""

    files: int
    nbytes: int
    source: str = ""  # where the layer came from ("mirror HOST", "origin HOST"), if known


@dataclass(frozen=True, slots=True)
class Mounted:
    """A link made a weight's mount directory: host ``path``, seen at ``target``."""

    path: str
    target: str
    files: int


@dataclass(frozen=True, slots=True)
class AlreadyAbsent:
    """A prune found its entry gone already (another process pruned it)."""


@dataclass(frozen=True, slots=True)
class Aborted:
    """A link failed because another link of the same prepare did; all or nothing."""

    mount_removed: bool  # this weight had been linked, and its mount was removed again


ResultData = Pushed | Stored | Mounted | AlreadyAbsent | Aborted | None


@dataclass(frozen=True, slots=True)
class StepResult:
    step: Step
    status: StepStatus
    data: ResultData = None
    diagnostic: Diagnostic | None = None


def mounts(results: Iterable[StepResult]) -> list[Mounted]:
    """The mount directories a prepare made, in step order."""
    return [r.data for r in results if r.status is StepStatus.DONE and isinstance(r.data, Mounted)]


@dataclass(frozen=True, slots=True)
class Outcome:
    plan: Plan
    results: PVector[StepResult] = field(default_factory=pvector)
    # The plan computed from a fresh snapshot after applying; None when the
    # operation does not converge to an empty plan by design (prepare).
    remaining: Plan | None = None

    @property
    def failed(self) -> list[StepResult]:
        return [r for r in self.results if r.status is StepStatus.FAILED]

    @property
    def converged(self) -> bool:
        return self.remaining is None or self.remaining.is_empty

    @property
    def exit_code(self) -> int:
        return 0 if not self.failed and self.converged and self.plan.applyable else 1
