"""`cogw lock fmt`: weights.lock in its canonical form (the bytes Cog writes)."""

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
    """The lockfile's bytes and their canonical form; a missing or invalid file exits 1."""
    from cogw.core.lockfile import parse_lockfile, render_lockfile

    data = unwrap(read_lock_bytes(where))
    if data is None:
        fail(
            (Diagnostic(f"no weights.lock in {where.dir}", hint="run 'cogw import' to create it"),)
        )
    return data, render_lockfile(unwrap(parse_lockfile(data, "weights.lock")))
