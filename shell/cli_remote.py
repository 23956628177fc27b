"""The registry checked: ``cogw status --remote [-v]`` and ``cogw import --force``.

Options and output only; the gathering is shell/remote_check.py, the decisions
core/plan/remote.py and core/plan/repush.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from cogw.core.plan.remotecheck import RemoteCheck
    from cogw.core.plan.snapshot import Snapshot
    from cogw.core.plan.status import StatusRow
    from cogw.shell.options import Options

F = TypeVar("F", bound=Callable[..., Any])


def status_remote_options(f: F) -> F:
    """``--remote`` for ``cogw status`` (its ``-v`` is shared with ``--sources``)."""
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


def remote_checks(
    opts: Options, snapshot: Snapshot, rows: Sequence[StatusRow]
) -> tuple[list[StatusRow], Mapping[str, RemoteCheck]]:
    """Ask the registry about the rows it could serve: the rows with ``incomplete``
    folded in, and each weight's answer."""
    from cogw.core.plan.remote import rows_to_check, with_remote
    from cogw.shell.compose import check_registry

    checks = check_registry(opts, snapshot, rows_to_check(rows)).remote
    return with_remote(rows, checks), checks
