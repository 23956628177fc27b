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

from cogw.shell.options import SOURCES_HELP, options_from, project_options, quiet_option

if TYPE_CHECKING:  # the rest loads when a command runs, so `cogw --help` stays light
    from cogw.core.diagnostics import Problems
    from cogw.core.lock.lockfile import Lockfile, WeightEntry
    from cogw.core.plan.check import RemoteFinding
    from cogw.core.plan.remotecheck import RemoteCheck
    from cogw.core.plan.snapshot import Snapshot
    from cogw.core.plan.sourcestatus import SourceFinding
    from cogw.core.plan.status import StatusRow
    from cogw.shell.options import Options

F = TypeVar("F", bound=Callable[..., Any])

# Exit codes of the gate (also in its --help and docs/cli.md).
AGREE, DISAGREE, CANNOT_CHECK = 0, 1, 2


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


def run_status(
    kwargs: dict[str, Any], as_json: bool, asked: tuple[bool, bool], verbose: bool
) -> NoReturn:
    """``cogw status``: gather the local snapshot, then show it (see show_status)."""
    from cogw.core.plan.operation import Operation
    from cogw.shell.compose import snapshot_for
    from cogw.shell.output import doing

    opts = options_from(kwargs)
    doing("read")  # until something executes, Ctrl-C changes nothing
    show_status(opts, snapshot_for(opts, Operation.PULL, []), as_json, asked, verbose)


def show_status(
    opts: Options,
    snapshot: Snapshot,
    as_json: bool,
    asked: tuple[bool, bool] = (False, False),
    verbose: bool = False,
) -> NoReturn:
    """The status table or JSON; ``asked`` is (sources, remote): moved sources and what
    the registry lost are folded in. Exit 0 only when every weight is ready (and every
    asked source could be read)."""
    from cogw.core.plan.sourcestatus import (
        fold_sources,
        source_problems,
        verbose_lines,
        with_sources_json,
    )
    from cogw.core.plan.status import all_ready, make_status
    from cogw.shell.output import echo_err, print_problems

    sources, remote = asked
    rows: Sequence[StatusRow] = make_status(snapshot)
    findings: Mapping[str, SourceFinding] = (
        _findings(opts, snapshot, rows, not as_json) if sources else {}
    )
    checks: Mapping[str, RemoteCheck] = {}
    if remote:  # the registry's modules load only when it is asked
        from cogw.shell.cli_remote import remote_checks

        rows, checks = remote_checks(opts, snapshot, rows)
    rows = fold_sources(rows, findings)  # an incomplete weight stays incomplete
    value, lines = _views(rows, checks, snapshot, verbose if remote else False)
    if sources:
        value = with_sources_json(value, findings)
        lines += verbose_lines(findings) if verbose else []
    _print(as_json, value, lines)
    problems = source_problems(findings)
    if problems and not as_json:
        print_problems(problems)
    if not all_ready(rows):
        echo_err("not all weights are ready")
    elif problems:
        echo_err("not every source could be read")
    sys.exit(1 if problems or not all_ready(rows) else 0)


def _views(
    rows: Sequence[StatusRow], checks: Mapping[str, RemoteCheck], snapshot: Snapshot, verbose: bool
) -> tuple[dict[str, Any], list[str]]:
    from cogw.core.plan.statusview import status_json, status_lines

    if not checks:
        return status_json(rows), list(status_lines(rows))
    from cogw.core.plan.remoteview import remote_status_json, remote_status_lines

    lines = remote_status_lines(rows, checks, snapshot.config.repository, verbose)
    return remote_status_json(rows, checks), list(lines)


def _print(as_json: bool, value: dict[str, Any], lines: Sequence[str]) -> None:
    from cogw.shell.output import print_json

    if as_json:
        print_json(value)
    else:
        for line in lines:
            click.echo(line)


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
@click.option("--sources", is_flag=True, help=SOURCES_HELP)
@click.option(
    "--remote",
    is_flag=True,
    help="Also ask the registry for each agreeing weight's manifest and layers (HEAD only).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print {ok, compared, problems} as JSON on stdout."
)
@quiet_option
@project_options
def check_command(sources: bool, remote: bool, as_json: bool, quiet: int, **kwargs: Any) -> None:
    """Exit 0 only when cog.yaml, weights.lock, (with --sources) every source
    and (with --remote) the registry agree: the CI gate.

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
    lost = _registry_findings(opts, config, lock, drift) if remote else None
    result = check_project(drift, findings, lost)
    if as_json:
        print_json(check_json(result))
    else:
        for line in check_lines(result):
            click.echo(line)
        if not quiet:
            echo_err(verdict(result))
    sys.exit(AGREE if result.ok else DISAGREE)


def _registry_findings(
    opts: Options, config: Any, lock: Lockfile | None, drift: Sequence[Any]
) -> list[RemoteFinding]:
    """Ask the registry about every locked weight cog.yaml agrees with (the others fail
    the gate already and need an import either way)."""
    from cogw.core.plan.check import remote_finding
    from cogw.shell.compose import registry_factory
    from cogw.shell.remote_check import CHECK_RETRIES, remote_checks

    drifted = {r.name for r in drift}
    entries = [e for e in (lock.weights if lock else []) if e.name not in drifted]
    if not entries or not config.repository:
        return []
    make = registry_factory(opts, config.repository, max_retries=CHECK_RETRIES)
    checks = remote_checks(make, config.repository, entries)
    return [f for e in entries if (f := remote_finding(checks[e.name])) is not None]


def register(cli: click.Group) -> None:
    cli.add_command(check_command)
