"""cog.yaml's ``image:`` and ``weights:`` section as validated, normalised values.

The shell parses YAML into plain Python data; this module validates that data
with every rule of Cog v0.19.3 (schema and semantic checks, import spec §2) and
reports all problems at once, each naming its file, weight and field: the
schema checks live in :mod:`cogw.core.configschema`, Cog's source URI
normalisation (import spec §3.1) in :mod:`cogw.core.uri` (re-exported here), so
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
from dataclasses import dataclass, field

from pyrsistent import PVector, pvector
from returns.pipeline import is_successful
from returns.result import Failure, Result

from cogw.core.configschema import Checker, RawWeight, read_image, read_weights
from cogw.core.diagnostics import Diagnostic, Problems, collect
from cogw.core.digest import go_quote
from cogw.core.disjoint import DisjointTargets
from cogw.core.filters import pattern_error
from cogw.core.lockfile import WeightEntry
from cogw.core.paths import go_clean
from cogw.core.uri import SUPPORTED_SCHEMES, HFRef, normalize_uri, parse_hf_uri, scheme_of

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
class WeightSpec:
    """User intent for one weight. ``uri`` is normalised; include/exclude are
    trimmed and sorted; ``target`` is verbatim (Cog compares it uncleaned)."""

    name: str
    target: str
    uri: str
    include: PVector[str] = field(default_factory=pvector)
    exclude: PVector[str] = field(default_factory=pvector)


@dataclass(frozen=True, slots=True)
class ProjectConfig:
    image: str = ""
    weights: PVector[WeightSpec] = field(default_factory=pvector)


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
    )


def specs_equal(a: WeightSpec, b: WeightSpec) -> bool:
    """Same target, URI and pattern lists (positionally); the name is ignored."""
    return (
        a.target == b.target
        and a.uri == b.uri
        and list(a.include) == list(b.include)
        and list(a.exclude) == list(b.exclude)
    )


# ---------------------------------------------------------------- cog.yaml


def parse_config(raw: object, filename: str = DEFAULT_CONFIG) -> Result[ProjectConfig, Problems]:
    """Validate what ``yaml.safe_load`` returned for cog.yaml; every problem at once.

    Keys other than ``image`` and ``weights`` (build, predict, ...) are Cog's
    business and are ignored here.
    """
    check = Checker(filename)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        check.schema("(root)", "must be a mapping", f"{filename} must be a YAML mapping of keys")
        return Failure(tuple(check.problems))
    image = read_image(raw, check)
    items = read_weights(raw.get("weights"), check)
    specs = _check_weights(items, image, check)
    return collect(ProjectConfig(image=image or "", weights=pvector(specs)), check.problems)


def _check_weights(items: list[RawWeight], image: str | None, check: Checker) -> list[WeightSpec]:
    """Cog's semantic checks, in its order, then URI normalisation; specs of clean items."""
    if not items:
        return []
    if not image:
        check.problems.append(
            Diagnostic(
                summary="invalid image: image is required when weights are configured",
                subject=f"{check.filename}: image",
                hint="set image: to the repository weights are pushed to, "
                "e.g. registry.example.com/acme/model",
            )
        )
    names: set[str] = set()
    targets = DisjointTargets()
    specs: list[WeightSpec] = []
    for raw in items:
        if not raw.is_mapping:
            continue  # nothing to check: the schema problem says it all
        before = len(check.problems)
        _check_name(raw, names, check)
        _check_patterns(raw, check)
        _check_target(raw, targets, check)
        uri = _check_uri(raw, check)
        if len(check.problems) == before and raw.name and raw.target and uri:
            specs.append(_spec(raw, uri))
    return specs


def _spec(raw: RawWeight, uri: str) -> WeightSpec:
    return WeightSpec(
        name=raw.name or "",
        target=raw.target or "",
        uri=uri,
        include=pvector(sorted(p.strip() for p in raw.include or ())),
        exclude=pvector(sorted(p.strip() for p in raw.exclude or ())),
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


def _check_patterns(raw: RawWeight, check: Checker) -> None:
    for key, patterns in (("include", raw.include), ("exclude", raw.exclude)):
        for j, pattern in enumerate(patterns or ()):
            message = pattern_error(pattern)
            if message is None:
                continue
            value = pattern.strip() or None
            fld = f"weights[{raw.index}].source.{key}[{j}]"
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


def _check_uri(raw: RawWeight, check: Checker) -> str | None:
    if raw.uri is None:
        return None  # missing or mistyped: already a schema problem
    result = normalize_uri(raw.uri)
    if is_successful(result):
        return result.unwrap()
    check.invalid(
        raw,
        f"weights[{raw.index}].source.uri",
        None,
        result.failure(),
        "use a project-relative path, file://, hf://org/repo[@ref] or an https:// file URL",
    )
    return None
