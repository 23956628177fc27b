"""The cogw command line: click commands, the only place that prints results and exits.

Every command follows the same three steps: gather a Snapshot (shell),
decide with a pure planner (core), then render or execute (shell); the
wiring lives in shell/compose.py, the printing in shell/output.py. Exit codes:
0 success, 1 error (or, for `status`, weights not ready), 2 usage error
(click) or, with `cogw plan --detailed-exitcode`, changes to apply; 130 after
Ctrl-C. Each command imports what it runs when it runs: `cogw --help` loads click
and the option declarations only, `cogw status` no planner or registry client.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cogw import __version__
from cogw.core.plan.operation import Operation
from cogw.shell.cligroup import CogwGroup
from cogw.shell.habits import complete_names, complete_operation_or_names
from cogw.shell.httptrace import debug_options
from cogw.shell.options import (
    common_options,
    dry_run_option,
    force_option,
    from_option,
    ingest_option,
    project_options,
    pull_link_option,
    quiet_option,
    status_source_options,
    to_option,
    with_output,
)

if TYPE_CHECKING:
    from cogw.core.plan.planner import Plan


@click.group(cls=CogwGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cogw")
@debug_options[0]
@debug_options[1]
def cli() -> None:
    """Manage ML model weights as content-addressed OCI artifacts.

    Compatible with Cog's managed weights: the same cog.yaml weights section,
    weights.lock bytes, cache directory and registry artifacts.

    \b
    Exit codes: 0 success; 1 error (status: a weight is not ready);
    2 usage error, or changes to apply with 'cogw plan --detailed-exitcode';
    130 interrupted (Ctrl-C); 143 terminated (SIGTERM).
    """
    from cogw.shell import redaction

    redaction.install()  # no secret loaded later reaches stdout or stderr


@cli.command("plan")
@click.argument(
    "args",
    nargs=-1,
    metavar="[OPERATION] [NAME]...",
    shell_complete=complete_operation_or_names,
)
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
@click.option(
    "--link-mode",
    type=click.Choice(["hardlink", "reflink", "copy"]),
    default="hardlink",
    show_default=True,
    help="With prepare: how files would enter the mount directory.",
)
@force_option
@common_options
def plan_command(
    args: tuple[str, ...],
    as_json: bool,
    out: str | None,
    detailed_exitcode: bool,
    pull: bool,
    link_mode: str,
    force: bool,
    **kwargs: Any,
) -> None:
    """Show what an operation would do, without changing anything.

    OPERATION is one of sync (default: import what changed, prune orphans,
    pull what is missing), import, pull, prepare or prune. NAMEs restrict it
    to those weights. Needs no network except for import's remote sources and
    its registry check (HEAD only: what the registry lost is pushed again).
    """
    from cogw.core.plan.planner import make_plan
    from cogw.core.plan.savedplan import SavedPlan, encode_saved_plan
    from cogw.shell.compose import snapshot_for, split_operation
    from cogw.shell.mirrorsetup import with_mirror_note
    from cogw.shell.options import options_from
    from cogw.shell.output import doing, echo_err, user_errors

    opts = options_from(kwargs)
    doing("read")  # until something executes, Ctrl-C changes nothing
    op, names = split_operation(args)
    if force and op is not Operation.IMPORT:
        raise click.UsageError("--force goes with import: 'cogw plan import --force'")
    snapshot = snapshot_for(opts, op, names, progress=not as_json)
    plan = make_plan(snapshot, op, names, pull=pull, link_mode=link_mode, force=force)
    show_plan(with_mirror_note(plan, opts.mirror_setup), as_json)
    if out:
        saved = SavedPlan(__version__, snapshot.inputs, plan, {"pull": pull})
        with user_errors():
            from cogw.shell.fs import atomic_write

            atomic_write(Path(out), encode_saved_plan(saved))
        echo_err(f"Saved the plan to {out}; apply it with: cogw apply --plan {out}")
    if detailed_exitcode and not plan.is_empty:
        sys.exit(2)


def show_plan(plan: Plan, as_json: bool) -> None:
    """A plan on stdout; one with problems exits 1 after them (in JSON, with hints)."""
    from cogw.core.plan.render import plan_json, plan_lines
    from cogw.shell.output import fail, print_json

    if as_json:
        print_json(plan_json(plan))
        if plan.problems:
            sys.exit(1)
    else:
        for line in plan_lines(plan):
            click.echo(line)
    if plan.problems:
        fail(plan.problems)


@cli.command("apply")
@click.argument(
    "args",
    nargs=-1,
    metavar="[OPERATION] [NAME]...",
    shell_complete=complete_operation_or_names,
)
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
    quiet: int,
    verbose: bool,
    **kwargs: Any,
) -> None:
    """Carry out an operation (default sync), or a saved plan.

    Shows the plan and asks for confirmation unless --yes or --plan is given.
    Exit 0 when every step succeeded and nothing is left to do, else 1.
    """
    from cogw.shell.compose import apply_operation, split_operation
    from cogw.shell.options import Output, options_from

    opts = options_from(kwargs)
    op, names = split_operation(args)
    if plan_file and args:
        raise click.UsageError("--plan applies a saved plan; do not name an operation or weights")
    apply_operation(opts, op, names, plan_file, yes, Output(as_json, quiet, verbose))


def direct_command(op: Operation, doc: str) -> None:
    """`cogw import` and `cogw pull`: `cogw apply OP --yes` without the step preview."""

    def command(
        names: tuple[str, ...], as_json: bool, quiet: int, verbose: bool, **kwargs: Any
    ) -> None:
        from cogw.core.plan.planner import make_plan
        from cogw.core.registry.refpull import looks_like_reference
        from cogw.shell.cli_fleet import pull_reference_command
        from cogw.shell.cli_layout import use_layout
        from cogw.shell.compose import apply_operation, snapshot_for
        from cogw.shell.options import Output, options_from

        to, link_mode = kwargs.pop("to", None), kwargs.pop("link_mode", "hardlink")
        from_layout = kwargs.pop("from_layout", None)
        dry_run, force = kwargs.pop("dry_run", False), kwargs.pop("force", False)
        opts = options_from(kwargs)
        if from_layout:
            use_layout(opts, from_layout, names)  # the layout stands in for the registry
        output = Output(as_json, quiet, verbose)
        if dry_run:  # Cog's `weights import --dry-run` is `cogw plan import`
            snapshot = snapshot_for(opts, op, names, progress=not as_json)
            show_plan(make_plan(snapshot, op, list(names), force=force), as_json)
            return
        if op is Operation.PULL and names and looks_like_reference(names[0]):
            pull_reference_command(opts, names, to, link_mode, output)
        if to:
            raise click.UsageError("--to needs a REGISTRY/REPO@DIGEST reference")
        apply_operation(opts, op, list(names), None, True, output, show_plan=False, force=force)

    decorated = common_options(with_output(command))
    if op is Operation.IMPORT:
        decorated = force_option(ingest_option(dry_run_option(decorated)))
    if op is Operation.PULL:
        decorated = from_option(to_option(pull_link_option(decorated)))
    names_argument = click.argument("names", nargs=-1, shell_complete=complete_names)
    cli.command(op.value, help=doc)(names_argument(decorated))


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
@click.argument("names", nargs=-1, shell_complete=complete_names)
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
@quiet_option
@common_options
def prepare_command(
    names: tuple[str, ...],
    as_json: bool,
    docker: bool,
    pull: bool,
    link_mode: str,
    quiet: int,
    **kwargs: Any,
) -> None:
    """Assemble a read-only mount directory per weight from the local store.

    Prints the mounts (host dir → container target); release them with
    'cogw release ID' or 'cogw release --all'.
    """
    if as_json and docker:
        raise click.UsageError("choose one of --json and --docker")
    from cogw.core.plan.outcome import mounts
    from cogw.core.plan.planner import make_plan
    from cogw.shell.compose import run_plan, snapshot_for
    from cogw.shell.gitignore import ensure_cog_ignored
    from cogw.shell.options import Output, options_from
    from cogw.shell.output import echo_err, fail_as, print_mounts, report

    opts = options_from(kwargs)
    plan = make_plan(
        snapshot_for(opts, Operation.PREPARE, list(names)),
        Operation.PREPARE,
        list(names),
        pull=pull,
        link_mode=link_mode,
    )
    if plan.problems:
        fail_as(plan.problems, as_json)
    output = Output(quiet=max(quiet, as_json or docker))
    outcome = run_plan(opts, plan, output, link_mode=link_mode, pull=pull)
    if outcome.exit_code != 0:
        report(outcome, as_json, output.silent)
    ignored = ensure_cog_ignored(opts.project.dir)
    if ignored and not (as_json or output.silent):
        echo_err(ignored)
    print_mounts(mounts(outcome.results), as_json, docker, output.silent)


@cli.command("release")
@click.argument("mount_id", required=False)
@click.option(
    "--all", "release_all", is_flag=True, help="Remove every such mount directory of the project."
)
@click.option("--project", "project", metavar="DIR", help="Project directory.")
@click.option(
    "-f", "--file", "--config", "config", metavar="FILE", help="Config file (default cog.yaml)."
)
def release_command(
    mount_id: str | None, release_all: bool, project: str | None, config: str | None
) -> None:
    """Remove mount directories made by 'cogw prepare' or by Cog (store blobs are untouched).

    Any other directory (not marked by cogw, not only hardlinks of store blobs) is left alone.
    """
    from cogw.shell.release import release_from_cli

    if bool(mount_id) == release_all:
        raise click.UsageError("give a mount ID or --all")
    release_from_cli(mount_id, project, config)


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON on stdout.")
@status_source_options
@project_options
def status_command(
    as_json: bool, sources: bool, remote: bool, verbose: bool, **kwargs: Any
) -> None:
    """Say, per weight, how cog.yaml, weights.lock and the local store agree.

    ready: all agree and every file is cached; missing-files: run 'cogw pull';
    stale or pending: run 'cogw import'; orphaned: run 'cogw apply prune';
    incomplete (--remote): the registry lost part of it, run 'cogw import'.
    source-changed (only with --sources): run 'cogw import'.
    Exit 0 only when every weight is ready.
    """
    from cogw.shell.cli_check import run_status

    run_status(kwargs, as_json, (sources, remote), verbose)


# Commands defined in other modules, or extended by them, and what registers them (a command
# or a function of the group), imported when the command is first looked up.
CACHE = "cogw.shell.cli_cache:register"  # cache, gc, verify; plan/apply gc; release --stale
LAYOUT = "cogw.shell.cli_layout:register_layout"  # export; push --from oci:DIR
HABITS = "cogw.shell.habits:register"  # apply FILE, weights import|pull|status (after CACHE)
LAZY: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("cache", "gc", "verify", "plan", "release"), (CACHE,)),
    **dict.fromkeys(("apply", "weights"), (CACHE, HABITS)),
    **dict.fromkeys(("export", "push"), (LAYOUT,)),
    "lock": ("cogw.shell.cli_lock:lock_group",),
    "check": ("cogw.shell.cli_check:register",),  # the CI gate
}

# The top-level help's one line per command: whole phrases, never cut mid-sentence.
SHORT_HELP = {
    "apply": "Carry out an operation (default sync), or a saved plan.",
    "cache": "Inspect the local weights cache.",
    "check": "Exit 0 only when cog.yaml, weights.lock and sources agree.",
    "export": "Write the project's weights as an OCI image layout.",
    "gc": "Delete store blobs nothing needs any more.",
    "import": "Import weights from their sources into the registry.",
    "lock": "Work with weights.lock.",
    "plan": "Show what an operation would do, changing nothing.",
    "prepare": "Make read-only mount directories of the weights.",
    "pull": "Fetch the weight files the local store lacks.",
    "push": "Upload an OCI image layout to the project's registry.",
    "release": "Remove mount directories made by prepare.",
    "status": "Say per weight whether it is ready to use.",
    "verify": "Re-hash store blobs and check mounts.",
    "weights": "Cog's spellings: weights import, pull and status.",
}

cli.configure(LAZY, SHORT_HELP)


def main() -> None:
    from cogw.shell import redaction
    from cogw.shell.signals import run_terminable

    redaction.install()  # no secret loaded later reaches stdout or stderr

    run_terminable(lambda: cli(prog_name="cogw"))
