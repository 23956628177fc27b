"""cog.yaml's ``model:`` / ``image:`` and ``weights:`` section as validated, normalised values.

The shell parses YAML into plain Python data; this module validates that data
with every rule of Cog v0.19.3 (schema and semantic checks, import spec §2) and
reports all problems at once, each naming its file, weight and field; where
the weights are pushed (``model:`` and the ``COG_MODEL*`` environment, or
``image:``) is resolved by :mod:`cogw.core.config.modelref`; the
schema checks live in :mod:`cogw.core.config.configschema`, Cog's source URI
normalisation (import spec §3.1) in :mod:`cogw.core.config.uri` (re-exported here), so
a config that loads carries canonical URIs. It knows nothing about the disk:
whether a ``file://`` source exists is the shell's question.

Deliberate differences from Cog:

* URI problems are reported when the config loads (Cog defers them to the first
  command that builds specs), together with every other problem;
* include/exclude patterns that Cog would silently drop (``model[``) or treat as
  comments (``#x``) are rejected (see ``cogw.core.filters.pattern_error``);
* a relative source named like ``..weights`` is fine; only a ``..`` component
  escapes the project (Cog rejects any path starting with ``..``);
* ``http://`` / ``https://`` single-file sources are accepted, as in later Cog;
* a schema problem that a semantic check also reports (an uppercase name, a
  missing name or target) is reported once, with the clearer semantic message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pyrsistent import PVector, pvector
from returns.pipeline import is_successful
from returns.result import Failure, Result

from cogw.core.config.configschema import (
    Checker,
    RawSource,
    RawWeight,
    read_image,
    read_model,
    read_weights,
)
from cogw.core.config.disjoint import DisjointTargets
from cogw.core.config.filters import pattern_error, patterns_error
from cogw.core.config.modelref import (
    BOTH_SET,
    IMAGE_WITH_ENV,
    NEEDS_MODEL,
    model_field_problem,
    resolve_model,
)
from cogw.core.config.uri import SUPPORTED_SCHEMES, HFRef, normalize_uri, parse_hf_uri, scheme_of
from cogw.core.diagnostics import Diagnostic, Problems, collect
from cogw.core.digest import go_quote
from cogw.core.lock.lockfile import WeightEntry
from cogw.core.paths import go_clean

# The URI names are re-exported: callers know them as part of the config's API.
__all__ = [
    "DEFAULT_CONFIG",
    "SUPPORTED_SCHEMES",
    "HFRef",
    "ProjectConfig",
    "WeightSpec",
    "normalize_uri",
    "parse_config",
    "parse_hf_uri",
    "scheme_of",
    "spec_from_entry",
    "specs_equal",
]

DEFAULT_CONFIG = "cog.yaml"

_NAME_RE = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One source of a weight: a normalised ``uri`` and its trimmed, sorted patterns."""

    uri: str
    include: PVector[str] = field(default_factory=pvector)
    exclude: PVector[str] = field(default_factory=pvector)


@dataclass(frozen=True, slots=True)
class WeightSpec:
    """User intent for one weight. ``uri`` is normalised; include/exclude are
    trimmed and sorted; ``target`` is verbatim (Cog compares it uncleaned).

    ``uri``/``include``/``exclude`` are the first (for Cog v0.19.3 the only)
    source; current Cog's further sources follow in ``more_sources``, so code
    that knows one source keeps working. :attr:`sources` lists them all.
    """

    name: str
    target: str
    uri: str
    include: PVector[str] = field(default_factory=pvector)
    exclude: PVector[str] = field(default_factory=pvector)
    more_sources: PVector[SourceSpec] = field(default_factory=pvector)

    @property
    def sources(self) -> tuple[SourceSpec, ...]:
        """Every source in declared order; for a path two provide, the later one wins."""
        return (SourceSpec(self.uri, self.include, self.exclude), *self.more_sources)


@dataclass(frozen=True, slots=True)
class ProjectConfig:
    """``image`` and ``model`` as written; ``repository`` is where weights are pushed:
    ``image`` itself (v0.19.3) or the fully qualified name ``model`` and the
    environment resolve to (current Cog); empty when there are no weights."""

    image: str = ""
    weights: PVector[WeightSpec] = field(default_factory=pvector)
    model: str = ""
    repository: str = ""

    @property
    def uses_model(self) -> bool:
        """True for a current-Cog project (``model:``), which gets current-Cog files."""
        return bool(self.model)


# ---------------------------------------------------------------- lockfile side


def spec_from_entry(entry: WeightEntry) -> WeightSpec:
    """The intent a lock entry records, verbatim (Cog's WeightSpecFromLock):
    nothing is re-normalised, so a non-canonical lockfile shows up as drift."""
    return WeightSpec(
        name=entry.name,
        target=entry.target,
        uri=entry.source.uri,
        include=entry.source.include,
        exclude=entry.source.exclude,
        more_sources=pvector(SourceSpec(s.uri, s.include, s.exclude) for s in entry.more_sources),
    )


def specs_equal(a: WeightSpec, b: WeightSpec) -> bool:
    """Same target and sources (URI and pattern lists, positionally); the name is ignored."""
    return a.target == b.target and a.sources == b.sources


# ---------------------------------------------------------------- cog.yaml


def parse_config(
    raw: object, filename: str = DEFAULT_CONFIG, env: Mapping[str, str] | None = None
) -> Result[ProjectConfig, Problems]:
    """Validate what ``yaml.safe_load`` returned for cog.yaml; every problem at once.

    ``env`` holds the ``COG_MODEL*`` variables (the shell passes them in).
    Keys other than ``model``, ``image`` and ``weights`` (build, run, ...) are
    Cog's business and are ignored here.
    """
    check = Checker(filename)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        check.schema("(root)", "must be a mapping", f"{filename} must be a YAML mapping of keys")
        return Failure(tuple(check.problems))
    image = read_image(raw, check) or ""
    model = read_model(raw, check) or ""
    items = read_weights(raw.get("weights"), check)
    repository = _check_repository(image, model, bool(items), env or {}, check)
    specs = _check_weights(items, check)
    config = ProjectConfig(image, pvector(specs), model, repository)
    return collect(config, check.problems)


def _repo_problem(check: Checker, message: str, subject: str, hint: str) -> None:
    check.problems.append(Diagnostic(summary=message, subject=subject, hint=hint))


_MODEL_HINT = (
    "set model: to the repository weights are pushed to, e.g. registry.example.com/acme/model "
    "(a Cog v0.19.3 project uses image: instead)"
)
_ENV_HINT = "fix or unset the variable; COG_MODEL is a full reference, COG_MODEL_REPO a path"


def _check_repository(
    image: str, model: str, has_weights: bool, env: Mapping[str, str], check: Checker
) -> str:
    """Cog's model/image rules, in its order; the repository weights are pushed to."""
    where = f"{check.filename}: model"
    if model and image:
        _repo_problem(check, f"invalid model: {BOTH_SET}", where, "keep one of them")
    problem = model_field_problem(model)
    if problem:
        _repo_problem(check, problem, where, _MODEL_HINT)
    if not has_weights or problem or (model and image):
        return ""
    if not model and not image:
        _repo_problem(check, f"invalid model: {NEEDS_MODEL}", where, _MODEL_HINT)
        return ""
    if image:
        if resolve_model("", env).value_or(None) is not None:
            _repo_problem(check, IMAGE_WITH_ENV, f"{check.filename}: image", _ENV_HINT)
        return image
    resolved = resolve_model(model, env)
    if isinstance(resolved, Failure):
        for message in resolved.failure():
            _repo_problem(check, message, "environment", _ENV_HINT)
        return ""
    repository = resolved.unwrap()
    return repository.name if repository is not None else ""


def _check_weights(items: list[RawWeight], check: Checker) -> list[WeightSpec]:
    """Cog's semantic checks, in its order, then URI normalisation; specs of clean items."""
    if not items:
        return []
    names: set[str] = set()
    targets = DisjointTargets()
    specs: list[WeightSpec] = []
    for raw in items:
        if not raw.is_mapping:
            continue  # nothing to check: the schema problem says it all
        before = len(check.problems)
        _check_name(raw, names, check)
        for j, source in enumerate(raw.sources):
            _check_patterns(raw, j, source, check)
        _check_target(raw, targets, check)
        uris = [_check_uri(raw, j, source, check) for j, source in enumerate(raw.sources)]
        clean = len(check.problems) == before and raw.name and raw.target
        if clean and uris and all(uris):
            specs.append(_spec(raw, [u for u in uris if u]))
    return specs


def _source_spec(raw: RawSource, uri: str) -> SourceSpec:
    return SourceSpec(
        uri=uri,
        include=pvector(sorted(p.strip() for p in raw.include or ())),
        exclude=pvector(sorted(p.strip() for p in raw.exclude or ())),
    )


def _spec(raw: RawWeight, uris: list[str]) -> WeightSpec:
    first, *more = (_source_spec(s, u) for s, u in zip(raw.sources, uris, strict=True))
    return WeightSpec(
        name=raw.name or "",
        target=raw.target or "",
        uri=first.uri,
        include=first.include,
        exclude=first.exclude,
        more_sources=pvector(more),
    )


_NAME_HINT = 'use lowercase letters, digits and single ".", "_" or "-" separators, e.g. "my-model"'


def _check_name(raw: RawWeight, names: set[str], check: Checker) -> None:
    fld = f"weights[{raw.index}].name"
    if "name" in raw.mistyped:
        return
    if not raw.name:
        check.invalid(raw, fld, None, "name is required", _NAME_HINT)
    elif not _NAME_RE.fullmatch(raw.name):
        message = (
            "must contain only lowercase alphanumeric characters, hyphens, dots, or "
            'underscores (e.g. "my-model-weights")'
        )
        check.invalid(raw, fld, raw.name, message, _NAME_HINT)
    elif raw.name in names:
        check.invalid(raw, fld, raw.name, "duplicate weight name", "give every weight its own name")
    else:
        names.add(raw.name)


def _check_patterns(raw: RawWeight, j: int, source: RawSource, check: Checker) -> None:
    for key, patterns in (("include", source.include), ("exclude", source.exclude)):
        too_many = patterns_error(patterns or ())
        if too_many is not None:
            fld = f"{raw.source_field(j)}.{key}"
            check.invalid(raw, fld, None, too_many, "merge patterns, e.g. with ** or [...]")
            continue
        for k, pattern in enumerate(patterns or ()):
            message = pattern_error(pattern)
            if message is None:
                continue
            value = pattern.strip() or None
            fld = f"{raw.source_field(j)}.{key}[{k}]"
            check.invalid(raw, fld, value, message, "fix or remove this pattern")


_TARGET_HINT = "set target: to the absolute directory the weight appears at, e.g. /src/weights"
_DISJOINT_HINT = "give every weight its own directory; targets must not nest"


def _check_target(raw: RawWeight, targets: DisjointTargets, check: Checker) -> None:
    fld = f"weights[{raw.index}].target"
    target = raw.target
    if "target" in raw.mistyped:
        return
    if not target:
        check.invalid(raw, fld, None, "target is required", _TARGET_HINT)
        return
    clean = go_clean(target)
    if not target.startswith("/"):
        check.invalid(raw, fld, target, "target must be an absolute path", _TARGET_HINT)
    elif clean == "/":
        check.invalid(raw, fld, target, 'target must not be the container root "/"', _TARGET_HINT)
    elif clean in targets:
        check.invalid(raw, fld, target, "duplicate weight target", _DISJOINT_HINT)
    else:
        overlap = targets.first_overlap(clean)
        if overlap is not None:
            message = f"target overlaps with {go_quote(overlap)}; weight targets must be disjoint"
            check.invalid(raw, fld, target, message, _DISJOINT_HINT)
        targets.add(clean)


def _check_uri(raw: RawWeight, j: int, source: RawSource, check: Checker) -> str | None:
    if source.uri is None:
        return None  # missing or mistyped: already a schema problem
    result = normalize_uri(source.uri)
    if is_successful(result):
        return result.unwrap()
    check.invalid(
        raw,
        f"{raw.source_field(j)}.uri",
        None,
        result.failure(),
        "use a project-relative path, file://, hf://org/repo[@ref] or an https:// file URL",
    )
    return None
