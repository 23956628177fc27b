"""Prepare and release: per-run mount directories assembled from the store.

Layout (Cog's): ``<project>/.cog/mounts/<16 hex>/<weight name>/<file path>``,
each file a hardlink to its store blob by default (``--link-mode`` chooses
reflink or copy explicitly; there is never a silent fallback, because a silent
copy of 30 GB is worse than a clear error). On any failure the whole
invocation directory is removed, so a half-assembled mount is never left.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from pathlib import Path

from cogw.core.events import Event, EventKind
from cogw.core.outcome import Aborted, Mounted, StepResult, StepStatus
from cogw.core.paths import safe_join
from cogw.core.plan import LinkWeight
from cogw.shell.fs import link_file, remove_tree
from cogw.shell.runtime import Runtime, failure

MOUNT_ID = re.compile(r"^[0-9a-f]{16}$")


def mounts_root(project_dir: Path) -> Path:
    return project_dir / ".cog" / "mounts"


class UnsafePath(Exception):
    pass


def _join(base: Path, rel: str) -> Path:
    joined = safe_join(str(base), rel)
    if joined is None:
        raise UnsafePath(f'path "{rel}" escapes parent directory')
    return Path(joined)


def _link_weight(step: LinkWeight, root: Path, rt: Runtime) -> Path:
    weight_dir = _join(root, step.weight)
    weight_dir.mkdir(parents=True, exist_ok=True)
    for f in step.files:
        if rt.cancel.is_set():
            raise KeyboardInterrupt
        src = rt.store.path(f.digest)
        link_file(src, _join(weight_dir, f.path), rt.link_mode)  # type: ignore[arg-type]
    return weight_dir


def run_links(steps: Sequence[LinkWeight], rt: Runtime, blocked: set[str]) -> list[StepResult]:
    """Link every weight into one new invocation directory; all or nothing."""
    root = mounts_root(rt.project.dir) / secrets.token_hex(8)
    results: list[StepResult] = []
    try:
        root.mkdir(parents=True)
        for step in steps:
            if step.weight in blocked:
                raise RuntimeError(f'weight "{step.weight}" could not be fetched')
            weight_dir = _link_weight(step, root, rt)
            rt.emit(
                Event(
                    EventKind.LINKED,
                    weight=step.weight,
                    target=step.target,
                    path=str(weight_dir),
                    total_files=len(step.files),
                )
            )
            mounted = Mounted(str(weight_dir), step.target, len(step.files))
            results.append(StepResult(step, StepStatus.DONE, mounted))
    except BaseException as exc:
        remove_tree(root)
        if not isinstance(exc, Exception):
            raise
        done = len(results)
        undone = [StepResult(r.step, StepStatus.FAILED, Aborted(True)) for r in results]
        rest = [StepResult(s, StepStatus.FAILED, Aborted(False)) for s in steps[done + 1 :]]
        return [*undone, failure(steps[done], exc), *rest]
    return results


def release(project_dir: Path, mount_id: str | None) -> list[str]:
    """Remove one invocation directory (or all with None); returns the ids removed.
    Store blobs are untouched: only their link counts drop."""
    root = mounts_root(project_dir)
    if mount_id is not None:
        if not MOUNT_ID.match(mount_id):
            raise ValueError(f"invalid mount id {mount_id!r}: expected 16 lowercase hex characters")
        targets = [root / mount_id]
        if not targets[0].exists():
            raise FileNotFoundError(f"no mount {mount_id} in {root}")
    else:
        targets = (
            sorted(p for p in root.iterdir() if MOUNT_ID.match(p.name)) if root.is_dir() else []
        )
    for t in targets:
        remove_tree(t)
    return [t.name for t in targets]
