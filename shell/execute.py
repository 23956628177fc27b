"""Execute: run a Plan's steps against the store, the registry and the disk.

Each step is idempotent and fails on its own: an exception inside a step is
caught by its runner, once, and becomes a failed StepResult with a Diagnostic,
so one broken weight does not stop the others and the summary says exactly
what failed. Ctrl-C sets the cancel event, lets workers stop at their next
read, and propagates; temp files are cleaned by the store and fs primitives.

This module only dispatches: the runners (importer, prune, pull, prepare) and
what they share (shell/runtime.py) live below it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cogw.core.plan.outcome import StepResult, StepStatus
from cogw.core.plan.planner import (
    FetchLayer,
    ImportWeight,
    LinkWeight,
    Plan,
    PruneLockEntry,
    RepushWeight,
)
from cogw.core.plan.stepkind import types_in_order
from cogw.shell.runtime import Runtime

# A runner gets its steps, the runtime and the results of the kinds that ran before.
Runner = Callable[[list[Any], Runtime, list[StepResult]], list[StepResult]]


def execute(plan: Plan, rt: Runtime) -> list[StepResult]:
    """Run every step of an applyable plan, kind by kind (import, repush, prune, fetch, link)."""
    steps = list(plan.steps)
    results: dict[int, StepResult] = {}
    for step_type in types_in_order():
        group = [(i, s) for i, s in enumerate(steps) if type(s) is step_type]
        if group:
            ran = _RUNNERS[step_type]([s for _, s in group], rt, list(results.values()))
            results.update(zip([i for i, _ in group], ran, strict=True))
    return [results[i] for i in range(len(steps))]


# Runners are imported lazily: a prepare never loads the registry client.


def _imports(steps: list[Any], rt: Runtime, _earlier: list[StepResult]) -> list[StepResult]:
    from cogw.shell.diskspace import explain_full_disk
    from cogw.shell.importer import run_imports

    return explain_full_disk(run_imports(steps, rt), rt, lambda s: s.bytes_to_ingest)


def _repushes(steps: list[Any], rt: Runtime, _earlier: list[StepResult]) -> list[StepResult]:
    from cogw.shell.repush import run_repushes

    return run_repushes(steps, rt)


def _prunes(steps: list[Any], rt: Runtime, _earlier: list[StepResult]) -> list[StepResult]:
    from cogw.shell.prune import run_prunes

    return run_prunes(steps, rt)


def _fetches(steps: list[Any], rt: Runtime, _earlier: list[StepResult]) -> list[StepResult]:
    from cogw.shell.diskspace import explain_full_disk, refuse_unfitting
    from cogw.shell.pull import run_fetches

    runnable, refused = refuse_unfitting(steps, rt)
    fetched = run_fetches(runnable, rt) if runnable else []
    ran = iter(explain_full_disk(fetched, rt, lambda s: s.missing_bytes))
    return [refused[i] if i in refused else next(ran) for i in range(len(steps))]


def _links(steps: list[Any], rt: Runtime, earlier: list[StepResult]) -> list[StepResult]:
    from cogw.shell.prepare import run_links

    blocked = {r.step.weight for r in earlier if r.status is StepStatus.FAILED}
    return run_links(steps, rt, blocked)


_RUNNERS: dict[type, Runner] = {
    ImportWeight: _imports,
    RepushWeight: _repushes,
    PruneLockEntry: _prunes,
    FetchLayer: _fetches,
    LinkWeight: _links,
}
