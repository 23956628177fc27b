"""cog.yaml's ``image:`` and ``weights:`` section as validated, normalised values.

The shell parses YAML into plain Python data; this module validates that data
with every rule of Cog v0.19.3 (schema and semantic checks, import spec §2) and
reports all problems at once, each naming its file, weight and field. It also
knows Cog's source URI normalisation (import spec §3.1), so a config that loads
carries canonical URIs. It knows nothing about the disk: whether a ``file://``
source exists is the shell's question.

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
from typing import Any

from pyrsistent import PVector, pvector
from returns.pipeline import is_successful
from returns.result import Failure, Result, Success

from cogw.core.diagnostics import Diagnostic, Problems, collect
from cogw.core.digest import go_quote
from cogw.core.filters import pattern_error
from cogw.core.lockfile import WeightEntry
from cogw.core.paths import go_clean, is_subpath

DEFAULT_CONFIG = "cog.yaml"
SUPPORTED_SCHEMES = ("file", "hf", "huggingface", "http", "https")

_NAME_RE = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
_WEIGHT_KEYS = ("name", "target", "source")
_SOURCE_KEYS = ("uri", "include", "exclude")


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


# ---------------------------------------------------------------- URIs


@dataclass(frozen=True, slots=True)
class HFRef:
    """A Hugging Face model repository at a revision (branch, tag or commit)."""

    org: str
    repo: str
    ref: str = "main"

    @property
    def repo_id(self) -> str:
        return f"{self.org}/{self.repo}"


def scheme_of(uri: str) -> str:
    """The text before the first ``://``; ``""`` for a bare path (Cog's ``schemeOf``).

    >>> scheme_of("hf://org/repo"), scheme_of("weights/x")
    ('hf', '')
    """
    scheme, sep, _ = uri.partition("://")
    return scheme if sep else ""


def normalize_uri(uri: str) -> Result[str, str]:
    """The canonical form of a source URI, or why it is not one.

    >>> normalize_uri("./weights//models")
    <Success: file://./weights/models>
    >>> normalize_uri("huggingface://org/repo@main")
    <Success: hf://org/repo>
    """
    if uri == "":
        return Failure("weight source.uri is required")
    scheme = scheme_of(uri)
    if scheme in ("", "file"):
        return _normalize_file(uri.removeprefix("file://") if scheme else uri)
    if scheme in ("hf", "huggingface"):
        return parse_hf_uri(uri).map(_hf_uri)
    if scheme in ("http", "https"):
        return _normalize_http(uri)
    supported = ", ".join(SUPPORTED_SCHEMES)
    return Failure(
        f"unsupported weight source scheme {go_quote(scheme)} in URI {go_quote(uri)}"
        f" (supported: {supported})"
    )


def _normalize_file(path: str) -> Result[str, str]:
    if path == "":
        return Failure("empty weight source path")
    clean = go_clean(path)
    if clean.startswith("/"):
        return Success("file://" + clean)
    if clean == ".":
        return Failure("weight source cannot be the project directory itself")
    # Only a ".." component climbs out; "..weights" is an ordinary directory name.
    if clean == ".." or clean.startswith("../"):
        return Failure(f"weight source {go_quote(path)} escapes the project directory")
    return Success("file://./" + clean)


def parse_hf_uri(uri: str) -> Result[HFRef, str]:
    """``hf://org/repo[@ref]`` (or ``huggingface://``) split into its parts, as Cog does.

    >>> parse_hf_uri("hf://o/m@feature/branch")
    <Success: HFRef(org='o', repo='m', ref='feature/branch')>
    """
    for prefix in ("hf://", "huggingface://"):
        if uri.startswith(prefix):
            rest = uri[len(prefix) :]
            break
    else:
        return Failure(f"not an hf:// URI: {go_quote(uri)}")
    if rest == "":
        return Failure("empty hf:// URI")
    repo, ref = rest, "main"
    at = rest.rfind("@")
    if at > 0:
        repo, ref = rest[:at], rest[at + 1 :]
        if ref == "":
            return Failure(f"empty ref in hf:// URI: {go_quote(uri)}")
    parts = repo.split("/")
    if len(parts) != 2 or not all(parts):
        return Failure(f"invalid hf:// repo {go_quote(repo)}: expected org/repo")
    return Success(HFRef(org=parts[0], repo=parts[1], ref=ref))


def _hf_uri(ref: HFRef) -> str:
    suffix = "" if ref.ref == "main" else "@" + ref.ref
    return f"hf://{ref.org}/{ref.repo}{suffix}"


# Characters Go's url.URL.String() leaves as typed in a path (unreserved, sub-delims, ":@/").
_PATH_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~$&+,/:;=@!'()*[]"
)
_FRAGMENT_SAFE = _PATH_SAFE | {"?"}
_HOST_RE = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]+)(?::[0-9]*)?")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})(.{0,2})", re.DOTALL)


def _normalize_http(uri: str) -> Result[str, str]:
    """Go's ``url.Parse(uri).String()`` for ordinary URLs, plus Cog's checks.

    Characters Go would escape are percent-encoded one by one, and existing
    escapes are kept, so an already-canonical URL is returned unchanged.
    """
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in uri):
        return Failure(f"invalid HTTP URI {go_quote(uri)}: invalid control character in URL")
    scheme, _, rest = uri.partition("://")
    rest, has_fragment, fragment = rest.partition("#")
    rest, has_query, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    path = slash + path
    if "@" in authority:
        return Failure("HTTP URI must not embed credentials (user:pass@host)")
    problem = _http_part_problem(uri, authority, path + fragment)
    if problem:
        return Failure(problem)
    # Judge the name as the server sees it: "%2E%2E" is "..", "a%2F" ends in a slash.
    name = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), path).rsplit("/", 1)[-1]
    if name in ("", ".", ".."):
        return Failure(f"HTTP URI {go_quote(uri)} has no filename in path")
    out = f"{scheme}://{authority}{_escape(path, _PATH_SAFE)}"
    if has_query:
        out += "?" + query
    if has_fragment and fragment:
        out += "#" + _escape(fragment, _FRAGMENT_SAFE)
    return Success(out)


def _http_part_problem(uri: str, authority: str, escaped_text: str) -> str | None:
    if authority == "":
        return f"HTTP URI {go_quote(uri)} has no host"
    if not _HOST_RE.fullmatch(authority):
        return f"invalid HTTP URI {go_quote(uri)}: invalid host or port {go_quote(authority)}"
    bad = _BAD_ESCAPE.search(escaped_text)
    if bad:
        return f"invalid HTTP URI {go_quote(uri)}: invalid URL escape {go_quote(bad.group(0))}"
    return None


def _escape(text: str, safe: frozenset[str]) -> str:
    out: list[str] = []
    for ch in text:
        if ch in safe or ch == "%":
            out.append(ch)
        else:
            out.extend(f"%{byte:02X}" for byte in ch.encode("utf-8", "surrogatepass"))
    return "".join(out)


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


@dataclass(frozen=True, slots=True)
class _Raw:
    """One ``weights[i]`` item as far as its types allow reading it."""

    index: int
    name: str | None
    target: str | None
    uri: str | None
    include: tuple[str, ...] | None
    exclude: tuple[str, ...] | None
    is_mapping: bool = True
    mistyped: frozenset[str] = frozenset()  # fields already reported by the schema


@dataclass(slots=True)
class _Checker:
    """Collects problems in Cog's order while walking one cog.yaml."""

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

    def invalid(self, raw: _Raw, fld: str, value: str | None, message: str, hint: str) -> None:
        quoted = "" if value is None else " " + go_quote(value)
        self.problems.append(
            Diagnostic(
                summary=f"invalid {fld}{quoted}: {message}",
                subject=self.subject(raw),
                hint=hint,
            )
        )

    def subject(self, raw: _Raw) -> str:
        name = f" {go_quote(raw.name)}" if raw.name else ""
        return f"{self.filename}: weights[{raw.index}]{name}"


def parse_config(raw: object, filename: str = DEFAULT_CONFIG) -> Result[ProjectConfig, Problems]:
    """Validate what ``yaml.safe_load`` returned for cog.yaml; every problem at once.

    Keys other than ``image`` and ``weights`` (build, predict, ...) are Cog's
    business and are ignored here.
    """
    check = _Checker(filename)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        check.schema("(root)", "must be a mapping", f"{filename} must be a YAML mapping of keys")
        return Failure(tuple(check.problems))
    image = _read_image(raw, check)
    items = _read_weights(raw.get("weights"), check)
    specs = _check_weights(items, image, check)
    return collect(ProjectConfig(image=image or "", weights=pvector(specs)), check.problems)


def _read_image(raw: dict[Any, Any], check: _Checker) -> str | None:
    image = raw.get("image")
    if image is None or isinstance(image, str):
        return image
    check.schema(
        "image",
        "must be a string",
        "set image: to a repository such as registry.example.com/acme/model",
        f"{check.filename}: image",
    )
    return None


def _read_weights(value: object, check: _Checker) -> list[_Raw]:
    if value is None:
        return []
    if not isinstance(value, list):
        check.schema("weights", "must be a list", "weights: is a list of {name, target, source}")
        return []
    return [_read_weight(i, item, check) for i, item in enumerate(value)]


def _read_weight(index: int, item: object, check: _Checker) -> _Raw:
    subject = f"{check.filename}: weights[{index}]"
    if not isinstance(item, dict):
        check.schema(f"weights.{index}", "must be a mapping", "each weight is a mapping", subject)
        return _Raw(index, None, None, None, None, None, is_mapping=False)
    name = _string_field(item, "name", f"weights.{index}", check, subject)
    if name:
        subject = f"{subject} {go_quote(name)}"
    _unknown_keys(item, _WEIGHT_KEYS, f"weights.{index}", check, subject)
    target = _string_field(item, "target", f"weights.{index}", check, subject)
    uri, include, exclude = _read_source(item, f"weights.{index}", check, subject)
    mistyped = frozenset(k for k in ("name", "target") if not isinstance(item.get(k), str | None))
    return _Raw(index, name, target, uri, include, exclude, mistyped=mistyped)


_SOURCE_HINT = 'give the weight a source, e.g. source: {uri: "weights/my-model"}'


def _read_source(
    item: dict[Any, Any], path: str, check: _Checker, subject: str
) -> tuple[str | None, tuple[str, ...] | None, tuple[str, ...] | None]:
    if "source" not in item:
        check.schema(path, "source is required", _SOURCE_HINT, subject)
        return None, None, None
    source = item["source"]
    if not isinstance(source, dict):
        check.schema(f"{path}.source", "must be a mapping", _SOURCE_HINT, subject)
        return None, None, None
    _unknown_keys(source, _SOURCE_KEYS, f"{path}.source", check, subject)
    if "uri" not in source:
        check.schema(f"{path}.source", "uri is required", _SOURCE_HINT, subject)
    uri = _string_field(source, "uri", f"{path}.source", check, subject)
    include = _pattern_list(source, "include", f"{path}.source", check, subject)
    exclude = _pattern_list(source, "exclude", f"{path}.source", check, subject)
    return uri, include, exclude


def _string_field(
    item: dict[Any, Any], key: str, path: str, check: _Checker, subject: str
) -> str | None:
    value = item.get(key)
    if value is None or isinstance(value, str):
        return value
    check.schema(f"{path}.{key}", "must be a string", f"write {key}: as a string", subject)
    return None


def _pattern_list(
    source: dict[Any, Any], key: str, path: str, check: _Checker, subject: str
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
    mapping: dict[Any, Any], allowed: tuple[str, ...], path: str, check: _Checker, subject: str
) -> None:
    for key in mapping:
        if key not in allowed:
            check.schema(
                path,
                f"Additional property {key} is not allowed",
                f"remove it; allowed keys are {', '.join(allowed)}",
                subject,
            )


def _check_weights(items: list[_Raw], image: str | None, check: _Checker) -> list[WeightSpec]:
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
    targets: list[str] = []
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


def _spec(raw: _Raw, uri: str) -> WeightSpec:
    return WeightSpec(
        name=raw.name or "",
        target=raw.target or "",
        uri=uri,
        include=pvector(sorted(p.strip() for p in raw.include or ())),
        exclude=pvector(sorted(p.strip() for p in raw.exclude or ())),
    )


_NAME_HINT = 'use lowercase letters, digits and single ".", "_" or "-" separators, e.g. "my-model"'


def _check_name(raw: _Raw, names: set[str], check: _Checker) -> None:
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


def _check_patterns(raw: _Raw, check: _Checker) -> None:
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


def _check_target(raw: _Raw, targets: list[str], check: _Checker) -> None:
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
        overlap = next((t for t in targets if is_subpath(clean, t) or is_subpath(t, clean)), None)
        if overlap is not None:
            message = f"target overlaps with {go_quote(overlap)}; weight targets must be disjoint"
            check.invalid(raw, fld, target, message, _DISJOINT_HINT)
        targets.append(clean)


def _check_uri(raw: _Raw, check: _Checker) -> str | None:
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
