"""Registry mirrors as the container ecosystem configures them (containers-registries.conf(5)).

``parse_registries_conf`` reads the v2 TOML format — ``[[registry]]`` tables with ``prefix``,
``location``, ``insecure``, ``blocked``, ``mirror-by-digest-only`` and ``[[registry.mirror]]``
entries with ``location``, ``insecure`` and ``pull-from-mirror`` — into immutable records;
``parse_mirror_overrides`` reads ``--mirror HOST[/PATH]`` values (and the comma-separated
``COGW_REGISTRY_MIRRORS``). ``pull_endpoints`` decides, for one repository and one reference,
the ordered places to try: the mirrors that apply, then the origin, always last.

Rules kept from containers-registries.conf(5): the longest matching prefix wins; a prefix
matches a whole path component (``example.com/foo`` matches ``example.com/foo/bar`` but not
``example.com/foobar``); ``*.example.com`` matches any subdomain; a mirror location replaces
the matched prefix; ``pull-from-mirror`` is ``all`` (default), ``digest-only`` or
``tag-only``; ``mirror-by-digest-only = true`` on the registry makes every mirror digest-only.
Overrides replace the configured mirrors (they are for a quick test, not a second config).

Pushes never consult this module: they always go to the origin.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from returns.result import Failure, Result, Success

from cogw.core.diagnostics import Diagnostic, Problems, collect
from cogw.core.reference import Repository

PULL_FROM = ("all", "digest-only", "tag-only")
ENV_MIRRORS = "COGW_REGISTRY_MIRRORS"
ENV_CONF = "CONTAINERS_REGISTRIES_CONF"
_REGISTRY_KEYS = frozenset(
    {"prefix", "location", "insecure", "blocked", "mirror-by-digest-only", "mirror"}
)
_MIRROR_KEYS = frozenset({"location", "insecure", "pull-from-mirror"})


@dataclass(frozen=True, slots=True)
class Mirror:
    location: str  # host[:port][/path]
    insecure: bool = False
    pull_from_mirror: str = "all"


@dataclass(frozen=True, slots=True)
class RegistryRule:
    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirror_by_digest_only: bool = False
    mirrors: tuple[Mirror, ...] = ()


@dataclass(frozen=True, slots=True)
class MirrorConfig:
    rules: tuple[RegistryRule, ...] = ()
    source: str = ""  # the file it came from, for messages


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One place to pull a repository from: a registry host and the repository path there."""

    registry: str
    path: str
    insecure: bool = False
    mirror: bool = False

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.path}"


def config_candidates(env: Mapping[str, str], home: str) -> tuple[str, ...]:
    """Where registries.conf is looked up, in order; the first that exists is used."""
    first = (env[ENV_CONF],) if env.get(ENV_CONF) else ()
    return (*first, f"{home}/.config/containers/registries.conf", "/etc/containers/registries.conf")


def parse_registries_conf(text: str, source: str) -> Result[MirrorConfig, Problems]:
    """The ``[[registry]]`` tables of a registries.conf v2 file; every problem at once."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Failure((Diagnostic(f"not valid TOML: {exc}", subject=source),))
    tables = data.get("registry", [])
    if not isinstance(tables, list):
        return Failure((Diagnostic('"registry" must be an array of tables', subject=source),))
    problems: list[Diagnostic] = []
    rules = [
        rule
        for i, table in enumerate(tables)
        if (rule := _rule(table, f"{source}: registry[{i}]", problems)) is not None
    ]
    return collect(MirrorConfig(tuple(rules), source), problems)


def _rule(table: Any, where: str, problems: list[Diagnostic]) -> RegistryRule | None:
    if not isinstance(table, dict):
        problems.append(Diagnostic("must be a table", subject=where))
        return None
    before = len(problems)
    _unknown_keys(table, _REGISTRY_KEYS, where, problems)
    prefix = _string(table, "prefix", where, problems)
    location = _string(table, "location", where, problems)
    if not prefix and not location:
        problems.append(Diagnostic('needs a "prefix" or a "location"', subject=where))
    mirrors_raw = table.get("mirror", [])
    if not isinstance(mirrors_raw, list):
        problems.append(Diagnostic('"mirror" must be an array of tables', subject=where))
        mirrors_raw = []
    mirrors = [
        m
        for j, m_table in enumerate(mirrors_raw)
        if (m := _mirror(m_table, f"{where}.mirror[{j}]", problems)) is not None
    ]
    flags = {
        key: _bool(table, key, where, problems)
        for key in ("insecure", "blocked", "mirror-by-digest-only")
    }
    if len(problems) > before:
        return None
    return RegistryRule(
        prefix=prefix or location,
        location=location or prefix,
        insecure=flags["insecure"],
        blocked=flags["blocked"],
        mirror_by_digest_only=flags["mirror-by-digest-only"],
        mirrors=tuple(mirrors),
    )


def _mirror(table: Any, where: str, problems: list[Diagnostic]) -> Mirror | None:
    if not isinstance(table, dict):
        problems.append(Diagnostic("must be a table", subject=where))
        return None
    before = len(problems)
    _unknown_keys(table, _MIRROR_KEYS, where, problems)
    location = _string(table, "location", where, problems)
    if not location:
        problems.append(Diagnostic('needs a "location"', subject=where))
    pull_from = _string(table, "pull-from-mirror", where, problems) or "all"
    if pull_from not in PULL_FROM:
        problems.append(
            Diagnostic(
                f'"pull-from-mirror" is "{pull_from}"; use one of ' + ", ".join(PULL_FROM),
                subject=where,
            )
        )
    insecure = _bool(table, "insecure", where, problems)
    if len(problems) > before:
        return None
    return Mirror(location.rstrip("/"), insecure, pull_from)


def _unknown_keys(
    table: dict[str, Any], known: frozenset[str], where: str, problems: list[Diagnostic]
) -> None:
    problems.extend(
        Diagnostic(f'unknown key "{key}"', subject=where) for key in sorted(set(table) - known)
    )


def _string(table: dict[str, Any], key: str, where: str, problems: list[Diagnostic]) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        problems.append(Diagnostic(f'"{key}" must be a string', subject=where))
        return ""
    return value.rstrip("/")


def _bool(table: dict[str, Any], key: str, where: str, problems: list[Diagnostic]) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        problems.append(Diagnostic(f'"{key}" must be true or false', subject=where))
        return False
    return value


def parse_mirror_overrides(
    values: Sequence[str], subject: str
) -> Result[tuple[Mirror, ...], Problems]:
    """``HOST[:PORT][/PATH]`` values (empty items ignored, so ``a,,b`` is fine)."""
    mirrors: list[Mirror] = []
    problems: list[Diagnostic] = []
    for raw in values:
        value = raw.strip().rstrip("/")
        if not value:
            continue
        if "://" in value or " " in value or value.startswith("/"):
            problems.append(
                Diagnostic(
                    f'mirror "{raw}" is not HOST[:PORT][/PATH]',
                    subject=subject,
                    hint="give the registry host without a scheme, e.g. mirror.local:5000",
                )
            )
            continue
        mirrors.append(Mirror(value))
    return collect(tuple(mirrors), problems)


def prefix_matches(prefix: str, name: str) -> bool:
    """Whether ``prefix`` names ``name`` or one of its parents (whole components);
    ``*.example.com`` matches any subdomain of example.com."""
    if prefix.startswith("*."):
        host = name.partition("/")[0]
        return host.endswith(prefix[1:])
    return name == prefix or name.startswith(prefix + "/")


def matching_rule(config: MirrorConfig, repo: Repository) -> RegistryRule | None:
    """The rule with the longest matching prefix, as containers/image chooses."""
    found = [r for r in config.rules if prefix_matches(r.prefix, repo.name)]
    return max(found, key=lambda r: len(r.prefix), default=None)


def _matched(prefix: str, repo: Repository) -> str:
    """The part of the name a rule's prefix matched: a wildcard matches the whole host."""
    return repo.registry if prefix.startswith("*.") else prefix


def _rewrite(matched: str, location: str, repo: Repository, **kind: bool) -> Endpoint:
    registry, _, path = (location + repo.name[len(matched) :]).partition("/")
    return Endpoint(registry, path, **kind)


def pull_endpoints(
    repo: Repository,
    config: MirrorConfig,
    overrides: Sequence[Mirror] = (),
    by_digest: bool = True,
) -> Result[tuple[Endpoint, ...], Diagnostic]:
    """Mirrors to try for ``repo``, in order, then the origin (always last).

    With ``overrides`` they are the mirrors, in the given order, for every registry (each
    serves the repository under its own host: ``--mirror m:5000/cache`` pulls
    ``origin/a/b`` as ``m:5000/cache/a/b``); the config still decides the origin's
    location, ``insecure`` and ``blocked``."""
    rule = matching_rule(config, repo)
    if rule is not None and rule.blocked:
        return Failure(
            Diagnostic(
                f"registry {repo.name} is blocked",
                subject=config.source,
                hint="remove 'blocked = true' from its [[registry]] entry",
            )
        )
    origin = Endpoint(repo.registry, repo.path)
    pairs: list[tuple[str, Mirror]] = [(repo.registry, m) for m in overrides]
    if rule is not None:
        matched = _matched(rule.prefix, repo)
        location = repo.registry if rule.prefix.startswith("*.") else rule.location
        origin = _rewrite(matched, location, repo, insecure=rule.insecure)
        if not overrides:
            pairs = [(matched, m) for m in rule.mirrors if _applies(m, rule, by_digest)]
    mirrors = [
        _rewrite(matched, m.location, repo, insecure=m.insecure, mirror=True)
        for matched, m in pairs
    ]
    return Success((*(m for m in mirrors if m.name != origin.name), origin))


def _applies(mirror: Mirror, rule: RegistryRule | None, by_digest: bool) -> bool:
    if by_digest:
        return mirror.pull_from_mirror in ("all", "digest-only")
    if rule is not None and rule.mirror_by_digest_only:
        return False
    return mirror.pull_from_mirror in ("all", "tag-only")


def mirror_note(endpoints: Sequence[Endpoint]) -> str:
    """What `cogw plan` says about where layers will come from."""
    origin = endpoints[-1].registry
    mirrors = [e.registry for e in endpoints[:-1]]
    if not mirrors:
        return f"layers come from {origin} (no mirror configured)"
    return f"layers will be tried from mirror {', then '.join(mirrors)}, then origin {origin}"
