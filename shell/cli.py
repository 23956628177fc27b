"""The cogw command line: the only place that prints results and exits.

Every command follows the same three steps: gather a Snapshot (shell),
decide with a pure planner (core), then render or execute (shell). Exit codes:
0 success, 1 error (or, for `status`, weights not ready), 2 usage error
(click) or, with `cogw plan --detailed-exitcode`, changes to apply; 130 after
Ctrl-C. Heavy libraries (requests, rich, huggingface_hub) load only when a
command needs them, so `cogw --help` stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from cogw import __version__
from cogw.core.operation import Operation

if TYPE_CHECKING:
    # Only for annotations: each command imports what it runs, so --help, --version and
    # status start without the planner, the renderers or the registry client.
    from returns.result import Result

    from cogw.core.diagnostics import Diagnostic, Problems
    from cogw.core.inventory import Inventory
    from cogw.core.outcome import Outcome
    from cogw.core.plan import Plan
    from cogw.core.snapshot import Snapshot
    from cogw.shell.gather import Project

F = TypeVar("F", bound=Callable[..., Any])
OPERATIONS = [op.value for op in Operation]
IMPORTING = (Operation.IMPORT, Operation.SYNC)


class Options:
    """Options every command shares, resolved lazily into project, store and registry."""

    def __init__(
        self,
        project: str | None,
        config: str | None,
        cache_dir: str | None,
        insecure: Sequence[str],
        ca_bundle: str | None,
        jobs: int,
    ) -> None:
        from cogw.shell.gather import locate_project

        self.project = locate_project(project, config, Path.cwd())
        self.cache_dir = cache_dir
        self.insecure = frozenset(insecure) | frozenset(
            h for h in os.environ.get("COGW_INSECURE_REGISTRIES", "").split(",") if h
        )
        self.ca_bundle = ca_bundle or os.environ.get("COGW_CA_BUNDLE") or None
        self.jobs = jobs
        self.ingest_mode = "auto"  # set by the commands that import (--ingest)

    @functools.cached_property
    def store(self) -> Any:
        from returns.result import Failure, Success

        from cogw.shell.gather import resolve_store_dir
        from cogw.shell.store import open_store

        match resolve_store_dir(self.cache_dir):
            case Success(path):
                return open_store(path)
            case Failure(diag):
                fail((diag,))
        raise AssertionError("unreachable")


def common_options(fn: F) -> F:
    decorators = [
        click.option(
            "--project",
            "project",
            metavar="DIR",
            help="Project directory (default: nearest directory upwards with the config file).",
        ),
        click.option(
            "--config",
            "config",
            metavar="FILE",
            help="Config file, relative to the project (default cog.yaml).",
        ),
        click.option(
            "--cache-dir",
            metavar="DIR",
            help="Cache directory; the store is DIR/weights "
            "(default: $COG_CACHE_DIR, $XDG_CACHE_HOME/cog, ~/.cache/cog).",
        ),
        click.option(
            "--insecure-registry",
            "insecure",
            multiple=True,
            metavar="HOST",
            help="Allow plain HTTP to HOST (loopback hosts always are). "
            "Also COGW_INSECURE_REGISTRIES.",
        ),
        click.option(
            "--ca-bundle",
            metavar="FILE",
            help="CA certificates to trust for the registry. Also COGW_CA_BUNDLE.",
        ),
        click.option(
            "-j",
            "--jobs",
            type=click.IntRange(1, 64),
            default=4,
            show_default=True,
            help="Parallel layer transfers and hashing threads.",
        ),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def options_from(kwargs: dict[str, Any]) -> Options:
    ingest_mode = kwargs.pop("ingest_mode", "auto")
    opts = Options(
        kwargs.pop("project"),
        kwargs.pop("config"),
        kwargs.pop("cache_dir"),
        kwargs.pop("insecure"),
        kwargs.pop("ca_bundle"),
        kwargs.pop("jobs"),
    )
    opts.ingest_mode = ingest_mode
    return opts


def echo_err(line: str) -> None:
    click.echo(line, err=True)


def print_problems(problems: Problems) -> None:
    for problem in problems:
        for line in problem.lines():
            echo_err(line)


def fail(problems: Problems) -> NoReturn:
    print_problems(problems)
    sys.exit(1)


T = TypeVar("T")


def unwrap(result: Result[T, Problems]) -> T:
    from returns.result import Failure, Success

    match result:
        case Success(value):
            return value  # type: ignore[no-any-return]
        case Failure(problems):
            fail(problems)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Expected failures become one clear line and exit 1; Ctrl-C exits 130."""
    from cogw.shell.fs import LinkError, ProjectLocked
    from cogw.shell.store import StoreError

    try:
        yield
    except KeyboardInterrupt:
        echo_err("interrupted; nothing partial was left in the store")
        sys.exit(130)
    except (StoreError, LinkError, ProjectLocked, PermissionError) as exc:
        echo_err(f"error: {exc}")
        sys.exit(1)


# --- gathering -------------------------------------------------------------


def read_inventory_for(
    opts: Options, on_bytes: Callable[[int], None] | None = None
) -> Callable[[str, str], Result[Inventory, Diagnostic]]:
    def read(name: str, uri: str) -> Result[Inventory, Diagnostic]:
        from returns.result import Failure, Success

        from cogw.core.diagnostics import Diagnostic
        from cogw.shell.hashing import STAT_CACHE_NAME, StatCache
        from cogw.shell.sources import SourceError, source_for

        subject = f'{opts.project.config_name}: weight "{name}"'
        try:
            with StatCache(opts.store.root / STAT_CACHE_NAME) as cache:
                source = source_for(uri, opts.project.dir, cache=cache)
                return Success(source.inventory(jobs=opts.jobs, on_bytes=on_bytes))
        except SourceError as exc:
            return Failure(
                Diagnostic(str(exc), subject=subject, hint="fix the weight's source in cog.yaml")
            )
        except OSError as exc:
            return Failure(Diagnostic(f"cannot read source {uri}: {exc}", subject=subject))

    return read


def compressor() -> str:
    from cogw.shell.layers import compressor_identity

    return compressor_identity()


def snapshot_for(
    opts: Options, op: Operation, names: Sequence[str], progress: bool = False
) -> Snapshot:
    """Gather for ``op``; sources are hashed only for operations that import
    (with a progress bar on a terminal when ``progress``)."""
    from cogw.shell.gather import gather_snapshot
    from cogw.shell.progress import hashing_progress

    inventory_names = list(names) if op in IMPORTING else None
    on_bytes, finish = hashing_progress(progress and inventory_names is not None)
    try:
        with user_errors():
            result = gather_snapshot(
                opts.project,
                opts.store.exists,
                compressor(),
                inventory_names,
                read_inventory_for(opts, on_bytes) if inventory_names is not None else None,
            )
    finally:
        finish()
    return unwrap(result)


def registry_factory(opts: Options, image: str) -> Callable[[], tuple[Any, str]]:
    cached: list[tuple[Any, str]] = []

    def make() -> tuple[Any, str]:
        if not cached:
            from cogw.core.reference import parse_repository
            from cogw.shell.auth import default_credentials
            from cogw.shell.registry import RegistryClient, RegistryOptions

            if not image:
                raise click.ClickException(
                    f"no 'image' in {opts.project.config_name}: cannot reach a registry"
                )
            repo = parse_repository(image).alt(_raise).unwrap()
            options = RegistryOptions(insecure_hosts=opts.insecure, ca_bundle=opts.ca_bundle)
            client = RegistryClient(
                repo.registry, options, default_credentials(os.environ, Path.home())
            )
            cached.append((client, repo.path))
        return cached[0]

    return make


def _raise(message: str) -> NoReturn:
    raise click.ClickException(message)


# --- plan / apply ------------------------------------------------------------


def split_operation(args: Sequence[str]) -> tuple[Operation, list[str]]:
    if args and args[0] in OPERATIONS:
        return Operation(args[0]), list(args[1:])
    return Operation.SYNC, list(args)


def print_json(value: Any) -> None:
    import orjson

    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cogw")
def cli() -> None:
    """Manage ML model weights as content-addressed OCI artifacts.

    Compatible with Cog's managed weights: the same cog.yaml weights section,
    weights.lock bytes, cache directory and registry artifacts.

    \b
    Exit codes: 0 success; 1 error (status: a weight is not ready);
    2 usage error, or changes to apply with 'cogw plan --detailed-exitcode';
    130 interrupted (Ctrl-C).
    """


@cli.command("plan")
@click.argument("args", nargs=-1, metavar="[OPERATION] [NAME]...")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON on stdout.")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    help="Save the plan to FILE for 'cogw apply --plan FILE'.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there is nothing to do, 2 when there are changes, 1 on error.",
)
@click.option("--pull", is_flag=True, help="With prepare: fetch missing files first.")
@common_options
def plan_command(
    args: tuple[str, ...],
    as_json: bool,
    out: str | None,
    detailed_exitcode: bool,
    pull: bool,
    **kwargs: Any,
) -> None:
    """Show what an operation would do, without changing anything.

    OPERATION is one of sync (default: import what changed, prune orphans,
    pull what is missing), import, pull, prepare or prune. NAMEs restrict it
    to those weights. Needs no network except for import's remote sources.
    """
    from cogw.core.plan import make_plan
    from cogw.core.render import plan_json, plan_lines
    from cogw.core.savedplan import SavedPlan, encode_saved_plan

    opts = options_from(kwargs)
    op, names = split_operation(args)
    snapshot = snapshot_for(opts, op, names, progress=not as_json)
    plan = make_plan(snapshot, op, names, pull=pull)
    if as_json:
        print_json(plan_json(plan))
    else:
        for line in plan_lines(plan):
            click.echo(line)
    if plan.problems:
        fail(plan.problems)
    if out:
        saved = SavedPlan(__version__, snapshot.inputs, plan, {"pull": pull})
        with user_errors():
            from cogw.shell.fs import atomic_write

            atomic_write(Path(out), encode_saved_plan(saved))
        echo_err(f"Saved the plan to {out}; apply it with: cogw apply --plan {out}")
    if detailed_exitcode and not plan.is_empty:
        sys.exit(2)


def load_saved(opts: Options, path: str) -> tuple[Plan, bool]:
    from cogw.core.diagnostics import Diagnostic
    from cogw.core.savedplan import check_saved_plan, decode_saved_plan

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
    from cogw.core.diagnostics import Diagnostic

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
    as_json: bool,
    quiet: bool,
    verbose: bool = False,
    link_mode: str = "hardlink",
    pull: bool = False,
) -> tuple[Outcome, list[tuple[str, str]]]:
    """Execute, then re-plan from a fresh snapshot: anything left is an error."""
    from pyrsistent import pvector

    from cogw.core.outcome import Outcome
    from cogw.core.plan import make_plan
    from cogw.shell.execute import Runtime, execute
    from cogw.shell.progress import make_progress

    if plan.is_empty and plan.operation is not Operation.PREPARE:
        return Outcome(plan, pvector()), []  # nothing ran, so nothing can be left over
    sink, finish = make_progress(as_json, quiet, verbose)
    snapshot_envelope = _envelope()
    rt = Runtime(
        opts.project,
        opts.store,
        registry_factory(opts, plan.repository),
        sink,
        jobs=opts.jobs,
        link_mode=link_mode,
        ingest_mode=opts.ingest_mode,
        envelope=snapshot_envelope,
    )
    try:
        with user_errors():
            results = execute(plan, rt)
    finally:
        finish()
    remaining = None
    if plan.operation is not Operation.PREPARE:
        after = snapshot_for(opts, plan.operation, list(plan.names))
        remaining = make_plan(after, plan.operation, list(plan.names), pull=pull)
    return Outcome(plan, pvector(results), remaining), list(rt.mounts)


def _envelope() -> str:
    from cogw.core.packing import PackOptions, envelope_format

    return envelope_format(PackOptions(), compressor())


def report(outcome: Outcome, as_json: bool) -> None:
    from cogw.core.render import outcome_json, outcome_lines

    if as_json:
        print_json(outcome_json(outcome))
    else:
        for line in outcome_lines(outcome):
            echo_err(line)
    if not as_json:  # in JSON mode stderr carries only JSON lines; errors are in the outcome
        print_problems(tuple(r.diagnostic for r in outcome.failed if r.diagnostic))
    sys.exit(outcome.exit_code)


def apply_operation(
    opts: Options,
    op: Operation,
    names: list[str],
    plan_file: str | None,
    yes: bool,
    as_json: bool,
    quiet: bool,
    verbose: bool = False,
    show_plan: bool = True,
) -> None:
    """Plan (or load a saved plan), confirm, execute, report. The direct commands
    (import, pull) skip the step preview and show only the plan's notes."""
    from cogw.core.plan import make_plan
    from cogw.core.render import plan_lines

    pull = False
    if plan_file:
        plan, pull = load_saved(opts, plan_file)
    else:
        plan = make_plan(snapshot_for(opts, op, names, not (as_json or quiet)), op, names)
        if not (as_json or quiet):
            lines = plan_lines(plan) if show_plan else [f"  · {n}" for n in plan.notes]
            for line in lines:
                echo_err(line)
    if plan.problems:
        fail(plan.problems)
    if not plan_file:
        confirm_or_exit(plan, yes)
    outcome, _ = run_plan(opts, plan, as_json, quiet, verbose, pull=pull)
    report(outcome, as_json)


output_options = [
    click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print the result as JSON on stdout; progress as JSON lines on stderr.",
    ),
    click.option("-q", "--quiet", is_flag=True, help="No progress output."),
    click.option("-v", "--verbose", is_flag=True, help="Per-layer and per-file lines."),
]


ingest_option = click.option(
    "--ingest",
    "ingest_mode",
    type=click.Choice(["auto", "reflink", "hardlink", "copy"]),
    default="auto",
    show_default=True,
    help="How local source files enter the store: auto reflinks where possible, hardlinks "
    "read-only files, else copies (verified); hardlink makes the source files themselves "
    "read-only store blobs (no copy).",
)


def with_output(fn: F) -> F:
    for decorator in reversed(output_options):
        fn = decorator(fn)
    return fn


@cli.command("apply")
@click.argument("args", nargs=-1, metavar="[OPERATION] [NAME]...")
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False),
    help="Apply a plan saved with 'cogw plan --out'; refused when stale.",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@ingest_option
@with_output
@common_options
def apply_command(
    args: tuple[str, ...],
    plan_file: str | None,
    yes: bool,
    as_json: bool,
    quiet: bool,
    verbose: bool,
    **kwargs: Any,
) -> None:
    """Carry out an operation (default sync), or a saved plan.

    Shows the plan and asks for confirmation unless --yes or --plan is given.
    Exit 0 when every step succeeded and nothing is left to do, else 1.
    """
    opts = options_from(kwargs)
    op, names = split_operation(args)
    if plan_file and args:
        raise click.UsageError("--plan applies a saved plan; do not name an operation or weights")
    apply_operation(opts, op, names, plan_file, yes, as_json, quiet, verbose)


def direct_command(op: Operation, doc: str) -> None:
    """`cogw import` and `cogw pull`: `cogw apply OP --yes` without the step preview."""

    def command(
        names: tuple[str, ...], as_json: bool, quiet: bool, verbose: bool, **kwargs: Any
    ) -> None:
        opts = options_from(kwargs)
        apply_operation(opts, op, list(names), None, True, as_json, quiet, verbose, show_plan=False)

    decorated = common_options(with_output(command))
    if op is Operation.IMPORT:
        decorated = ingest_option(decorated)
    cli.command(op.value, help=doc)(click.argument("names", nargs=-1)(decorated))


direct_command(
    Operation.IMPORT,
    """Import weights from their sources into the registry and weights.lock.

    Same as 'cogw apply import --yes NAME...'. Unchanged weights are skipped;
    weights.lock is written only after every push succeeded.
    """,
)
direct_command(
    Operation.PULL,
    """Fetch the files the local store lacks, only from the layers that hold them.

    Same as 'cogw apply pull --yes NAME...'. Fully cached weights need no
    registry access. Every byte is verified.
    """,
)


@cli.command("prepare")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the mounts as JSON.")
@click.option("--docker", is_flag=True, help="Print docker -v flags (host:target:ro).")
@click.option("--pull", is_flag=True, help="Fetch missing files first instead of failing.")
@click.option(
    "--link-mode",
    type=click.Choice(["hardlink", "reflink", "copy"]),
    default="hardlink",
    show_default=True,
    help="How files enter the mount directory; never a silent fallback.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@common_options
def prepare_command(
    names: tuple[str, ...],
    as_json: bool,
    docker: bool,
    pull: bool,
    link_mode: str,
    quiet: bool,
    **kwargs: Any,
) -> None:
    """Assemble a read-only mount directory per weight from the local store.

    Prints the mounts (host dir → container target); release them with
    'cogw release ID' or 'cogw release --all'.
    """
    from cogw.core.plan import make_plan

    if as_json and docker:
        raise click.UsageError("choose one of --json and --docker")
    opts = options_from(kwargs)
    plan = make_plan(
        snapshot_for(opts, Operation.PREPARE, list(names)),
        Operation.PREPARE,
        list(names),
        pull=pull,
    )
    if plan.problems:
        fail(plan.problems)
    outcome, mounts = run_plan(
        opts, plan, False, quiet or as_json or docker, link_mode=link_mode, pull=pull
    )
    if outcome.exit_code != 0:
        report(outcome, as_json)
    print_mounts(mounts, as_json, docker)


def print_mounts(mounts: list[tuple[str, str]], as_json: bool, docker: bool) -> None:
    mount_id = Path(mounts[0][0]).parent.name if mounts else ""
    if as_json:
        print_json(
            {
                "id": mount_id,
                "mounts": [{"source": s, "target": t, "readOnly": True} for s, t in mounts],
            }
        )
    elif docker:
        click.echo(" ".join(f"-v {shlex.quote(f'{s}:{t}:ro')}" for s, t in mounts))
    elif not mounts:
        echo_err("No weights to mount.")
    else:
        echo_err(f"Prepared mounts {mount_id} (release with: cogw release {mount_id})")
        for source, target in mounts:
            click.echo(f"{source} -> {target} (read-only)")


@cli.command("release")
@click.argument("mount_id", required=False)
@click.option(
    "--all", "release_all", is_flag=True, help="Remove every mount directory of the project."
)
@click.option("--project", "project", metavar="DIR", help="Project directory.")
@click.option("--config", "config", metavar="FILE", help="Config file (default cog.yaml).")
def release_command(
    mount_id: str | None, release_all: bool, project: str | None, config: str | None
) -> None:
    """Remove mount directories made by 'cogw prepare' (store blobs are untouched)."""
    from cogw.core.diagnostics import Diagnostic
    from cogw.shell.gather import locate_project
    from cogw.shell.prepare import release

    if bool(mount_id) == release_all:
        raise click.UsageError("give a mount ID or --all")
    where = locate_project(project, config, Path.cwd())
    try:
        removed = release(where.dir, None if release_all else mount_id)
    except (ValueError, FileNotFoundError) as exc:
        fail((Diagnostic(str(exc), hint="list them with: ls .cog/mounts"),))
    echo_err(f"Released {len(removed)} mount(s)." if removed else "No mounts to release.")


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON on stdout.")
@common_options
def status_command(as_json: bool, **kwargs: Any) -> None:
    """Say, per weight, how cog.yaml, weights.lock and the local store agree.

    ready: all agree and every file is cached; missing-files: run 'cogw pull';
    stale or pending: run 'cogw import'; orphaned: run 'cogw apply prune'.
    Exit 0 only when every weight is ready.
    """
    from cogw.core.status import all_ready, make_status
    from cogw.core.statusview import status_json, status_lines

    opts = options_from(kwargs)
    rows = make_status(snapshot_for(opts, Operation.PULL, []))
    if as_json:
        print_json(status_json(rows))
    else:
        for line in status_lines(rows):
            click.echo(line)
    if not all_ready(rows):
        echo_err("not all weights are ready")
        sys.exit(1)


@cli.group("lock")
def lock_group() -> None:
    """Work with weights.lock."""


@lock_group.command("fmt")
@click.option(
    "--check", is_flag=True, help="Exit 1 if weights.lock is not canonical; change nothing."
)
@click.option("--project", "project", metavar="DIR", help="Project directory.")
@click.option("--config", "config", metavar="FILE", help="Config file (default cog.yaml).")
def lock_fmt(check: bool, project: str | None, config: str | None) -> None:
    """Rewrite weights.lock in its canonical form (the bytes Cog writes)."""
    from cogw.shell.gather import locate_project

    where = locate_project(project, config, Path.cwd())
    if check:
        data, canonical = canonical_lock(where)
        if canonical != data:
            echo_err("weights.lock is not canonical; run 'cogw lock fmt'")
            sys.exit(1)
    else:
        from cogw.shell.fs import atomic_write, project_lock

        # Read under the lock: an import recording meanwhile must not be overwritten.
        with user_errors(), project_lock(where.dir):
            data, canonical = canonical_lock(where)
            if canonical != data:
                atomic_write(where.lock_path, canonical)
                echo_err("Rewrote weights.lock.")
                return
    echo_err("weights.lock is canonical.")


def canonical_lock(where: Project) -> tuple[bytes, bytes]:
    """The lockfile's bytes and their canonical form; a missing or invalid file exits 1."""
    from cogw.core.diagnostics import Diagnostic
    from cogw.core.lockfile import parse_lockfile, render_lockfile
    from cogw.shell.gather import read_lock_bytes

    data = unwrap(read_lock_bytes(where))
    if data is None:
        fail(
            (Diagnostic(f"no weights.lock in {where.dir}", hint="run 'cogw import' to create it"),)
        )
    return data, render_lockfile(unwrap(parse_lockfile(data, "weights.lock")))


def main() -> None:
    cli(prog_name="cogw")
