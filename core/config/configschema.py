"""cog.yaml's shape: ``image:``, ``model:`` and ``weights:`` read as far as their types allow.

Cog validates cog.yaml against a JSON schema before anything else; this module
reports those schema problems with Cog's wording (``schema error in
"weights.0.source": uri is required``) and hands each ``weights[i]`` item on as
a :class:`RawWeight` for the semantic checks in :mod:`cogw.core.config.weights`. It
knows plain YAML data only (mappings, lists, strings), never the file, and it
does not judge names, targets, patterns or URIs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cogw.core.diagnostics import Diagnostic
from cogw.core.digest import go_quote
from cogw.core.registry.reference import has_userinfo

_WEIGHT_KEYS = ("name", "target", "source")
_SOURCE_KEYS = ("uri", "include", "exclude")


@dataclass(frozen=True, slots=True)
class RawSource:
    """One source of a weight as far as its types allow reading it."""

    uri: str | None
    include: tuple[str, ...] | None
    exclude: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class RawWeight:
    """One ``weights[i]`` item as far as its types allow reading it.

    ``sources`` holds one item for ``source:`` written as a mapping and one per
    item for current Cog's list form; it is empty when unreadable.
    """

    index: int
    name: str | None
    target: str | None
    sources: tuple[RawSource, ...] = ()
    is_mapping: bool = True
    mistyped: frozenset[str] = frozenset()  # fields already reported by the schema

    def source_field(self, j: int) -> str:
        """Cog's name for source ``j``: ``source`` alone, ``source[j]`` among several."""
        one = len(self.sources) == 1
        return f"weights[{self.index}].source" + ("" if one else f"[{j}]")


@dataclass(slots=True)
class Checker:
    """Collects problems in Cog's order while walking one cog.yaml.

    Schema problems come from this module; :mod:`cogw.core.config.weights` adds its
    semantic ones through :meth:`invalid`, so one list keeps Cog's order.
    """

    filename: str
    problems: list[Diagnostic] = field(default_factory=list)

    def schema(self, path: str, message: str, hint: str, subject: str = "") -> None:
        where = self.filename if path == "(root)" else path
        self.problems.append(
            Diagnostic(
                summary=f"schema error in {go_quote(where)}: {message}",
                subject=subject or self.filename,
                hint=hint,
            )
        )

    def invalid(self, raw: RawWeight, fld: str, value: str | None, message: str, hint: str) -> None:
        quoted = "" if value is None else " " + go_quote(value)
        self.problems.append(
            Diagnostic(
                summary=f"invalid {fld}{quoted}: {message}",
                subject=self.subject(raw),
                hint=hint,
            )
        )

    def subject(self, raw: RawWeight) -> str:
        name = f" {go_quote(raw.name)}" if raw.name else ""
        return f"{self.filename}: weights[{raw.index}]{name}"


def read_image(raw: dict[Any, Any], check: Checker) -> str | None:
    """``image:`` if it is a string (or absent: None); a schema problem otherwise."""
    return _top_string(raw, "image", check)


def read_model(raw: dict[Any, Any], check: Checker) -> str | None:
    """``model:`` (current Cog) if it is a string (or absent: None); a schema problem otherwise."""
    return _top_string(raw, "model", check)


def _top_string(raw: dict[Any, Any], key: str, check: Checker) -> str | None:
    value = raw.get(key)
    if isinstance(value, str) and has_userinfo(value):
        check.schema(
            key,
            "must not carry credentials (user:password@host); they were not used",
            "remove them; log in with 'docker login HOST' or set COGW_REGISTRY_HOST, "
            "COGW_REGISTRY_USERNAME and COGW_REGISTRY_PASSWORD",
            f"{check.filename}: {key}",
        )
        return None
    if value is None or isinstance(value, str):
        return value
    check.schema(
        key,
        "must be a string",
        f"set {key}: to a repository such as registry.example.com/acme/model",
        f"{check.filename}: {key}",
    )
    return None


def read_weights(value: object, check: Checker) -> list[RawWeight]:
    """Every ``weights[i]`` item, read as far as its types allow; schema problems recorded."""
    if value is None:
        return []
    if not isinstance(value, list):
        check.schema("weights", "must be a list", "weights: is a list of {name, target, source}")
        return []
    return [_read_weight(i, item, check) for i, item in enumerate(value)]


def _read_weight(index: int, item: object, check: Checker) -> RawWeight:
    subject = f"{check.filename}: weights[{index}]"
    if not isinstance(item, dict):
        check.schema(f"weights.{index}", "must be a mapping", "each weight is a mapping", subject)
        return RawWeight(index, None, None, is_mapping=False)
    name = _string_field(item, "name", f"weights.{index}", check, subject)
    if name:
        subject = f"{subject} {go_quote(name)}"
    _unknown_keys(item, _WEIGHT_KEYS, f"weights.{index}", check, subject)
    target = _string_field(item, "target", f"weights.{index}", check, subject)
    sources = _read_sources(item, f"weights.{index}", check, subject)
    mistyped = frozenset(k for k in ("name", "target") if not isinstance(item.get(k), str | None))
    return RawWeight(index, name, target, sources, mistyped=mistyped)


_SOURCE_HINT = 'give the weight a source, e.g. source: {uri: "weights/my-model"}'
_SOURCES_HINT = "write source: as one {uri, include, exclude} mapping or a list of them"


def _read_sources(
    item: dict[Any, Any], path: str, check: Checker, subject: str
) -> tuple[RawSource, ...]:
    """``source:`` as a mapping (v0.19.3) or a non-empty list of mappings (current Cog)."""
    if "source" not in item:
        check.schema(path, "source is required", _SOURCE_HINT, subject)
        return ()
    value = item["source"]
    if isinstance(value, dict):
        return (_read_source(value, f"{path}.source", check, subject),)
    if not isinstance(value, list) or not value:
        check.schema(
            f"{path}.source", "must be a mapping or a non-empty list", _SOURCES_HINT, subject
        )
        return ()
    read = []
    for j, source in enumerate(value):
        if isinstance(source, dict):
            read.append(_read_source(source, f"{path}.source.{j}", check, subject))
        else:
            check.schema(f"{path}.source.{j}", "must be a mapping", _SOURCES_HINT, subject)
    return tuple(read) if len(read) == len(value) else ()


def _read_source(source: dict[Any, Any], path: str, check: Checker, subject: str) -> RawSource:
    _unknown_keys(source, _SOURCE_KEYS, path, check, subject)
    if "uri" not in source:
        check.schema(path, "uri is required", _SOURCE_HINT, subject)
    return RawSource(
        uri=_string_field(source, "uri", path, check, subject),
        include=_pattern_list(source, "include", path, check, subject),
        exclude=_pattern_list(source, "exclude", path, check, subject),
    )


def _string_field(
    item: dict[Any, Any], key: str, path: str, check: Checker, subject: str
) -> str | None:
    value = item.get(key)
    if value is None or isinstance(value, str):
        return value
    check.schema(f"{path}.{key}", "must be a string", f"write {key}: as a string", subject)
    return None


def _pattern_list(
    source: dict[Any, Any], key: str, path: str, check: Checker, subject: str
) -> tuple[str, ...] | None:
    value = source.get(key)
    if value is None:
        return None
    hint = f'write {key}: as a list of glob strings, e.g. ["*.safetensors"]'
    if not isinstance(value, list):
        check.schema(f"{path}.{key}", "must be a list", hint, subject)
        return None
    for j, pattern in enumerate(value):
        if not isinstance(pattern, str):
            check.schema(f"{path}.{key}.{j}", "must be a string", hint, subject)
    return tuple(p for p in value if isinstance(p, str))


def _unknown_keys(
    mapping: dict[Any, Any], allowed: tuple[str, ...], path: str, check: Checker, subject: str
) -> None:
    for key in mapping:
        if key not in allowed:
            check.schema(
                path,
                f"Additional property {key} is not allowed",
                f"remove it; allowed keys are {', '.join(allowed)}",
                subject,
            )
