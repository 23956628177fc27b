"""``cogw verify [NAME...] [--all] [--repair]`` and ``cogw release --stale``.

Verify gathers a snapshot, lets the core pick what to hash, hashes it in
parallel, and turns hashes into findings (core/cache/verify.py). ``--repair`` then
quarantines bad blobs, pulls the weights that use them through the normal
verified pull, re-links the mounts that held them, and verifies again: the exit
status is that of the second pass.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cogw.shell.options import common_options, options_from


def _gather(opts: Any) -> tuple[Any, Any]:
    from cogw.shell.cachescan import gather_cache

    snap = gather_cache(opts.store.root, (), (opts.project.dir,))
    project = snap.projects[0]
    return snap, (project if project.is_live else None)


def _findings(opts: Any, names: tuple[str, ...], all_blobs: bool, progress: bool) -> Any:
    from cogw.core.cache.verify import blob_findings, mount_findings, select, to_hash
    from cogw.shell.cachecommon import unwrap_one
    from cogw.shell.progress import hashing_progress
    from cogw.shell.verify import hash_blobs

    snap, project = _gather(opts)
    if project is None and not all_blobs:
        from cogw.core.diagnostics import Diagnostic
        from cogw.shell.output import fail

        hint = "run 'cogw import' first, or verify the whole store with --all"
        fail((Diagnostic(f"no weights.lock in {opts.project.dir}", hint=hint),))
    expected = unwrap_one(select(snap, project, names, all_blobs))
    blobs = to_hash(expected, snap)
    on_bytes, finish = hashing_progress(progress)
    try:
        hashes = hash_blobs(opts.store.root, blobs, opts.jobs, on_bytes)
    finally:
        finish()
    found = blob_findings(expected, snap, hashes, str(opts.store.root))
    found += mount_findings(project, names)
    return project, expected, sum(b.size for b in blobs), found


def _repair(opts: Any, project: Any, found: list[Any], quiet: bool) -> None:
    from cogw.core.cache.verify import repair_plan
    from cogw.core.plan.planner import Operation, make_plan
    from cogw.shell.compose import run_plan, snapshot_for
    from cogw.shell.options import Output
    from cogw.shell.verify import quarantine, relink, seal

    root = opts.store.root
    plan = repair_plan(found, project)
    for digest in plan.chmod:
        seal(root, digest)
        click.echo(f"repaired mode of {digest} (0444)", err=True)
    for digest in plan.quarantine:
        click.echo(f"quarantined {digest} to {quarantine(root, digest)}", err=True)
    for note in plan.notes:
        click.echo(f"  · {note}", err=True)
    if plan.refetch:
        names = list(plan.refetch)
        pull = make_plan(snapshot_for(opts, Operation.PULL, names), Operation.PULL, names)
        outcome = run_plan(opts, pull, Output(quiet=quiet))
        if outcome.exit_code != 0:
            click.echo("error: the pull to repair the store failed", err=True)
    for item in plan.relink:
        if opts.store.exists(item.digest):
            relink(root, item)
            click.echo(f"re-linked {item.path}", err=True)


def _finding_json(f: Any) -> dict[str, Any]:
    return {
        "kind": f.kind,
        "digest": f.digest,
        "path": f.path,
        "detail": f.detail,
        "problem": f.problem,
    }


def _report(expected: Any, hashed: int, found: list[Any], as_json: bool) -> None:
    from cogw.core.cache.verify import has_problems
    from cogw.core.plan.render import format_size, plural
    from cogw.shell.output import print_json

    problems = [f for f in found if f.problem]
    if as_json:
        print_json(
            {
                "blobs": len(expected),
                "bytesHashed": hashed,
                "findings": [_finding_json(f) for f in found],
                "ok": not problems,
            }
        )
    else:
        for f in found:
            level = "error" if f.problem else "note"
            click.echo(f"{level}: {f.kind}: {f.path}: {f.detail} ({f.digest})", err=True)
        click.echo(
            f"Verified {plural(len(expected), 'blob')} ({format_size(hashed)} hashed): "
            f"{plural(len(problems), 'problem')}.",
            err=True,
        )
    if has_problems(found):
        sys.exit(1)


@click.command("verify")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON on stdout.")
@click.option(
    "--repair",
    is_flag=True,
    help="Quarantine bad blobs, fetch them again (verified), re-link affected mounts.",
)
@click.option("--all", "all_blobs", is_flag=True, help="Re-hash every blob in the store.")
@common_options
def verify(
    names: tuple[str, ...], as_json: bool, repair: bool, all_blobs: bool, **kwargs: Any
) -> None:
    """Re-hash the blobs the project's weights use and check sizes, modes and mounts.

    Each problem is printed with its path and digest; exit 1 when anything is
    wrong (after --repair: when anything is still wrong).
    """
    opts = options_from(kwargs)
    project, expected, hashed, found = _findings(opts, names, all_blobs, not as_json)
    if repair and any(f.problem for f in found):
        if not as_json:
            for f in found:
                if f.problem:
                    click.echo(f"found: {f.kind}: {f.path}: {f.detail} ({f.digest})", err=True)
        _repair(opts, project, found, as_json)
        project, expected, hashed, found = _findings(opts, names, all_blobs, not as_json)
    _report(expected, hashed, found, as_json)


@click.command("release")
@click.option("--stale", is_flag=True, required=True, help="Remove only stale mounts.")
@click.option("--project", "project", metavar="DIR", help="Project directory.")
@click.option(
    "-f", "--file", "--config", "config", metavar="FILE", help="Config file (default cog.yaml)."
)
@click.option("--cache-dir", metavar="DIR", help="Cache directory; the store is DIR/weights.")
def release_stale(
    stale: bool, project: str | None, config: str | None, cache_dir: str | None
) -> None:
    """Remove mounts whose project, weights.lock entry or blobs are gone."""
    from cogw.core.cache.stalemounts import stale_mounts
    from cogw.shell.cachecommon import weights_dir
    from cogw.shell.cachescan import scan_project, scan_store
    from cogw.shell.gather import locate_project
    from cogw.shell.options import require_project
    from cogw.shell.release import release

    where = require_project(locate_project(project, config, Path.cwd()), project is not None)
    store = weights_dir(cache_dir)
    blobs, _temps, inodes = scan_store(store)
    roots = scan_project(where.dir, inodes)
    reasons = {m.id: m.reason for m in stale_mounts(roots, {b.digest for b in blobs})}
    # Removed through release: under the project lock, and only mounts it can identify.
    done = release(where.dir, None, store, only=frozenset(reasons))
    for mount_id in done.removed:
        click.echo(f"released {mount_id}: {reasons[mount_id]}", err=True)
    for mount_id, reason in done.left:
        click.echo(f"left alone: {mount_id} ({reason}; not made by cogw or Cog)", err=True)
    click.echo(f"Released {len(done.removed)} stale mount(s).", err=True)
