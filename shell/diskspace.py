"""Disk space around pulls and imports: refuse what cannot fit, explain a full disk.

The store's own write path already removes its temp file on ENOSPC and publishes
nothing; this module makes the outcome readable. Before a pull, weights that do not
fit in the store's free space fail at once (``core/cache/space.py`` decides which), so
no bytes are downloaded for nothing. A step that still hits ENOSPC (the disk filled up
meanwhile, or an import ingesting copies) has its raw ``[Errno 28]`` text replaced by
the same one-line message with the space it needed and the space left.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cogw.core.cache.space import fitting, mentions_no_space, no_space
from cogw.core.plan.outcome import StepResult, StepStatus
from cogw.core.plan.planner import FetchLayer
from cogw.shell.runtime import Runtime


def _store_root(rt: Runtime) -> Path | None:
    root = getattr(rt.store, "root", None)
    return Path(root) if root is not None else None


def free_space(path: Path) -> tuple[int, bool]:
    """Bytes an unprivileged writer may still use at ``path`` (or its nearest existing
    parent), and whether the filesystem reports a size at all."""
    for candidate in (path, *path.parents):
        try:
            info = os.statvfs(candidate)
        except OSError:
            continue
        return info.f_bavail * info.f_frsize, info.f_blocks > 0
    return 0, False


def refuse_unfitting(
    steps: Sequence[FetchLayer], rt: Runtime
) -> tuple[list[FetchLayer], dict[int, StepResult]]:
    """The steps to run, and a failed result (by index) for each weight that cannot fit."""
    root = _store_root(rt)
    if root is None:
        return list(steps), {}
    needs: dict[str, int] = {}
    for step in steps:
        needs[step.weight] = needs.get(step.weight, 0) + step.missing_bytes
    has, known = free_space(root)
    admitted = fitting(needs.items(), has, known)
    refused = {
        i: StepResult(s, StepStatus.FAILED, diagnostic=no_space(str(root), needs[s.weight], has))
        for i, s in enumerate(steps)
        if s.weight not in admitted
    }
    return [s for i, s in enumerate(steps) if i not in refused], refused


def explain_full_disk(
    results: list[StepResult], rt: Runtime, needs: Callable[[Any], int]
) -> list[StepResult]:
    """Replace each failure caused by ENOSPC with the no-space message; others unchanged."""
    root = _store_root(rt)
    out = []
    for r in results:
        d = r.diagnostic
        if root is not None and d is not None and mentions_no_space(d.summary):
            has, _ = free_space(root)
            d = no_space(str(root), needs(r.step), has, subject=d.subject)
            r = StepResult(r.step, r.status, r.data, diagnostic=d)
        out.append(r)
    return out
