"""The registry checked: ``cogw status --remote [-v]`` and ``cogw import --force``.

Options and output only; the gathering is shell/remote_check.py, the decisions
core/plan/remote.py and core/plan/repush.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from cogw.core.plan.remotecheck import RemoteCheck
    from cogw.core.plan.snapshot import Snapshot
    from cogw.core.plan.status import StatusRow
    from cogw.shell.options import Options

F = TypeVar("F", bound=Callable[..., Any])


def remote_checks(
    opts: Options, snapshot: Snapshot, rows: Sequence[StatusRow]
) -> tuple[list[StatusRow], Mapping[str, RemoteCheck]]:
    """Ask the registry about the rows it could serve: the rows with ``incomplete``
    folded in, and each weight's answer."""
    from cogw.core.plan.remote import rows_to_check, with_remote
    from cogw.shell.compose import check_registry

    checks = check_registry(opts, snapshot, rows_to_check(rows)).remote
    return with_remote(rows, checks), checks
