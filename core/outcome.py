"""What applying a plan did: one result per step, and what was left afterwards.

The exit code lives here, in one place (like Black's Report.return_code):
0 when every step succeeded and re-planning found nothing left to do, else 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pyrsistent import PVector, pvector

from cogw.core.diagnostics import Diagnostic
from cogw.core.plan import Plan, Step


class StepStatus(StrEnum):
    DONE = "done"
    SKIPPED = "skipped"  # nothing to do when it ran (e.g. another process did it first)
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class StepResult:
    step: Step
    status: StepStatus
    detail: str = ""  # e.g. "stored 3 files (90.9MB)" or the mount directory
    diagnostic: Diagnostic | None = None


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
