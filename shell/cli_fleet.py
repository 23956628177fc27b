"""`cogw pull REGISTRY/REPO@DIGEST [--to DIR]`: pulling a published weight without a project.

Its options and its command body; shell/cli.py calls in here when a pull names a reference.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from returns.result import Failure

from cogw.core.diagnostics import Diagnostic
from cogw.shell.mirrorsetup import pull_client
from cogw.shell.options import Output


def pull_reference_command(
    opts: Any, refs: Sequence[str], to: str | None, link_mode: str, output: Output
) -> None:
    """`cogw pull REF... [--to DIR]`: no project needed; exits like `cogw pull`."""
    import sys

    from cogw.core.registry.refpull import parse_pull_reference
    from cogw.shell.output import fail, report, user_errors

    as_json = output.as_json
    parsed = [parse_pull_reference(r) for r in refs]
    problems = tuple(p.failure() for p in parsed if isinstance(p, Failure))
    if problems:
        fail(problems)
    if to and len(refs) > 1:
        fail((Diagnostic("--to takes one reference", hint="run one 'cogw pull' per DIR"),))
    for ref in (p.unwrap() for p in parsed):
        with user_errors():
            outcome, placed = _pull_one(opts, ref, to, link_mode, output)
        if outcome.exit_code != 0 or as_json:
            report(outcome, as_json)
        for root, _target in placed:
            if not output.silent:
                click.echo(root)
    sys.exit(0)


def _pull_one(
    opts: Any, ref: Any, to: str | None, link_mode: str, output: Output
) -> tuple[Any, list[tuple[str, str]]]:
    from cogw.shell.output import fail, unwrap
    from cogw.shell.progress import make_progress
    from cogw.shell.pull_ref import ReferenceError_, fetch_plan, link_into, read_entries
    from cogw.shell.registry import RegistryError, RegistryOptions
    from cogw.shell.registry.credentials import credentials_from_environment
    from cogw.shell.runtime import Runtime

    options = RegistryOptions(insecure_hosts=opts.insecure, ca_bundle=opts.ca_bundle)
    credentials = unwrap(credentials_from_environment(os.environ, Path.home()))
    client = pull_client(ref.repository, options, credentials, opts.mirror_setup)
    try:
        entries, bundle = read_entries(client, ref)
    except ReferenceError_ as exc:
        fail(exc.problems)
    except RegistryError as exc:
        fail((Diagnostic(str(exc), subject=ref.name),))
    plan = fetch_plan(ref, entries, opts.store)
    sink, finish = make_progress(output.as_json, output.quiet, output.verbose)
    rt = Runtime(
        opts.project,
        opts.store,
        lambda: (client, ref.repository.path),
        sink,
        opts.jobs,
        streams=opts.streams,
        streams_probe=opts.streams_probe,
    )
    try:
        from cogw.shell.pull_ref import run_fetch

        outcome = run_fetch(plan, rt)
    finally:
        finish()
    placed: list[tuple[str, str]] = []
    if to and outcome.exit_code == 0:
        placed = link_into(entries, bundle, Path(to), opts.store, link_mode)
    return outcome, placed
