"""``cogw lock convert``: rewrite weights.lock in the other Cog's shape, as a previewed plan.

Cog has no migration between v0.19.3's ``"source"`` shape and current Cog's
``"sources"`` shape; the conversion is decided by
:func:`cogw.core.lockshape.conversion_plan` and only written here, under the
project lock, after the preview is confirmed. Registered on ``cogw lock`` by
:mod:`cogw.shell.cli_lock`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cogw.core.lock.lockshape import SHAPE_NAMES, Conversion, conversion_plan, shape_label


@click.command("convert")
@click.option(
    "--to",
    "to",
    type=click.Choice(sorted(SHAPE_NAMES)),
    required=True,
    help="current: Cog v0.20+ ('sources' list); v0.19.3: Cog v0.19.3 ('source' object).",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--project", "project", metavar="DIR", help="Project directory.")
@click.option("--config", "config", metavar="FILE", help="Config file (default cog.yaml).")
def lock_convert(
    to: str, dry_run: bool, yes: bool, project: str | None, config: str | None
) -> None:
    """Rewrite weights.lock in the shape another Cog version reads.

    Entries, digests and import times are kept; only the layout changes. The
    registry is not touched: weights are addressed by manifest digest.
    """
    from cogw.shell.fs import atomic_write, project_lock
    from cogw.shell.gather import locate_project, read_config, read_lockfile
    from cogw.shell.output import echo_err, fail, unwrap, user_errors

    where = locate_project(project, config, Path.cwd())
    uses_model = unwrap(read_config(where)).uses_model
    target = SHAPE_NAMES[to]
    with user_errors(), project_lock(where.dir):
        lock, _ = unwrap(read_lockfile(where))
        if lock is None:
            from cogw.core.diagnostics import Diagnostic

            fail((Diagnostic(f"no weights.lock in {where.dir}", hint="run 'cogw import'"),))
        conversion = conversion_plan(lock, target, uses_model).alt(lambda d: fail((d,))).unwrap()
        for line in preview_lines(conversion):
            echo_err(line)
        if conversion.data is None or dry_run:
            return
        _confirm(yes)
        atomic_write(where.lock_path, conversion.data)
        echo_err(f"Rewrote weights.lock for {shape_label(target)}.")


def preview_lines(conversion: Conversion) -> list[str]:
    """The plan as shown: the move, each entry's change, then notes."""
    if conversion.data is None:
        head = [f"weights.lock is already in the {shape_label(conversion.target)} shape."]
    else:
        head = [
            f"weights.lock: {shape_label(conversion.source)} → {shape_label(conversion.target)}"
        ]
    return [
        *head,
        *(f"  ~ {change}" for change in conversion.changes),
        *(f"  · {note}" for note in conversion.notes),
    ]


def _confirm(yes: bool) -> None:
    from cogw.core.diagnostics import Diagnostic
    from cogw.shell.output import echo_err, fail

    if yes:
        return
    if not sys.stdin.isatty():
        fail(
            (
                Diagnostic(
                    "refusing to convert without confirmation",
                    hint="review 'cogw lock convert --dry-run', then add --yes",
                ),
            )
        )
    if not click.confirm("Convert weights.lock?", default=False, err=True):
        echo_err("Conversion cancelled.")
        sys.exit(1)
