"""Commands for the cache's whole life: ``cache projects``, ``cache ls``, ``gc``,
``plan gc`` / ``apply gc`` / ``apply --plan <gc plan>``.

Registered into the main group by :func:`register`. Heavy modules load inside
the commands, so ``cogw --help`` stays fast. ``plan gc`` and ``apply gc`` are
dispatched on the operation name before the project plan/apply commands parse
their options: a gc plan is about the whole cache, not one project.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cogw.shell.cachecommon import unwrap_one, weights_dir

CACHE_OPTIONS = [
    click.option("--cache-dir", metavar="DIR", help="Cache directory; the store is DIR/weights."),
]
GC_OPTIONS = [
    click.option(
        "--project",
        "projects",
        multiple=True,
        metavar="DIR",
        help="Also treat DIR's weights.lock and mounts as roots (repeatable).",
    ),
    click.option(
        "--keep-within",
        metavar="DURATION",
        help="Keep blobs used within DURATION (e.g. 12h, 7d, 2w, 1d12h).",
    ),
    click.option(
        "--weight",
        "weights",
        multiple=True,
        metavar="NAME",
        help="Only evict weight NAME's blobs (unless another weight, project or mount uses them).",
    ),
    click.option("--all-unused", is_flag=True, help="Every blob no root needs (the default)."),
]


def _decorate(fn: Callable[..., Any], options: list[Any]) -> Callable[..., Any]:
    for option in reversed(options):
        fn = option(fn)
    return fn


def gc_options(kwargs: dict[str, Any]) -> tuple[Any, tuple[Path, ...]]:
    from cogw.core.cache.gc import GcOptions, parse_duration

    keep = kwargs.pop("keep_within", None)
    weights = tuple(kwargs.pop("weights", ()))
    if kwargs.pop("all_unused", False) and weights:
        raise click.UsageError("choose one of --weight and --all-unused")
    keep_ns = 0
    if keep:
        parsed = parse_duration(keep)
        if parsed is None:
            raise click.BadParameter(
                f"{keep!r} (use e.g. 90m, 12h, 7d, 2w)", param_hint="--keep-within"
            )
        keep_ns = parsed
    extra = tuple(Path(p) for p in kwargs.pop("projects", ()))
    return GcOptions(keep_ns, weights), extra


def _print(lines: list[str], err: bool = False) -> None:
    for line in lines:
        click.echo(line, err=err)


def plan_gc_command(as_json: bool, out: str | None, cache_dir: str | None, **kwargs: Any) -> None:
    """Show what gc would delete and the bytes it would free (changes nothing)."""
    from cogw import __version__
    from cogw.core.cache.gcfile import (
        SavedGcPlan,
        encode_saved_gc_plan,
        gc_plan_json,
        gc_plan_lines,
    )
    from cogw.shell.fs import atomic_write
    from cogw.shell.gc import make_gc_plan
    from cogw.shell.output import fail, print_json

    opts, extra = gc_options(kwargs)
    plan = unwrap_one(make_gc_plan(weights_dir(cache_dir), opts, extra))
    if as_json:
        print_json(gc_plan_json(plan))
    else:
        _print(gc_plan_lines(plan))
    if plan.problems:
        fail(plan.problems)
    if out:
        saved = SavedGcPlan(__version__, opts, tuple(str(p.resolve()) for p in extra), plan)
        atomic_write(Path(out), encode_saved_gc_plan(saved))
        click.echo(f"Saved the plan to {out}; apply it with: cogw apply --plan {out}", err=True)


def _confirm(yes: bool) -> None:
    if yes:
        return
    from cogw.core.diagnostics import Diagnostic
    from cogw.shell.output import fail

    if not sys.stdin.isatty():
        hint = "review 'cogw plan gc', then run 'cogw gc --yes'"
        fail((Diagnostic("refusing to delete without confirmation", hint=hint),))
    if not click.confirm("Delete these files?", default=False, err=True):
        click.echo("gc cancelled.", err=True)
        sys.exit(1)


def _waiting() -> None:
    click.echo("waiting for other cogw commands using the cache to finish…", err=True)


def run_gc(
    yes: bool, as_json: bool, cache_dir: str | None, plan_file: str | None = None, **kwargs: Any
) -> None:
    """Plan, confirm, then collect under the store's exclusive lock."""
    from cogw import __version__
    from cogw.core.cache.gcfile import gc_plan_json, gc_plan_lines
    from cogw.shell.gc import collect, make_gc_plan
    from cogw.shell.output import fail, print_json

    root = weights_dir(cache_dir)
    saved = _load(plan_file) if plan_file else None
    if saved is not None:
        opts, reviewed = saved.options, saved.plan
        named = (*saved.extra_projects, *kwargs.get("projects", ()))
        extra = tuple(Path(p) for p in dict.fromkeys(named))
    else:
        opts, extra = gc_options(kwargs)
        reviewed = unwrap_one(make_gc_plan(root, opts, extra))
        if reviewed.problems:
            fail(reviewed.problems)
        if not as_json:
            _print(gc_plan_lines(reviewed), err=True)
        if reviewed.is_empty:
            return print_json(gc_plan_json(reviewed)) if as_json else None
        _confirm(yes)
    check = (saved, plan_file or "", __version__) if saved is not None else None
    agreed = None if yes and saved is None else reviewed  # --yes: what is unused under the lock
    done = unwrap_one(collect(root, agreed, opts, extra, _waiting, check))
    if as_json:
        print_json(gc_plan_json(done))
    else:
        _print([line for line in gc_plan_lines(done, done=True) if not line.startswith("  · ")])


def _load(plan_file: str) -> Any:
    from cogw.core.cache.gcfile import decode_saved_gc_plan
    from cogw.core.diagnostics import Diagnostic
    from cogw.shell.output import fail

    try:
        data = Path(plan_file).read_bytes()
    except OSError as exc:
        fail((Diagnostic(f"cannot read plan file: {exc.strerror}", subject=plan_file),))
    return unwrap_one(decode_saved_gc_plan(data, plan_file))


def _command(name: str, fn: Callable[..., Any], options: list[Any]) -> click.Command:
    return click.command(name, help=fn.__doc__)(_decorate(fn, options))


JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
YES_OPTION = click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")

plan_gc = _command(
    "plan gc",
    plan_gc_command,
    [
        JSON_OPTION,
        click.option("--out", type=click.Path(dir_okay=False), help="Save the plan to FILE."),
        *CACHE_OPTIONS,
        *GC_OPTIONS,
    ],
)


def gc_command(**kwargs: Any) -> None:
    """Delete store blobs no known project, mount or link still needs.

    Roots: every file of every weight in every known project's weights.lock,
    every blob a live mount links to, projects named with --project, and any
    blob with more than one link. Also removes leftover temp files older than an
    hour and mounts of projects that are gone. Asks first unless --yes.
    """
    run_gc(**kwargs)


gc = _command("gc", gc_command, [YES_OPTION, JSON_OPTION, *CACHE_OPTIONS, *GC_OPTIONS])
apply_gc = _command("apply gc", gc_command, [YES_OPTION, JSON_OPTION, *CACHE_OPTIONS, *GC_OPTIONS])


def apply_gc_file(
    plan_file: str, as_json: bool, cache_dir: str | None, projects: tuple[str, ...], **_: Any
) -> None:
    """Apply a saved gc plan; refused when any root changed since it was made."""
    run_gc(True, as_json, cache_dir, plan_file, projects=projects)


@click.group("cache")
def cache_group() -> None:
    """Inspect the local weights cache."""


@cache_group.command("projects")
@JSON_OPTION
@CACHE_OPTIONS[0]
def cache_projects(as_json: bool, cache_dir: str | None) -> None:
    """List the projects known to the cache (recorded by pull, prepare, import, status)."""
    from cogw.core.cache.cachelist import project_lines, projects_json
    from cogw.shell.gc import snapshot
    from cogw.shell.output import print_json

    snap = unwrap_one(snapshot(weights_dir(cache_dir), ()))
    if as_json:
        print_json(projects_json(snap))
    elif not snap.projects:
        click.echo("No projects known to this cache.", err=True)
    else:
        _print(project_lines(snap))


@cache_group.command("ls")
@JSON_OPTION
@click.option(
    "--by",
    type=click.Choice(["blob", "weight"]),
    default="blob",
    show_default=True,
    help="One row per store blob, or per weight of each known project.",
)
@CACHE_OPTIONS[0]
@GC_OPTIONS[0]
def cache_ls(as_json: bool, by: str, cache_dir: str | None, projects: tuple[str, ...]) -> None:
    """Blobs (or weights) with sizes counted once, who uses them, and what gc would free."""
    from cogw.core.cache.cachelist import ls_json, ls_lines
    from cogw.core.cache.gc import GcOptions, plan_gc
    from cogw.shell.gc import snapshot
    from cogw.shell.output import print_json

    snap = unwrap_one(snapshot(weights_dir(cache_dir), tuple(Path(p) for p in projects)))
    gc_plan = plan_gc(snap, GcOptions())
    if as_json:
        print_json(ls_json(snap, gc_plan, by == "weight"))
    else:
        _print(ls_lines(snap, gc_plan, by == "weight"))


def _plan_file_of(args: list[str]) -> str | None:
    for i, arg in enumerate(args):
        if arg == "--plan" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--plan="):
            return arg.split("=", 1)[1]
    return None


def _is_gc_file(path: str | None) -> bool:
    from cogw.core.cache.gcfile import is_gc_plan

    try:
        return path is not None and is_gc_plan(Path(path).read_bytes())
    except OSError:
        return False


apply_gc_plan = _command(
    "apply",
    apply_gc_file,
    [
        click.option("--plan", "plan_file", required=True),
        click.option("-y", "--yes", is_flag=True),
        JSON_OPTION,
        *CACHE_OPTIONS,
        GC_OPTIONS[0],
    ],
)


def _dispatch(command: click.Command, pick: Callable[[list[str]], click.Command | None]) -> None:
    """Let ``pick`` route ``command``'s arguments to another command before parsing."""
    original = command.make_context

    def make_context(
        info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        other = pick(args)
        if other is None:
            return original(info_name, args, parent, **extra)
        rest = args[1:] if args and args[0] == "gc" else args
        return other.make_context(other.name, rest, parent, **extra)

    setattr(command, "make_context", make_context)  # noqa: B010


def register(cli: click.Group) -> None:
    from cogw.shell.cli_verify import release_stale, verify

    cli.add_command(cache_group)
    cache_group.commands[
        "ls"
    ].short_help = "Blobs or weights, sizes counted once, and who uses them."
    cache_group.commands["projects"].short_help = "List the projects the cache knows."
    cli.add_command(gc)
    cli.add_command(verify)
    _dispatch(cli.commands["plan"], lambda a: plan_gc if a[:1] == ["gc"] else None)
    _dispatch(
        cli.commands["apply"],
        lambda a: (
            apply_gc
            if a[:1] == ["gc"]
            else (apply_gc_plan if _is_gc_file(_plan_file_of(a)) else None)
        ),
    )
    _dispatch(cli.commands["release"], lambda a: release_stale if "--stale" in a else None)
