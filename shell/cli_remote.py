"""The registry checked: ``cogw status --remote [-v]`` and ``cogw import --force``.

Options and output only; the gathering is shell/remote_check.py, the decisions
core/plan/remote.py and core/plan/repush.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from pyrsistent import PVector

    from cogw.core.plan.snapshot import Snapshot
    from cogw.core.plan.status import StatusRow
    from cogw.shell.options import Options

F = TypeVar("F", bound=Callable[..., Any])


def status_remote_options(f: F) -> F:
    """``--remote`` and ``-v`` for ``cogw status``."""
    f = click.option(
        "-v",
        "--verbose",
        is_flag=True,
        help="With --remote: the manifest, config blob and each layer, present or missing.",
    )(f)
    return click.option(
        "--remote",
        is_flag=True,
        help="Also ask the registry for each weight's manifest and layers (HEAD only): "
        "incomplete when it lost any (run 'cogw import').",
    )(f)


def force_option(f: F) -> F:
    """``--force`` for ``cogw import`` and ``cogw plan import``."""
    return click.option(
        "--force",
        is_flag=True,
        help="Push every recorded weight again, manifest and all layers, even what the "
        "registry has (weights.lock unchanged).",
    )(f)


def show_status(
    opts: Options,
    snapshot: Snapshot,
    rows: PVector[StatusRow],
    as_json: bool,
    remote: bool,
    verbose: bool,
) -> PVector[StatusRow]:
    """Print the status (with the registry's answers when ``remote``); the rows shown."""
    from cogw.core.plan.statusview import status_json, status_lines
    from cogw.shell.output import print_json

    if remote:  # the registry's modules load only when it is asked
        return _show_remote(opts, snapshot, rows, as_json, verbose)
    if as_json:
        print_json(status_json(rows))
    else:
        for line in status_lines(rows):
            click.echo(line)
    return rows


def _show_remote(
    opts: Options, snapshot: Snapshot, rows: PVector[StatusRow], as_json: bool, verbose: bool
) -> PVector[StatusRow]:
    from pyrsistent import pvector

    from cogw.core.plan.remote import rows_to_check, with_remote
    from cogw.core.plan.remoteview import remote_status_json, remote_status_lines
    from cogw.shell.compose import check_registry
    from cogw.shell.output import print_json

    checks = check_registry(opts, snapshot, rows_to_check(rows)).remote
    shown = pvector(with_remote(rows, checks))
    if as_json:
        print_json(remote_status_json(shown, checks))
    else:
        for line in remote_status_lines(shown, checks, snapshot.config.repository, verbose):
            click.echo(line)
    return shown
