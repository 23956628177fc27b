"""`cogw lock fmt` (weights.lock in its canonical form, the bytes Cog writes) and the
`cogw lock` group, which also holds `lock convert` (shell/cli_lockconvert.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cogw.core.diagnostics import Diagnostic
from cogw.shell.gather import Project, locate_project, read_lock_bytes
from cogw.shell.options import require_project
from cogw.shell.output import echo_err, fail, unwrap, user_errors


@click.group("lock")
def lock_group() -> None:
    """Work with weights.lock."""


@lock_group.command("fmt")
@click.option(
    "--check", is_flag=True, help="Exit 1 if weights.lock is not canonical; change nothing."
)
@click.option("--project", "project", metavar="DIR", help="Project directory.")
@click.option(
    "-f", "--file", "--config", "config", metavar="FILE", help="Config file (default cog.yaml)."
)
def lock_fmt(check: bool, project: str | None, config: str | None) -> None:
    """Rewrite weights.lock in its canonical form (the bytes Cog writes)."""
    where = require_project(locate_project(project, config, Path.cwd()), project is not None)
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
    """The lockfile's bytes and their canonical form; a missing or broken file exits 1.
    A repairable problem is shown as a warning: formatting must not be blocked by it."""
    from cogw.core.lock.lockfile import parse_lockfile_repairable, render_lockfile

    data = unwrap(read_lock_bytes(where))
    if data is None:
        fail(
            (Diagnostic(f"no weights.lock in {where.dir}", hint="run 'cogw import' to create it"),)
        )
    lock, repairable = unwrap(parse_lockfile_repairable(data, "weights.lock"))
    for problem in repairable:
        for line in problem.lines():
            echo_err(line.replace("error:", "warning:", 1))
    return data, render_lockfile(lock)


def _add_convert() -> None:
    from cogw.shell.cli_lockconvert import lock_convert

    lock_group.add_command(lock_convert)


_add_convert()
