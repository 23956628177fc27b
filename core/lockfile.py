"""weights.lock: the checked-in record of every imported weight.

The model mirrors Cog v0.19.3's ``lockfile`` package field for field so that a
lockfile written by either tool is read and rewritten byte-identically by the
other (``render_lockfile(parse_lockfile(b)) == b`` for canonical ``b``). It
also reads the later Cog layout (``"sources": [...]``) and writes back the
layout it read.

Parsing decodes the way Go's ``encoding/json`` does where that is harmless
(case-insensitive keys, unknown keys ignored, missing keys and ``null`` give
zero values, integers must be integral) but, unlike Cog, validates everything
a later step would trip over -- digests, paths, layer membership, sizes -- and
reports every problem at once. This module knows bytes and values only: it
does not read or write the file, and it never compares ``importedAt``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pyrsistent import PVector, pvector
from returns.result import Failure, Result

from cogw.core.diagnostics import Diagnostic, Problems, collect
from cogw.core.digest import digest_error, format_digest_short, is_digest
from cogw.core.gojson import go_marshal_indent
from cogw.core.paths import go_clean, path_error, quote
from cogw.core.setdigest import set_digest_of

FILENAME = "weights.lock"
VERSION = 1
MEDIA_TYPE_TAR = "application/vnd.oci.image.layer.v1.tar"
MEDIA_TYPE_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_TYPE_TAR_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MEDIA_TYPES = frozenset({MEDIA_TYPE_TAR, MEDIA_TYPE_TAR_GZIP, MEDIA_TYPE_TAR_ZSTD})
# Go's zero time.Time as JSON: what Cog writes for an entry with no import time.
ZERO_TIME = "0001-01-01T00:00:00Z"


class Shape(Enum):
    """Which of Cog's two on-disk layouts a lockfile uses; rendering keeps it."""

    SOURCE = "source"  # v0.19.3: "source": {...} with importedAt inside
    SOURCES = "sources"  # later Cog: "sources": [{...}], importedAt on the entry


@dataclass(frozen=True, slots=True)
class LockFile:
    """One file of a weight: where it lives in the mount, and which layer holds it."""

    path: str
    size: int
    digest: str
    layer: str


@dataclass(frozen=True, slots=True)
class LockLayer:
    digest: str
    media_type: str
    size: int  # blob bytes (compressed)
    size_uncompressed: int  # sum of regular-file bytes in the layer


@dataclass(frozen=True, slots=True)
class LockSource:
    uri: str
    fingerprint: str
    include: PVector[str] = field(default_factory=pvector)
    exclude: PVector[str] = field(default_factory=pvector)
    # Kept as the exact string read: Go writes nanoseconds, and round trips must
    # be byte-identical. Informational only; never compared.
    imported_at: str = ""


@dataclass(frozen=True, slots=True)
class WeightEntry:
    name: str
    target: str
    source: LockSource
    digest: str  # manifest digest
    set_digest: str
    size: int
    size_compressed: int
    files: PVector[LockFile] = field(default_factory=pvector)
    layers: PVector[LockLayer] = field(default_factory=pvector)


@dataclass(frozen=True, slots=True)
class Lockfile:
    version: int = VERSION
    envelope_format: str = ""
    weights: PVector[WeightEntry] = field(default_factory=pvector)
    shape: Shape = Shape.SOURCE


# ---------------------------------------------------------------------------
# Parsing: JSON bytes -> Go-decoded values -> records -> checks


def parse_lockfile(data: bytes, filename: str = FILENAME) -> Result[Lockfile, Problems]:
    """Decode and validate weights.lock bytes; Failure carries every problem found.

    ``filename`` only names the file in diagnostics. A version other than 1 is
    reported alone: the rest of such a file follows rules this code does not know.
    """
    value, syntax_problem = _decode_json(data, filename)
    if syntax_problem is not None:
        return Failure((syntax_problem,))
    problems: list[Diagnostic] = []
    reader = _Reader(filename, problems)
    top = reader.fields(value, "", ("version", "envelopeFormat", "weights"), filename)
    version = reader.integer(top.get("version"), "version")
    if problems or version != VERSION:
        return Failure(tuple(problems) or (_version_problem(version, filename),))
    envelope = reader.string(top.get("envelopeFormat"), "envelopeFormat")
    raw_entries = reader.array(top.get("weights"), "weights")
    read = [_read_entry(raw, index, filename, problems) for index, raw in enumerate(raw_entries)]
    shape = _lock_shape([entry_shape for _, entry_shape in read], filename, problems)
    lock = Lockfile(VERSION, envelope, pvector(entry for entry, _ in read), shape)
    problems.extend(_check_envelope(envelope, filename))
    problems.extend(_check_unique(lock.weights, filename))
    return collect(lock, problems)


_HINT_REWRITE = (
    "weights.lock is written by 'cogw import': undo the hand edit, "
    "or run 'cogw import' to rewrite the entry"
)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class _Number:
    """A JSON number as written; Go refuses a fraction or exponent for an integer field."""

    text: str
    integral: bool


@dataclass(frozen=True, slots=True)
class _Object:
    """A JSON object as its (key, value) pairs, so keys can be matched Go's way."""

    pairs: tuple[tuple[str, Any], ...]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid literal {name} (JSON has no NaN or Infinity)")


def _position(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    return line, offset - (data.rfind(b"\n", 0, offset) + 1) + 1


def _syntax_problem(filename: str, data: bytes, message: str) -> Diagnostic:
    conflicted = b"\n<<<<<<< " in b"\n" + data
    return Diagnostic(
        summary="invalid JSON",
        subject=filename,
        detail=f"parse {filename}: {message}"
        + ("\nthe file holds git merge-conflict markers" if conflicted else ""),
        hint="fix the JSON (or resolve the merge conflict), or delete the file "
        "and run 'cogw import' to rewrite it",
    )


def _decode_json(data: bytes, filename: str) -> tuple[Any, Diagnostic | None]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line, column = _position(data, err.start)
        return None, _syntax_problem(
            filename, data, f"invalid UTF-8 at line {line}, column {column}"
        )
    try:
        value = json.loads(
            text,
            object_pairs_hook=lambda pairs: _Object(tuple(pairs)),
            parse_int=lambda t: _Number(t, True),
            parse_float=lambda t: _Number(t, False),
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as err:
        detail = f"{err.msg} at line {err.lineno}, column {err.colno}"
        return None, _syntax_problem(filename, data, detail)
    except RecursionError:
        return None, _syntax_problem(filename, data, "values nested too deeply")
    except ValueError as err:
        return None, _syntax_problem(filename, data, str(err))
    return value, None


# Go matches keys case-insensitively with Unicode simple folding: besides ASCII
# case, only these two runes fold onto ASCII letters.
_FOLD_TO_ASCII = {"\u017f": "S", "\u212a": "K"}


def _fold(key: str) -> str:
    return "".join(_FOLD_TO_ASCII.get(ch, ch.upper() if ch.isascii() else ch) for ch in key)


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "a string"
    if isinstance(value, _Number):
        return f"the number {value.text}"
    if isinstance(value, _Object):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "true" if value is True else "false"


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


@dataclass(frozen=True, slots=True)
class _Reader:
    """Reads JSON values into typed fields Go's way, recording each type problem.

    ``subject`` names the file and entry; paths name the field inside it.
    """

    subject: str
    problems: list[Diagnostic]

    def problem(self, summary: str, detail: str = "") -> None:
        self.problems.append(Diagnostic(summary, detail, self.subject, _HINT_REWRITE))

    def wrong_type(self, path: str, expected: str, value: Any) -> None:
        self.problem(f"{path} must be {expected}, not {_kind(value)}")

    def fields(self, value: Any, path: str, names: Iterable[str], what: str) -> dict[str, Any]:
        """Known keys (matched case-insensitively, last one wins); unknown keys ignored."""
        if value is None:
            return {}
        if not isinstance(value, _Object):
            self.wrong_type(path or what, "an object", value)
            return {}
        by_fold = {_fold(name): name for name in names}
        out: dict[str, Any] = {}
        for key, item in value.pairs:
            name = by_fold.get(_fold(key))
            if name is not None:
                out[name] = item
        return out

    def string(self, value: Any, path: str) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            self.wrong_type(path, "a string", value)
            return ""
        if _has_surrogate(value):
            self.problem(f"{path} holds an invalid \\u escape (a lone UTF-16 surrogate)")
            return ""
        return value

    def integer(self, value: Any, path: str) -> int:
        if value is None:
            return 0
        if not isinstance(value, _Number):
            self.wrong_type(path, "an integer", value)
            return 0
        if not value.integral:
            self.problem(f"{path} must be an integer, not {value.text}")
            return 0
        number = int(value.text) if len(value.text) <= 20 else None
        if number is None or not _INT64_MIN <= number <= _INT64_MAX:
            self.problem(f"{path} is out of range", f"{value.text} does not fit in 64 bits")
            return 0
        return number

    def array(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.wrong_type(path, "an array", value)
            return []
        return value

    def strings(self, value: Any, path: str) -> PVector[str]:
        items = self.array(value, path)
        return pvector(self.string(item, f"{path}[{i}]") for i, item in enumerate(items))


_ENTRY_KEYS = (
    "name",
    "target",
    "source",
    "sources",
    "importedAt",
    "digest",
    "setDigest",
    "size",
    "sizeCompressed",
    "files",
    "layers",
)
_SOURCE_KEYS = ("uri", "fingerprint", "include", "exclude")
_FILE_KEYS = ("path", "size", "digest", "layer")
_LAYER_KEYS = ("digest", "mediaType", "size", "sizeUncompressed")
# The config's name rule: every name Cog or cogw imports satisfies it, and the
# name becomes a directory under the mount root and part of a registry tag.
_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
_NAME_RULE = (
    "must contain only lowercase alphanumeric characters, hyphens, dots, or underscores "
    '(e.g. "my-model-weights")'
)
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
    r"(?:Z|[+-]([0-9]{2}):([0-9]{2}))"
)
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in(month: int, year: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 29 if month == 2 and leap else _DAYS_IN_MONTH[month - 1]


def _is_rfc3339(text: str) -> bool:
    """What Go's ``time.Time`` JSON decoding accepts (and so what Cog can read)."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    tz_hour, tz_minute = (int(g or "0") for g in match.groups()[6:])
    if not 1 <= month <= 12:
        return False
    in_day = 1 <= day <= _days_in(month, year)
    return in_day and hour < 24 and minute < 60 and second < 60 and tz_hour < 24 and tz_minute < 60


def _read_time(value: Any, path: str, reader: _Reader) -> str:
    if value is None:
        return ZERO_TIME  # Go leaves the zero time, and writes it back as such
    if not isinstance(value, str):
        reader.wrong_type(path, "an RFC 3339 time string", value)
        return ZERO_TIME
    if not _is_rfc3339(value):
        reader.problem(
            f"{path} {quote(value)} is not an RFC 3339 time",
            'Cog writes e.g. "2026-04-29T17:23:00.414483Z" and cannot read anything else',
        )
        return ZERO_TIME
    return value


def _read_source(value: Any, path: str, reader: _Reader, *, with_time: bool) -> LockSource:
    keys = (*_SOURCE_KEYS, "importedAt") if with_time else _SOURCE_KEYS
    f = reader.fields(value, path, keys, path)
    return LockSource(
        uri=reader.string(f.get("uri"), f"{path}.uri"),
        fingerprint=reader.string(f.get("fingerprint"), f"{path}.fingerprint"),
        include=reader.strings(f.get("include"), f"{path}.include"),
        exclude=reader.strings(f.get("exclude"), f"{path}.exclude"),
        imported_at=_read_time(f.get("importedAt"), f"{path}.importedAt", reader)
        if with_time
        else ZERO_TIME,
    )


def _read_source_list(f: dict[str, Any], reader: _Reader) -> LockSource:
    items = reader.array(f.get("sources"), "sources")
    if len(items) > 1:
        reader.problems.append(
            Diagnostic(
                summary=f"holds {len(items)} sources; cogw supports one source per weight",
                subject=reader.subject,
                hint="declare one weight per source in cog.yaml and run 'cogw import'",
            )
        )
    elif not items:
        reader.problem("holds no source", "a weight's sources list names where its files came from")
    source = _read_source(items[0] if items else None, "sources[0]", reader, with_time=False)
    imported_at = _read_time(f.get("importedAt"), "importedAt", reader)
    return dataclasses.replace(source, imported_at=imported_at)


def _read_any_source(f: dict[str, Any], reader: _Reader) -> tuple[LockSource, Shape | None]:
    """The entry's source in whichever layout it uses, and that layout (None: no source key)."""
    if "source" in f and "sources" in f:
        reader.problem(
            'has both "source" and "sources"',
            'Cog v0.19.3 writes a "source" object, later Cog a "sources" list; an entry has one',
        )
    if "sources" in f and "source" not in f:
        return _read_source_list(f, reader), Shape.SOURCES
    source = _read_source(f.get("source"), "source", reader, with_time=True)
    return source, (Shape.SOURCE if "source" in f else None)


def _read_file(value: Any, path: str, reader: _Reader) -> LockFile:
    f = reader.fields(value, path, _FILE_KEYS, path)
    return LockFile(
        path=reader.string(f.get("path"), f"{path}.path"),
        size=reader.integer(f.get("size"), f"{path}.size"),
        digest=reader.string(f.get("digest"), f"{path}.digest"),
        layer=reader.string(f.get("layer"), f"{path}.layer"),
    )


def _read_layer(value: Any, path: str, reader: _Reader) -> LockLayer:
    f = reader.fields(value, path, _LAYER_KEYS, path)
    return LockLayer(
        digest=reader.string(f.get("digest"), f"{path}.digest"),
        media_type=reader.string(f.get("mediaType"), f"{path}.mediaType"),
        size=reader.integer(f.get("size"), f"{path}.size"),
        size_uncompressed=reader.integer(f.get("sizeUncompressed"), f"{path}.sizeUncompressed"),
    )


def _entry_subject(filename: str, index: int, name: str) -> str:
    return (
        f"{filename}: weights[{index}] {quote(name)}" if name else f"{filename}: weights[{index}]"
    )


def _read_entry(
    raw: Any, index: int, filename: str, problems: list[Diagnostic]
) -> tuple[WeightEntry, Shape | None]:
    before = len(problems)
    bare = _Reader(_entry_subject(filename, index, ""), problems)
    f = bare.fields(raw, f"weights[{index}]", _ENTRY_KEYS, "")
    name = bare.string(f.get("name"), "name")
    reader = _Reader(_entry_subject(filename, index, name), problems)
    source, shape = _read_any_source(f, reader)
    files = reader.array(f.get("files"), "files")
    layers = reader.array(f.get("layers"), "layers")
    entry = WeightEntry(
        name=name,
        target=reader.string(f.get("target"), "target"),
        source=source,
        digest=reader.string(f.get("digest"), "digest"),
        set_digest=reader.string(f.get("setDigest"), "setDigest"),
        size=reader.integer(f.get("size"), "size"),
        size_compressed=reader.integer(f.get("sizeCompressed"), "sizeCompressed"),
        files=pvector(_read_file(v, f"files[{i}]", reader) for i, v in enumerate(files)),
        layers=pvector(_read_layer(v, f"layers[{i}]", reader) for i, v in enumerate(layers)),
    )
    if len(problems) == before:
        # Checking the zero values left by a type problem would only repeat it.
        problems.extend(_check_entry(entry, reader.subject))
    return entry, shape


def _lock_shape(shapes: Iterable[Shape | None], filename: str, problems: list[Diagnostic]) -> Shape:
    found = {shape for shape in shapes if shape is not None}
    if len(found) > 1:
        problems.append(
            Diagnostic(
                summary='mixes the "source" and "sources" layouts',
                detail='some weights use Cog v0.19.3\'s "source" object, others later '
                'Cog\'s "sources" list; a file uses one layout',
                subject=filename,
                hint=_HINT_REWRITE,
            )
        )
        return Shape.SOURCE
    return found.pop() if found else Shape.SOURCE


# ---------------------------------------------------------------------------
# Checks on decoded values: what Cog leaves to fail later, reported up front


def _problem(subject: str, summary: str, detail: str = "") -> Diagnostic:
    return Diagnostic(summary=summary, detail=detail, subject=subject, hint=_HINT_REWRITE)


def _version_problem(version: int, filename: str) -> Diagnostic:
    return Diagnostic(
        summary=f"unsupported weights.lock version {version} (want {VERSION})",
        subject=filename,
        hint="the file was written by another tool or version: upgrade cogw, "
        "or delete the file and run 'cogw import'",
    )


def _check_envelope(envelope: str, filename: str) -> list[Diagnostic]:
    error = digest_error(envelope) if envelope else None
    return [] if error is None else [_problem(filename, "malformed envelopeFormat", error)]


def _check_identity(entry: WeightEntry, subject: str) -> Iterable[Diagnostic]:
    if not entry.name:
        yield _problem(subject, "weight name is empty")
    elif _NAME.fullmatch(entry.name) is None:
        yield _problem(subject, f"invalid weight name {quote(entry.name)}", _NAME_RULE)
    if not entry.target.startswith("/"):
        yield _problem(
            subject, "target must be an absolute path", f"target is {quote(entry.target)}"
        )
    for label, value in (("manifest digest", entry.digest), ("set digest", entry.set_digest)):
        error = digest_error(value) if value else None
        if error is not None:
            yield _problem(subject, f"malformed {label}", error)
    for label, number in (("size", entry.size), ("sizeCompressed", entry.size_compressed)):
        if number < 0:
            yield _problem(subject, f"{label} is negative ({number})")


def _check_file(
    f: LockFile, where: str, subject: str, layers: frozenset[str]
) -> Iterable[Diagnostic]:
    path_problem = path_error(f.path)
    if path_problem is not None:
        yield _problem(subject, f"unsafe file path in {where}", path_problem)
    for label, value in (("digest", f.digest), ("layer", f.layer)):
        error = digest_error(value)
        if error is not None:
            yield _problem(subject, f"malformed {label} in {where} {quote(f.path)}", error)
    if f.size < 0:
        yield _problem(subject, f"{where}.size is negative ({f.size})")
    if is_digest(f.layer) and f.layer not in layers:
        yield _problem(
            subject,
            f"{where} {quote(f.path)} is in layer {format_digest_short(f.layer)}, "
            "which is not in layers",
        )


def _check_file_set(files: PVector[LockFile], subject: str) -> Iterable[Diagnostic]:
    seen: dict[str, int] = {}
    for index, f in enumerate(files):
        if f.path in seen:
            yield _problem(
                subject,
                f"duplicate file path {quote(f.path)}",
                f"files[{seen[f.path]}] and files[{index}] name the same file",
            )
        seen.setdefault(f.path, index)
    for path in seen:
        # A file cannot also be a directory of another file in the mount.
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in seen:
                yield _problem(
                    subject, f"file path {quote(parent)} is also a directory of {quote(path)}"
                )


def _check_layer(layer: LockLayer, where: str, subject: str) -> Iterable[Diagnostic]:
    error = digest_error(layer.digest)
    if error is not None:
        yield _problem(subject, f"malformed digest in {where}", error)
    if layer.media_type not in MEDIA_TYPES:
        yield _problem(
            subject,
            f"{where} has unsupported media type {quote(layer.media_type)}",
            "layers are " + ", ".join(sorted(MEDIA_TYPES)),
        )
    for label, number in (("size", layer.size), ("sizeUncompressed", layer.size_uncompressed)):
        if number < 0:
            yield _problem(subject, f"{where}.{label} is negative ({number})")


def _check_layers(layers: PVector[LockLayer], subject: str) -> Iterable[Diagnostic]:
    seen: set[str] = set()
    for index, layer in enumerate(layers):
        yield from _check_layer(layer, f"layers[{index}]", subject)
        if layer.digest in seen:
            short = format_digest_short(layer.digest)
            yield _problem(subject, f"duplicate layer {short}", f"layers[{index}]")
        seen.add(layer.digest)


def _check_entry(entry: WeightEntry, subject: str) -> list[Diagnostic]:
    """Every problem of one entry, in the order its fields appear in the file."""
    problems = list(_check_identity(entry, subject))
    known = frozenset(layer.digest for layer in entry.layers)
    for index, f in enumerate(entry.files):
        problems.extend(_check_file(f, f"files[{index}]", subject, known))
    problems.extend(_check_file_set(entry.files, subject))
    problems.extend(_check_layers(entry.layers, subject))
    return problems


def _check_unique(weights: PVector[WeightEntry], filename: str) -> Iterable[Diagnostic]:
    """Cog's uniqueness rules: names, then cleaned non-empty targets, entry by entry."""
    names: dict[str, int] = {}
    targets: dict[str, int] = {}
    for index, entry in enumerate(weights):
        subject = _entry_subject(filename, index, entry.name)
        if entry.name and entry.name in names:
            yield _problem(
                subject,
                f"duplicate weight name {quote(entry.name)}",
                f"weights[{names[entry.name]}] has the same name",
            )
        names.setdefault(entry.name, index)
        target = go_clean(entry.target) if entry.target else ""
        if target and target in targets:
            other = targets[target]
            yield _problem(
                subject,
                f"duplicate weight target {quote(entry.target)}",
                f"the same directory as weights[{other}] {quote(weights[other].name)}",
            )
        targets.setdefault(target, index)


# ---------------------------------------------------------------------------
# Rendering


def _file_json(f: LockFile) -> dict[str, Any]:
    return {"path": f.path, "size": f.size, "digest": f.digest, "layer": f.layer}


def _layer_json(layer: LockLayer) -> dict[str, Any]:
    return {
        "digest": layer.digest,
        "mediaType": layer.media_type,
        "size": layer.size,
        "sizeUncompressed": layer.size_uncompressed,
    }


def _imported_at(source: LockSource) -> str:
    # Cog cannot read an empty timestamp back; Go writes the zero time instead.
    return source.imported_at or ZERO_TIME


def _source_json(source: LockSource, *, with_time: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "uri": source.uri,
        "fingerprint": source.fingerprint,
        "include": list(source.include),
        "exclude": list(source.exclude),
    }
    if with_time:
        out["importedAt"] = _imported_at(source)
    return out


def _entry_json(entry: WeightEntry, shape: Shape) -> dict[str, Any]:
    out: dict[str, Any] = {"name": entry.name, "target": entry.target}
    if shape is Shape.SOURCES:
        out["sources"] = [_source_json(entry.source, with_time=False)]
        out["importedAt"] = _imported_at(entry.source)
    else:
        out["source"] = _source_json(entry.source, with_time=True)
    out["digest"] = entry.digest
    out["setDigest"] = entry.set_digest
    out["size"] = entry.size
    out["sizeCompressed"] = entry.size_compressed
    out["files"] = [_file_json(f) for f in entry.files]
    out["layers"] = [_layer_json(layer) for layer in entry.layers]
    return out


def to_json_value(lock: Lockfile) -> dict[str, Any]:
    """The canonical JSON-ready value, keys in Cog's order, in ``lock.shape``."""
    canonical = canonicalize(lock)
    return {
        "version": canonical.version,
        "envelopeFormat": canonical.envelope_format,
        "weights": [_entry_json(e, canonical.shape) for e in canonical.weights],
    }


def render_lockfile(lock: Lockfile) -> bytes:
    """Canonical weights.lock bytes: Go ``MarshalIndent`` with 2 spaces, no trailing newline.

    Saving equal values always gives identical bytes, which is what makes the
    file safe to check into git.
    """
    return go_marshal_indent(to_json_value(lock))


# ---------------------------------------------------------------------------
# Operations (all return new values; none mutates its input)


def canonicalize_entry(entry: WeightEntry) -> WeightEntry:
    """Files sorted by path and layers by digest, byte-wise (Cog's Marshal order)."""
    files = sorted(entry.files, key=lambda f: f.path.encode("utf-8", "surrogatepass"))
    layers = sorted(entry.layers, key=lambda layer: layer.digest.encode("utf-8", "surrogatepass"))
    return dataclasses.replace(entry, files=pvector(files), layers=pvector(layers))


def canonicalize(lock: Lockfile) -> Lockfile:
    """Cog's Marshal normalisation: version 0 becomes 1, each entry canonicalised.

    include/exclude are kept as given: they are sorted where they are made.
    """
    return dataclasses.replace(
        lock,
        version=lock.version or VERSION,
        weights=pvector(canonicalize_entry(e) for e in lock.weights),
    )


def find_weight(lock: Lockfile, name: str) -> WeightEntry | None:
    """The first entry named exactly ``name``, or None."""
    return next((e for e in lock.weights if e.name == name), None)


def upsert(lock: Lockfile, entry: WeightEntry) -> Lockfile:
    """Replace the entry with the same name in place (same index), else append."""
    for index, existing in enumerate(lock.weights):
        if existing.name == entry.name:
            return dataclasses.replace(lock, weights=lock.weights.set(index, entry))
    return dataclasses.replace(lock, weights=lock.weights.append(entry))


def retain(lock: Lockfile, keep: Iterable[str]) -> Lockfile:
    """Only the entries whose name is in ``keep``, in the lock's own order (Cog's Retain).

    Unknown names in ``keep`` are harmless; an empty ``keep`` removes every entry.
    """
    wanted = frozenset(keep)
    return dataclasses.replace(lock, weights=pvector(e for e in lock.weights if e.name in wanted))


def _without_time(entry: WeightEntry) -> WeightEntry:
    return dataclasses.replace(entry, source=dataclasses.replace(entry.source, imported_at=""))


def entries_equal(a: WeightEntry | None, b: WeightEntry | None) -> bool:
    """Cog's EntriesEqual: every field but ``importedAt``; False if either is None.

    Files and layers compare positionally, so compare canonical entries.
    """
    if a is None or b is None:
        return False
    return _without_time(a) == _without_time(b)


def runtime_manifest(lock: Lockfile) -> bytes:
    """``/.cog/weights.json``: name, target and set digest of every entry, lock order."""
    weights = [
        {"name": e.name, "target": e.target, "setDigest": e.set_digest} for e in lock.weights
    ]
    return go_marshal_indent({"weights": weights})


def make_source(
    uri: str,
    fingerprint: str,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    imported_at: str = ZERO_TIME,
) -> LockSource:
    """A source record; include/exclude are kept in the order given (sort them upstream)."""
    return LockSource(uri, fingerprint, pvector(include), pvector(exclude), imported_at)


def make_entry(
    *,
    name: str,
    target: str,
    source: LockSource,
    digest: str,
    files: Iterable[LockFile],
    layers: Iterable[LockLayer],
) -> WeightEntry:
    """A canonical entry whose set digest and sizes are computed from its files and layers.

    ``size`` is the sum of the layers' uncompressed sizes and ``sizeCompressed``
    the sum of their blob sizes, as Cog records them.
    """
    file_list = list(files)
    layer_list = list(layers)
    return canonicalize_entry(
        WeightEntry(
            name=name,
            target=target,
            source=source,
            digest=digest,
            set_digest=set_digest_of(file_list),
            size=sum(layer.size_uncompressed for layer in layer_list),
            size_compressed=sum(layer.size for layer in layer_list),
            files=pvector(file_list),
            layers=pvector(layer_list),
        )
    )
