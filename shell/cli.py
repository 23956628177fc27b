"""The cogw command line: click commands, the only place that prints results and exits.

Every command follows the same three steps: gather a Snapshot (shell),
decide with a pure planner (core), then render or execute (shell); the
wiring lives in shell/compose.py, the printing in shell/output.py. Exit codes:
0 success, 1 error (or, for `status`, weights not ready), 2 usage error
(click) or, with `cogw plan --detailed-exitcode`, changes to apply; 130 after
Ctrl-C. Heavy libraries (requests, rich, huggingface_hub) load only when a
command needs them, so `cogw --help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cogw import __version__
from cogw.core.diagnostics import Diagnostic
from cogw.core.outcome import mounts
from cogw.core.plan import Operation, make_plan
from cogw.core.refpull import looks_like_reference
from cogw.core.render import plan_json, plan_lines, status_json, status_lines
from cogw.core.savedplan import SavedPlan, encode_saved_plan
from cogw.core.status import all_ready, make_status
from cogw.shell.cli_fleet import pull_link_option, pull_reference_command, to_option
from cogw.shell.compose import apply_operation, run_plan, snapshot_for, split_operation
from cogw.shell.gather import Project, locate_project, read_lock_bytes
from cogw.shell.mirrorsetup import with_mirror_note
from cogw.shell.options import (
    Output,
    common_options,
    ingest_option,
    options_from,
    with_output,
)
from cogw.shell.output import (
    echo_err,
    fail,
    print_json,
    print_mounts,
    report,
    unwrap,
    user_errors,
)


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
    from cogw.shell import redaction

    redaction.install()  # no secret loaded later reaches stdout or stderr


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
    opts = options_from(kwargs)
    op, names = split_operation(args)
    snapshot = snapshot_for(opts, op, names, progress=not as_json)
    plan = with_mirror_note(make_plan(snapshot, op, names, pull=pull), opts.mirror_setup)
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
    apply_operation(opts, op, names, plan_file, yes, Output(as_json, quiet, verbose))


def direct_command(op: Operation, doc: str) -> None:
    """`cogw import` and `cogw pull`: `cogw apply OP --yes` without the step preview."""

    def command(
        names: tuple[str, ...], as_json: bool, quiet: bool, verbose: bool, **kwargs: Any
    ) -> None:
        to, link_mode = kwargs.pop("to", None), kwargs.pop("link_mode", "hardlink")
        opts = options_from(kwargs)
        output = Output(as_json, quiet, verbose)
        if op is Operation.PULL and names and looks_like_reference(names[0]):
            pull_reference_command(opts, names, to, link_mode, output)
        if to:
            raise click.UsageError("--to needs a REGISTRY/REPO@DIGEST reference")
        apply_operation(opts, op, list(names), None, True, output, show_plan=False)

    decorated = common_options(with_output(command))
    if op is Operation.IMPORT:
        decorated = ingest_option(decorated)
    if op is Operation.PULL:
        decorated = to_option(pull_link_option(decorated))
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
    output = Output(quiet=quiet or as_json or docker)
    outcome = run_plan(opts, plan, output, link_mode=link_mode, pull=pull)
    if outcome.exit_code != 0:
        report(outcome, as_json)
    print_mounts(mounts(outcome.results), as_json, docker)


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
    from cogw.core.lockfile import parse_lockfile, render_lockfile

    data = unwrap(read_lock_bytes(where))
    if data is None:
        fail(
            (Diagnostic(f"no weights.lock in {where.dir}", hint="run 'cogw import' to create it"),)
        )
    return data, render_lockfile(unwrap(parse_lockfile(data, "weights.lock")))


from cogw.shell.cli_cache import register  # noqa: E402

register(cli)  # cache, gc, verify; plan/apply gc; release --stale


def main() -> None:
    from cogw.shell import redaction
    from cogw.shell.signals import run_terminable

    redaction.install()  # no secret loaded later reaches stdout or stderr

    run_terminable(lambda: cli(prog_name="cogw"))
