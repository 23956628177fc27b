"""Prune: remove weights.lock entries that cog.yaml no longer declares."""

from __future__ import annotations

from collections.abc import Sequence

from cogw.core.lockfile import render_lockfile, retain
from cogw.core.outcome import AlreadyAbsent, StepResult, StepStatus
from cogw.core.plan import PruneLockEntry
from cogw.shell.fs import atomic_write, project_lock
from cogw.shell.runtime import Runtime, failure, read_lock_strict


def run_prunes(steps: Sequence[PruneLockEntry], rt: Runtime) -> list[StepResult]:
    """Remove entries under the project lock, re-reading weights.lock first so a
    concurrent import's write is not lost; no rewrite when nothing changes."""
    try:
        with project_lock(rt.project.dir):
            lock = read_lock_strict(rt.project)
            names = {s.weight for s in steps}
            present = {e.name for e in lock.weights}
            kept = retain(lock, [e.name for e in lock.weights if e.name not in names])
            if present & names:
                atomic_write(rt.project.lock_path, render_lockfile(kept))
    except FileNotFoundError:
        present = set()
    except Exception as exc:
        return [failure(s, exc) for s in steps]
    return [
        StepResult(s, StepStatus.DONE)
        if s.weight in present
        else StepResult(s, StepStatus.SKIPPED, AlreadyAbsent())
        for s in steps
    ]
