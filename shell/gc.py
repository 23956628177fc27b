"""Carry out a gc plan: under the store's exclusive lock, from a fresh snapshot.

The flow is the same for ``cogw gc``, ``cogw apply gc`` and ``cogw apply --plan``:
take the lock, gather the cache again, plan again, refuse when the roots differ
from those the user reviewed, then remove only what both plans agree on. Every
removal is one atomic unlink (or a mount tree, removed again by the next gc if
interrupted), so a kill -9 at any point leaves a store that verifies clean.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from returns.result import Failure, Result, Success

from cogw.core.cachesnap import CacheSnapshot
from cogw.core.diagnostics import Diagnostic
from cogw.core.gc import TEMP_SAFE_AGE_NS, GcOptions, GcPlan, plan_gc, restrict
from cogw.core.gcfile import SavedGcPlan, check_saved_gc_plan
from cogw.core.verify import blob_path
from cogw.shell.cacheindex import exclusive_store, forget_projects, read_index
from cogw.shell.cachescan import gather_cache
from cogw.shell.fs import remove_tree


def snapshot(weights_dir: Path, extra: tuple[Path, ...]) -> Result[CacheSnapshot, Diagnostic]:
    return read_index(weights_dir).map(lambda index: gather_cache(weights_dir, index, extra))


def make_gc_plan(
    weights_dir: Path, opts: GcOptions, extra: tuple[Path, ...]
) -> Result[GcPlan, Diagnostic]:
    return snapshot(weights_dir, extra).map(lambda snap: plan_gc(snap, opts))


def _delete_blob(weights_dir: Path, digest: str) -> bool:
    path = Path(blob_path(str(weights_dir), digest))
    try:
        if os.lstat(path).st_nlink > 1:
            return False  # linked since the snapshot (e.g. by Cog, which takes no lock)
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _delete_temp(path: str, now_ns: int) -> bool:
    try:
        if now_ns - os.lstat(path).st_mtime_ns < TEMP_SAFE_AGE_NS:
            return False
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def execute_gc(weights_dir: Path, plan: GcPlan, now_ns: int) -> GcPlan:
    """Remove what ``plan`` lists (mounts first: they hold links); returns what was removed."""
    for mount in plan.mounts:
        remove_tree(Path(mount))
    forget_projects(weights_dir, plan.drop_projects)
    deleted = tuple(d for d in plan.delete if _delete_blob(weights_dir, d.digest))
    temps = tuple(t for t in plan.temps if _delete_temp(t.path, now_ns))
    return GcPlan(
        plan.roots,
        delete=deleted,
        temps=temps,
        mounts=plan.mounts,
        drop_projects=plan.drop_projects,
        kept_linked=plan.kept_linked,
        kept_recent=plan.kept_recent,
        notes=plan.notes,
    )


def collect(
    weights_dir: Path,
    reviewed: GcPlan | None,
    opts: GcOptions,
    extra: tuple[Path, ...],
    on_wait: Callable[[], None],
    saved: tuple[SavedGcPlan, str, str] | None = None,
) -> Result[GcPlan, Diagnostic]:
    """Apply ``reviewed`` (or a saved plan: (plan, file name, cogw version)) safely;
    ``reviewed=None`` (gc --yes) applies the plan made under the lock as it is."""
    with exclusive_store(weights_dir, on_wait):
        fresh_snap = snapshot(weights_dir, extra)
        if not isinstance(fresh_snap, Success):
            return Failure(fresh_snap.failure())
        snap = fresh_snap.unwrap()
        fresh = plan_gc(snap, opts)
        if fresh.problems:
            return Failure(fresh.problems[0])
        if saved is not None:
            plan, filename, version = saved
            reviewed = plan.plan
            checked = check_saved_gc_plan(plan, fresh.roots, version, filename)
            if not isinstance(checked, Success):
                return checked
        if reviewed is None:
            return Success(execute_gc(weights_dir, fresh, snap.now_ns))
        if saved is None and reviewed.roots != fresh.roots:
            return Failure(
                Diagnostic(
                    "the cache's roots changed while you were reviewing the plan",
                    hint="run 'cogw gc' again",
                )
            )
        return Success(execute_gc(weights_dir, restrict(fresh, reviewed), snap.now_ns))
