"""The outcome's error lines: one per distinct problem, however many steps it failed."""

from __future__ import annotations

import pytest
from pyrsistent import pvector

from cogw.core.diagnostics import Diagnostic
from cogw.core.plan.outcome import Outcome, StepResult, StepStatus
from cogw.core.plan.planner import LinkWeight, Operation, make_plan
from cogw.shell.output import report
from tests.core.builders import snapshot


def test_a_problem_that_failed_several_steps_is_said_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    unreachable = Diagnostic("cannot reach reg.lan:5000", subject="alpha")
    other = Diagnostic("disk full", subject="beta")
    steps = [LinkWeight(name, "/src", pvector()) for name in ("alpha", "alpha", "beta")]
    results = [
        StepResult(steps[0], StepStatus.FAILED, diagnostic=unreachable),
        StepResult(steps[1], StepStatus.FAILED, diagnostic=unreachable),
        StepResult(steps[2], StepStatus.FAILED, diagnostic=other),
    ]
    plan = make_plan(snapshot([], None), Operation.PREPARE)
    with pytest.raises(SystemExit) as exited:
        report(Outcome(plan, pvector(results)), as_json=False)
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == ["error: alpha: cannot reach reg.lan:5000", "error: beta: disk full"]
    assert exited.value.code == 1
