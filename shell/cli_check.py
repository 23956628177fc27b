"""``cogw check``, the CI gate, and what ``cogw status --sources`` adds to the status table.

Both gather here (cog.yaml, weights.lock and, when asked, what each source holds
now) and leave every decision to the core: :mod:`cogw.core.plan.sourcestatus`
folds moved sources into status rows, :mod:`cogw.core.plan.check` decides which
disagreements fail the gate and words them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from cogw.shell.options import options_from, project_options, quiet_option

if TYPE_CHECKING:  # the rest loads when a command runs, so `cogw --help` stays light
    from cogw.core.diagnostics import Problems
    from cogw.core.lock.lockfile import Lockfile, WeightEntry
    from cogw.core.plan.snapshot import Snapshot
    from cogw.core.plan.sourcestatus import SourceFinding
    from cogw.core.plan.status import StatusRow
    from cogw.shell.options import Options

F = TypeVar("F", bound=Callable[..., Any])

# Exit codes of the gate (also in its --help and docs/cli.md).
AGREE, DISAGREE, CANNOT_CHECK = 0, 1, 2

_SOURCES_HELP = (
    "Also compare each weight's source with weights.lock: local files are hashed "
    "(unchanged ones come from the stat cache), remote sources are asked for their version."
)


def status_source_options(fn: F) -> F:
    """``status``'s --sources and -v (every changed file, with --sources)."""
    fn = click.option(
        "-v",
        "--verbose",
        is_flag=True,
        help="With --sources: every changed, added and removed file.",
    )(fn)
    return click.option("--sources", is_flag=True, help=_SOURCES_HELP)(fn)


def _entries(lock: Lockfile | None) -> dict[str, WeightEntry]:
    return {e.name: e for e in (lock.weights if lock else [])}


def _findings(
    opts: Options, snapshot: Snapshot, rows: Sequence[StatusRow], progress: bool
) -> dict[str, SourceFinding]:
    from cogw.core.plan.sourcestatus import CHECKED_STATES, compare_sources
    from cogw.shell.sourcecheck import observe_sources

    checked = {r.name for r in rows if r.status in CHECKED_STATES}
    specs = [s for s in snapshot.config.weights if s.name in checked]
    entries = _entries(snapshot.lock)
    return compare_sources(specs, entries, observe_sources(opts, specs, entries, progress))


def show_status(
    opts: Options, snapshot: Snapshot, as_json: bool, sources: bool = False, verbose: bool = False
) -> NoReturn:
    """The status table or JSON, with moved sources folded in when ``sources``; exit 0
    only when every weight is ready (and every asked source could be read)."""
    from cogw.core.plan.render import status_json, status_lines
    from cogw.core.plan.sourcestatus import (
        fold_sources,
        source_problems,
        verbose_lines,
        with_sources_json,
    )
    from cogw.core.plan.status import all_ready, make_status
    from cogw.shell.output import echo_err, print_json, print_problems

    rows = make_status(snapshot)
    findings: Mapping[str, SourceFinding] = (
        _findings(opts, snapshot, rows, not as_json) if sources else {}
    )
    rows = fold_sources(rows, findings)
    if as_json:
        value = status_json(rows)
        print_json(with_sources_json(value, findings) if sources else value)
    else:
        lines = status_lines(rows) + (verbose_lines(findings) if verbose else [])
        for line in lines:
            click.echo(line)
    problems = source_problems(findings)
    if problems and not as_json:
        print_problems(problems)
    if not all_ready(rows):
        echo_err("not all weights are ready")
    elif problems:
        echo_err("not every source could be read")
    if problems or not all_ready(rows):
        sys.exit(1)
    sys.exit(0)


def _cannot_check(problems: Problems, as_json: bool) -> NoReturn:
    """cog.yaml or weights.lock cannot be read: exit 2, not the 1 of a disagreement."""
    from cogw.shell.output import print_json, print_problems

    if as_json:
        print_json({"ok": False, "problems": [], "errors": [p.to_json() for p in problems]})
    else:
        print_problems(problems)
    sys.exit(CANNOT_CHECK)


def _read_project(opts: Options, as_json: bool) -> tuple[Any, Lockfile | None]:
    from returns.result import Failure

    from cogw.core.diagnostics import Diagnostic
    from cogw.shell.gather import read_config, read_lockfile

    project = opts.project
    if not project.config_path.is_file():
        missing = Diagnostic(
            f"not in a project: no {project.config_name} in {project.dir}",
            hint="run cogw check in the project directory, or pass --project DIR or -f FILE",
        )
        _cannot_check((missing,), as_json)
    config, lock = read_config(project), read_lockfile(project)
    problems = sum((r.failure() for r in (config, lock) if isinstance(r, Failure)), ())
    if problems:
        _cannot_check(problems, as_json)
    return config.unwrap(), lock.unwrap()[0]


@click.command("check")
@click.option("--sources", is_flag=True, help=_SOURCES_HELP)
@click.option(
    "--json", "as_json", is_flag=True, help="Print {ok, compared, problems} as JSON on stdout."
)
@quiet_option
@project_options
def check_command(sources: bool, as_json: bool, quiet: int, **kwargs: Any) -> None:
    """Exit 0 only when cog.yaml, weights.lock and (with --sources) every
    source agree: the CI gate.

    Prints one line per disagreement, with the weight, the reason and the
    command that fixes it, then a verdict (-q: the lines only). The local
    store is not compared.

    \b
    Exit codes: 0 everything agrees; 1 a disagreement;
    2 usage error, or cog.yaml / weights.lock cannot be read.
    """
    from cogw.core.plan.check import check_json, check_lines, check_project, verdict
    from cogw.core.plan.drift import check_drift
    from cogw.core.plan.sourcestatus import compare_sources
    from cogw.shell.output import doing, echo_err, print_json
    from cogw.shell.sourcecheck import observe_sources

    opts = options_from(kwargs)
    doing("read")  # Ctrl-C changes nothing
    config, lock = _read_project(opts, as_json)
    drift = check_drift(lock, config.weights)
    findings = None
    if sources:
        drifted = {r.name for r in drift}
        specs = [s for s in config.weights if s.name not in drifted]
        entries = _entries(lock)
        seen = observe_sources(opts, specs, entries, progress=not (as_json or quiet))
        findings = compare_sources(specs, entries, seen)
    result = check_project(drift, findings)
    if as_json:
        print_json(check_json(result))
    else:
        for line in check_lines(result):
            click.echo(line)
        if not quiet:
            echo_err(verdict(result))
    sys.exit(AGREE if result.ok else DISAGREE)


def register(cli: click.Group) -> None:
    cli.add_command(check_command)
