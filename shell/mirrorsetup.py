"""Mirror setup for pulls: the ``--mirror`` option, registries.conf, the client a pull
uses (a MirroredRegistry when any mirror applies, else the plain client) and the plan note
saying which mirror a pull will try."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from returns.result import Failure, Result, Success

from cogw.core.diagnostics import Diagnostic, Problems
from cogw.core.plan.planner import FetchLayer, Plan
from cogw.core.registry.mirrors import (
    ENV_MIRRORS,
    Mirror,
    MirrorConfig,
    config_candidates,
    mirror_note,
    parse_mirror_overrides,
    parse_registries_conf,
    pull_endpoints,
)
from cogw.core.registry.reference import Repository


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
    from cogw.core.registry.reference import parse_repository

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
