"""Composition: what a command wires together between its options and the core.

Gather a Snapshot for an operation (hashing sources only when it imports),
build the lazy registry factory, load and check saved plans, and run a plan:
execute it, then plan again from a fresh snapshot so anything left over is
reported. The click commands in shell/cli.py only call these.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click
from returns.result import Failure, Result, Success

from cogw import __version__
from cogw.core.artifact.inventory import Inventory
from cogw.core.diagnostics import Diagnostic
from cogw.core.plan.operation import Operation
from cogw.shell.gather import gather_snapshot, read_config
from cogw.shell.options import Options, Output, require_project
from cogw.shell.output import doing, echo_err, fail, fail_as, report, unwrap, user_errors

OPERATIONS = [op.value for op in Operation]
IMPORTING = (Operation.IMPORT, Operation.SYNC)
# The operations that repair a weights.lock left with two entries for one target.
REPAIRING = (Operation.IMPORT, Operation.SYNC, Operation.PRUNE)

if TYPE_CHECKING:
    # The planner and its renderers load where a plan is made: `cogw status` needs neither.
    from cogw.core.lock.lockfile import WeightEntry
    from cogw.core.plan.events import Event
    from cogw.core.plan.outcome import Outcome
    from cogw.core.plan.planner import Plan
    from cogw.core.plan.snapshot import Snapshot
    from cogw.shell.import_early import EarlyPushes
    from cogw.shell.registry.protocol import Registry
    from cogw.shell.runtime import Runtime
    from cogw.shell.sources import Source


def read_inventory_for(
    opts: Options,
    on_bytes: Callable[[int], None] | None = None,
    after_run: bool = False,
    early: EarlyPushes | None = None,
) -> Callable[[str, str, Inventory | None], Result[Inventory, Diagnostic]]:
    """Reads a weight's source; ``after_run``: for the plan made right after executing
    one, which may reuse what that run downloaded; ``early``: an import's uploads
    started while its large files are read (shell/import_early.py)."""

    def read(name: str, uri: str, recorded: Inventory | None) -> Result[Inventory, Diagnostic]:
        from cogw.shell.file_source import FileSource
        from cogw.shell.hashing import STAT_CACHE_NAME, StatCache
        from cogw.shell.sources import SourceError, source_for

        subject = f'{opts.project.config_name}: weight "{name}"'
        try:
            with StatCache(opts.store.root / STAT_CACHE_NAME) as cache:
                source = source_for(
                    uri,
                    opts.project.dir,
                    cache=cache,
                    recorded=recorded,
                    spool=opts.store,
                    reuse_fetched=after_run,
                )
                if early is not None and isinstance(source, FileSource):
                    source.on_large_read = early.reader_hook(uri, recorded)
                inventory = source.inventory(jobs=opts.jobs, on_bytes=on_bytes)
                _note_download(name, source, inventory)
                return Success(inventory)
        except SourceError as exc:
            return Failure(
                Diagnostic(str(exc), subject=subject, hint="fix the weight's source in cog.yaml")
            )
        except OSError as exc:
            return Failure(Diagnostic(f"cannot read source {uri}: {exc}", subject=subject))

    return read


def _note_download(name: str, source: Source, inventory: Inventory) -> None:
    """Say why planning downloaded a file: without a strong ETag there is no other
    way to know whether it changed."""
    if getattr(source, "downloaded", False) and not inventory.fingerprint.startswith("etag:"):
        echo_err(
            f'note: weight "{name}": {source.uri} gives no strong ETag, '
            "so it was downloaded to learn whether it changed"
        )


def compressor() -> str:
    from cogw.shell.layers import compressor_identity

    return compressor_identity()


def snapshot_for(
    opts: Options,
    op: Operation,
    names: Sequence[str],
    progress: bool = False,
    after_run: bool = False,
    early: EarlyPushes | None = None,
) -> Snapshot:
    """Gather for ``op``; sources are hashed only for operations that import
    (with a progress bar on a terminal when ``progress``). ``after_run``: the
    snapshot taken right after executing a plan; ``early``: see read_inventory_for."""
    from cogw.shell.progress import hashing_progress

    require_project(opts.project)
    inventory_names = list(names) if op in IMPORTING else None
    on_bytes, finish = hashing_progress(progress and inventory_names is not None)
    try:
        with user_errors():
            result = gather_snapshot(
                opts.project,
                opts.store.exists,
                compressor(),
                inventory_names,
                read_inventory_for(opts, on_bytes, after_run, early)
                if inventory_names is not None
                else None,
                repairing=op in REPAIRING,
            )
    finally:
        finish()
    snapshot = unwrap(result)
    if op is Operation.IMPORT:  # what the registry lost of unchanged weights is pushed again
        snapshot = check_registry(opts, snapshot, recorded(snapshot, names))
    if op is Operation.PREPARE:
        root = opts.store.root
        shared = same_device(root, opts.project.dir / ".cog")
        snapshot = replace(snapshot, store_dir=str(root), store_shares_device=shared)
    return snapshot


def recorded(snapshot: Snapshot, names: Sequence[str]) -> list[WeightEntry]:
    """The lock entries of the named declared weights (all when ``names`` is empty)."""
    declared = {s.name for s in snapshot.config.weights if not names or s.name in names}
    return [e for e in (snapshot.lock.weights if snapshot.lock else []) if e.name in declared]


def check_registry(opts: Options, snapshot: Snapshot, entries: Sequence[WeightEntry]) -> Snapshot:
    """``snapshot`` with what the registry holds of ``entries`` (shell/remote_check.py)."""
    from cogw.shell.remote_check import CHECK_RETRIES, remote_checks

    repository = snapshot.config.repository
    make = registry_factory(opts, repository, max_retries=CHECK_RETRIES)
    return replace(snapshot, remote=remote_checks(make, repository, entries))


def same_device(a: Path, b: Path) -> bool | None:
    """Whether ``a`` and ``b`` (or their nearest existing parents) are on one
    filesystem; None when that cannot be told."""
    try:
        return _existing(a).stat().st_dev == _existing(b).stat().st_dev
    except OSError:
        return None


def _existing(path: Path) -> Path:
    return next(p for p in (path, *path.parents) if p.exists())


def registry_factory(
    opts: Options, image: str, max_retries: int | None = None
) -> Callable[[], tuple[Registry, str]]:
    if opts.layout_registry is not None:  # `pull --from oci:DIR` reads the layout instead
        layout = opts.layout_registry
        return lambda: (layout, layout.registry)
    cached: list[tuple[Registry, str]] = []

    def make() -> tuple[Registry, str]:
        if not cached:
            from cogw.core.registry.reference import parse_repository
            from cogw.shell.mirrorsetup import pull_client
            from cogw.shell.registry import RegistryOptions
            from cogw.shell.registry.credentials import credentials_from_environment

            if not image:
                config = opts.project.config_name
                raise click.ClickException(
                    f"no 'model' (or 'image') in {config}: cannot reach a registry"
                )
            repo = parse_repository(image).alt(_raise).unwrap()
            options = RegistryOptions(insecure_hosts=opts.insecure, ca_bundle=opts.ca_bundle)
            if max_retries is not None:
                options = replace(options, max_retries=max_retries)
            credentials = (
                credentials_from_environment(os.environ, Path.home())
                .alt(lambda problems: _raise(f"{problems[0].summary}; {problems[0].hint}"))
                .unwrap()
            )
            client = pull_client(repo, options, credentials, opts.mirror_setup)
            cached.append((client, repo.path))
        return cached[0]

    return make


def _raise(message: str) -> NoReturn:
    raise click.ClickException(message)


def split_operation(args: Sequence[str]) -> tuple[Operation, list[str]]:
    if args and args[0] in OPERATIONS:
        return Operation(args[0]), list(args[1:])
    return Operation.SYNC, list(args)


def load_saved(opts: Options, path: str) -> tuple[Plan, bool]:
    from cogw.core.plan.savedplan import check_saved_plan, decode_saved_plan

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        fail((Diagnostic(f"cannot read plan file: {exc.strerror}", subject=path),))
    saved = unwrap(decode_saved_plan(data, path))
    snapshot = snapshot_for(opts, saved.plan.operation, list(saved.plan.names))
    plan = unwrap(
        check_saved_plan(saved, snapshot.inputs, __version__, opts.project.config_name, path)
    )
    return plan, bool(saved.options.get("pull"))


def confirm_or_exit(plan: Plan, yes: bool) -> None:
    if yes or plan.is_empty:
        return
    if not sys.stdin.isatty():
        fail(
            (
                Diagnostic(
                    "refusing to apply without confirmation",
                    hint="review 'cogw plan', then run 'cogw apply --yes'",
                ),
            )
        )
    if not click.confirm("Apply these changes?", default=False, err=True):
        echo_err("Apply cancelled.")
        sys.exit(1)


def run_plan(
    opts: Options,
    plan: Plan,
    output: Output,
    link_mode: str = "hardlink",
    pull: bool = False,
    early: EarlyPushes | None = None,
) -> Outcome:
    """Execute, then re-plan from a fresh snapshot: anything left is an error.
    ``early``: uploads the snapshot started, for the import to adopt."""
    from pyrsistent import pvector

    from cogw.core.plan.outcome import Outcome
    from cogw.core.plan.planner import FetchLayer, make_plan
    from cogw.shell.execute import execute
    from cogw.shell.progress import make_progress

    if plan.is_empty and plan.operation is not Operation.PREPARE:
        return Outcome(plan, pvector())  # nothing ran, so nothing can be left over
    doing(plan.operation.value)
    download = sum(s.layer.size for s in plan.steps if isinstance(s, FetchLayer))
    sink, finish = make_progress(
        output.as_json, output.quiet, output.verbose, download_total=download
    )
    rt = _runtime(opts, plan, sink, link_mode, early)
    try:
        with user_errors():
            results = execute(plan, rt)
    finally:
        finish()
    remaining = None
    if plan.operation is not Operation.PREPARE:
        after = snapshot_for(opts, plan.operation, list(plan.names), after_run=True)
        remaining = make_plan(after, plan.operation, list(plan.names), pull=pull)
    return Outcome(plan, pvector(results), remaining)


def _runtime(
    opts: Options,
    plan: Plan,
    sink: Callable[[Event], None],
    link_mode: str,
    early: EarlyPushes | None,
) -> Runtime:
    from cogw.shell.runtime import Runtime

    # The config decides the shape of a new weights.lock (and its tags); a saved
    # plan was checked against this same config before it got here.
    config = read_config(opts.project).value_or(None)
    return Runtime(
        opts.project,
        opts.store,
        registry_factory(opts, plan.repository),
        sink,
        jobs=opts.jobs,
        streams=opts.streams,
        streams_probe=opts.streams_probe,
        link_mode=link_mode,
        ingest_mode=opts.ingest_mode,
        envelope=_envelope(),
        config=config,
        early=early,
    )


def _envelope() -> str:
    from cogw.core.artifact.packing import PackOptions, envelope_format

    return envelope_format(PackOptions(), compressor())


def apply_operation(
    opts: Options,
    op: Operation,
    names: list[str],
    plan_file: str | None,
    yes: bool,
    output: Output,
    show_plan: bool = True,
    force: bool = False,
) -> NoReturn:
    """Plan (or load a saved plan), confirm, execute, report. The direct commands
    (import, pull) skip the step preview and show only the plan's notes and re-pushes;
    ``force``: an import pushes every recorded weight again."""
    from cogw.core.plan.earlypush import uploads_early
    from cogw.core.plan.planner import make_plan
    from cogw.core.plan.render import plan_lines

    doing("read")  # until the plan executes (after any confirmation)
    pull = False
    early = (
        early_pushes(opts) if uploads_early(op is Operation.IMPORT, bool(plan_file), yes) else None
    )
    try:
        if plan_file:
            plan, pull = load_saved(opts, plan_file)
        else:
            snapshot = snapshot_for(opts, op, names, output.interactive, early=early)
            plan = make_plan(snapshot, op, names, force=force)
            if output.interactive:
                lines = plan_lines(plan) if show_plan else [f"  · {n}" for n in plan.notes]
                for line in lines:
                    echo_err(line)
        if plan.problems:
            fail_as(plan.problems, output.as_json)
        if not plan_file:
            confirm_or_exit(plan, yes)
        outcome = run_plan(opts, plan, output, pull=pull, early=early)
    finally:
        if early is not None:
            early.close()  # what no step adopted is cancelled, never committed
    report(outcome, output.as_json, output.silent)


def early_pushes(opts: Options) -> EarlyPushes | None:
    """For an import: the uploads to start while its large new files are hashed, when
    there is a registry to upload to."""
    if opts.layout_registry is not None:
        return None
    from cogw.shell.import_early import EarlyPushes
    from cogw.shell.store import FileStore

    config = read_config(opts.project).value_or(None)
    if config is None or not config.repository or not isinstance(opts.store, FileStore):
        return None
    registry = registry_factory(opts, config.repository)
    return EarlyPushes(config, opts.store, registry, opts.ingest_mode, max(1, opts.jobs))
