"""Command-line pieces for pulling beyond one registry: mirrors and pulls by reference.

The ``--mirror`` option, reading registries.conf, the client a pull uses (a
MirroredRegistry when any mirror applies, else the plain client) and the plan note saying
which mirror a pull will try. Kept apart from shell/cli.py, which calls in here at three
points: the shared options, the registry factory and `cogw plan`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from returns.result import Failure, Result, Success

from cogw.core.diagnostics import Diagnostic, Problems
from cogw.core.mirrors import (
    ENV_MIRRORS,
    Mirror,
    MirrorConfig,
    config_candidates,
    mirror_note,
    parse_mirror_overrides,
    parse_registries_conf,
    pull_endpoints,
)
from cogw.core.plan import FetchLayer, Plan
from cogw.core.reference import Repository

F = TypeVar("F", bound=Callable[..., Any])

mirror_option = click.option(
    "--mirror",
    "mirrors",
    multiple=True,
    metavar="HOST[/PATH]",
    help="Pull by digest from this registry mirror first, falling back to the origin "
    "(repeatable; replaces registries.conf mirrors). Also COGW_REGISTRY_MIRRORS.",
)


def load_mirror_config(env: Mapping[str, str], home: Path) -> Result[MirrorConfig, Problems]:
    """The first registries.conf found ($CONTAINERS_REGISTRIES_CONF, ~/.config, /etc)."""
    for candidate in config_candidates(env, str(home)):
        path = Path(candidate)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except OSError as exc:
            return Failure((Diagnostic(f"cannot read: {exc.strerror}", subject=candidate),))
        return parse_registries_conf(text, candidate)
    return Success(MirrorConfig())


def mirror_overrides(
    cli_values: Sequence[str], env: Mapping[str, str]
) -> Result[tuple[Mirror, ...], Problems]:
    if cli_values:
        return parse_mirror_overrides(cli_values, "--mirror")
    return parse_mirror_overrides(env.get(ENV_MIRRORS, "").split(","), ENV_MIRRORS)


@dataclasses.dataclass(frozen=True)
class MirrorSetup:
    config: MirrorConfig
    overrides: tuple[Mirror, ...]

    def applies(self) -> bool:
        return bool(self.overrides) or bool(self.config.rules)


def mirror_setup(cli_values: Sequence[str]) -> Result[MirrorSetup, Problems]:
    env = os.environ
    config = load_mirror_config(env, Path.home())
    overrides = mirror_overrides(cli_values, env)
    problems = [p for r in (config, overrides) if isinstance(r, Failure) for p in r.failure()]
    if problems:
        return Failure(tuple(problems))
    return Success(MirrorSetup(config.unwrap(), overrides.unwrap()))


def pull_client(repo: Repository, options: Any, credentials: Any, setup: MirrorSetup) -> Any:
    """The client for ``repo``: plain when nothing applies, else one through its mirrors."""
    from cogw.shell.registry import RegistryClient

    if not setup.applies():
        return RegistryClient(repo.registry, options, credentials)
    from cogw.shell.mirrored import MirroredRegistry

    return MirroredRegistry(repo.registry, setup.config, setup.overrides, options, credentials)


def with_mirror_note(plan: Plan, setup: MirrorSetup) -> Plan:
    """The plan with a note saying where its layers will be fetched from."""
    from cogw.core.reference import parse_repository

    fetches = any(isinstance(s, FetchLayer) for s in plan.steps)
    if not fetches or not plan.repository or not setup.applies():
        return plan
    repo = parse_repository(plan.repository)
    if not isinstance(repo, Success):
        return plan  # the pull itself reports a bad image name
    endpoints = pull_endpoints(repo.unwrap(), setup.config, setup.overrides)
    if isinstance(endpoints, Failure):
        return dataclasses.replace(plan, problems=(*plan.problems, endpoints.failure()))
    return dataclasses.replace(plan, notes=plan.notes.append(mirror_note(endpoints.unwrap())))


to_option = click.option(
    "--to",
    "to",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="With a REGISTRY/REPO@DIGEST reference: link the weight's files into DIR "
    "(a bundle's weights into DIR/<name>).",
)
pull_link_option = click.option(
    "--link-mode",
    type=click.Choice(["hardlink", "reflink", "copy"]),
    default="hardlink",
    show_default=True,
    help="With --to: how files enter DIR, as for prepare.",
)


def pull_reference_command(
    opts: Any, refs: Sequence[str], to: str | None, link_mode: str, output: tuple[bool, bool, bool]
) -> None:
    """`cogw pull REF... [--to DIR]`: no project needed; exits like `cogw pull`."""
    import sys

    from cogw.core.refpull import parse_pull_reference
    from cogw.shell.cli import fail, report, user_errors

    as_json, quiet, _verbose = output
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
            if not quiet:
                click.echo(root)
    sys.exit(0)


def _pull_one(
    opts: Any, ref: Any, to: str | None, link_mode: str, output: tuple[bool, bool, bool]
) -> tuple[Any, list[tuple[str, str]]]:
    from cogw.shell.auth import default_credentials
    from cogw.shell.cli import fail
    from cogw.shell.execute import Runtime
    from cogw.shell.progress import make_progress
    from cogw.shell.pull_ref import ReferenceError_, fetch_plan, link_into, read_entries
    from cogw.shell.registry import RegistryError, RegistryOptions

    options = RegistryOptions(insecure_hosts=opts.insecure, ca_bundle=opts.ca_bundle)
    credentials = default_credentials(os.environ, Path.home())
    client = pull_client(ref.repository, options, credentials, opts.mirror_setup)
    try:
        entries, bundle = read_entries(client, ref)
    except ReferenceError_ as exc:
        fail(exc.problems)
    except RegistryError as exc:
        fail((Diagnostic(str(exc), subject=ref.name),))
    plan = fetch_plan(ref, entries, opts.store)
    sink, finish = make_progress(*output)
    rt = Runtime(opts.project, opts.store, lambda: (client, ref.repository.path), sink, opts.jobs)
    try:
        from cogw.shell.pull_ref import run_fetch

        outcome = run_fetch(plan, rt)
    finally:
        finish()
    placed: list[tuple[str, str]] = []
    if to and outcome.exit_code == 0:
        placed = link_into(entries, bundle, Path(to), opts.store, link_mode)
    return outcome, placed
