"""Which of a project's mounts are stale: ``cogw release --stale`` removes them.

A mount is stale when its project has no weights.lock any more, when one of its
weights left weights.lock, when a file no longer matches the lock entry, or when
the blob a file should come from is gone from the store (so the mount can no
longer be checked or re-made). A live, correct mount is never stale, however old.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from cogw.core.cachesnap import Mount, MountWeight, ProjectRoots


@dataclass(frozen=True, slots=True)
class StaleMount:
    id: str
    path: str
    reason: str


def _weight_reason(project: ProjectRoots, mw: MountWeight, present: Set[str]) -> str | None:
    entry = project.weight(mw.name)
    if entry is None:
        return f'weight "{mw.name}" is no longer in weights.lock'
    files = {f.path: f for f in mw.files}
    for lf in entry.files:
        mf = files.get(lf.path)
        if mf is None or (mf.blob and mf.blob != lf.digest) or mf.size != lf.size:
            return f'"{mw.name}/{lf.path}" no longer matches weights.lock'
        if lf.digest not in present:
            return f'the blob of "{mw.name}/{lf.path}" is gone from the store'
    return None


def _mount_reason(project: ProjectRoots, mount: Mount, present: Set[str]) -> str | None:
    if not project.is_live:
        return "the project has no weights.lock"
    for mw in mount.weights:
        reason = _weight_reason(project, mw, present)
        if reason is not None:
            return reason
    return None


def stale_mounts(project: ProjectRoots, present: Set[str]) -> tuple[StaleMount, ...]:
    found = []
    for mount in project.mounts:
        reason = _mount_reason(project, mount, present)
        if reason is not None:
            found.append(StaleMount(mount.id, mount.path, reason))
    return tuple(found)
