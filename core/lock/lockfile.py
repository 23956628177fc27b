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
reports every problem at once. The pieces live beside it -- records in
:mod:`~cogw.core.lock.lockrecords`, Go-style decoding in :mod:`~cogw.core.lock.godecode`,
entry reading in :mod:`~cogw.core.lock.lockread`, checks in
:mod:`~cogw.core.lock.lockcheck` -- and every public name is importable from here.
This module knows bytes and values only: it does not read or write the file,
and it never compares ``importedAt``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from pyrsistent import pvector
from returns.pipeline import is_successful
from returns.result import Failure, Result, Success

from cogw.core.diagnostics import Diagnostic, Problems
from cogw.core.lock.fastread import read_canonical
from cogw.core.lock.godecode import Reader, decode_json
from cogw.core.lock.gojson import go_marshal_indent
from cogw.core.lock.lockcheck import (
    HINT_REWRITE,
    check_entry,
    check_envelope,
    check_unique_names,
    check_unique_targets,
    entry_subject,
)
from cogw.core.lock.lockread import lock_shape, read_entry
from cogw.core.lock.lockrecords import (
    FILENAME,
    MEDIA_TYPE_TAR,
    MEDIA_TYPE_TAR_GZIP,
    MEDIA_TYPE_TAR_ZSTD,
    MEDIA_TYPES,
    VERSION,
    ZERO_TIME,
    LockFile,
    Lockfile,
    LockLayer,
    LockSource,
    Shape,
    WeightEntry,
)
from cogw.core.lock.setdigest import set_digest_of

# The record types and constants live in lockrecords so the reading and checking
# modules can build them; they are part of this module's API.
__all__ = [
    "FILENAME",
    "MEDIA_TYPES",
    "MEDIA_TYPE_TAR",
    "MEDIA_TYPE_TAR_GZIP",
    "MEDIA_TYPE_TAR_ZSTD",
    "VERSION",
    "ZERO_TIME",
    "LockFile",
    "LockLayer",
    "LockSource",
    "Lockfile",
    "Shape",
    "WeightEntry",
    "canonicalize",
    "canonicalize_entry",
    "entries_equal",
    "file_json",
    "find_weight",
    "layer_json",
    "make_entry",
    "make_source",
    "parse_lockfile",
    "parse_lockfile_repairable",
    "render_lockfile",
    "retain",
    "runtime_manifest",
    "to_json_value",
    "upsert",
]

# ---------------------------------------------------------------------------
# Parsing: JSON bytes -> Go-decoded values -> records -> checks


def parse_lockfile(data: bytes, filename: str = FILENAME) -> Result[Lockfile, Problems]:
    """Decode and validate weights.lock bytes; Failure carries every problem found.

    ``filename`` only names the file in diagnostics. A version other than 1 is
    reported alone: the rest of such a file follows rules this code does not know.
    """
    return parse_lockfile_repairable(data, filename).bind(
        lambda read: Failure(read[1]) if read[1] else Success(read[0])
    )


def parse_lockfile_repairable(
    data: bytes, filename: str = FILENAME
) -> Result[tuple[Lockfile, Problems], Problems]:
    """Like :func:`parse_lockfile`, but a file whose only problems are repairable
    (two entries for one target, left by a rename) reads as Success with them.

    ``prune``, ``import`` and ``lock fmt`` use this: they are the commands that
    repair such a file, so refusing to read it would leave the project stuck.
    """
    found = _parse(data, filename)
    if isinstance(found, Failure):
        return found
    lock, problems = found.unwrap()
    repairable = tuple(check_unique_targets(lock.weights, filename))
    if problems:
        return Failure((*problems, *repairable))
    return Success((lock, repairable))


def _parse(data: bytes, filename: str) -> Result[tuple[Lockfile, Problems], Problems]:
    """The records and every problem but the repairable ones; Failure when unreadable.

    A file in the canonical shape is read by :func:`read_canonical`, which gives the
    records the general reader gives (tests/core/test_lockfastread.py); any other
    by :func:`_parse_general`."""
    canonical = read_canonical(data)
    if canonical is None:
        return _parse_general(data, filename)
    envelope, read = canonical
    problems: list[Diagnostic] = []
    for index, (entry, _) in enumerate(read):
        problems.extend(check_entry(entry, entry_subject(filename, index, entry.name)))
    return Success(_assemble(envelope, read, filename, problems))


def _parse_general(data: bytes, filename: str) -> Result[tuple[Lockfile, Problems], Problems]:
    """:func:`_parse` for any bytes: decoded Go's way, every type problem recorded."""
    problems: list[Diagnostic] = []
    decoded = decode_json(data)
    if not is_successful(decoded):
        return Failure((_syntax_problem(filename, data, decoded.failure()),))
    value = decoded.unwrap()
    reader = Reader(filename, problems, HINT_REWRITE)
    top = reader.fields(value, "", ("version", "envelopeFormat", "weights"), filename)
    version = reader.integer(top.get("version"), "version")
    if problems or version != VERSION:
        return Failure(tuple(problems) or (_version_problem(version, filename),))
    envelope = reader.string(top.get("envelopeFormat"), "envelopeFormat")
    raw_entries = reader.array(top.get("weights"), "weights")
    read = [read_entry(raw, index, filename, problems) for index, raw in enumerate(raw_entries)]
    return Success(_assemble(envelope, read, filename, problems))


def _assemble(
    envelope: str,
    read: list[tuple[WeightEntry, Shape | None]],
    filename: str,
    problems: list[Diagnostic],
) -> tuple[Lockfile, Problems]:
    """The lockfile of the entries read, and the whole-file problems after theirs."""
    shape = lock_shape([entry_shape for _, entry_shape in read], filename, problems)
    lock = Lockfile(VERSION, envelope, pvector(entry for entry, _ in read), shape)
    problems.extend(check_envelope(envelope, filename))
    problems.extend(check_unique_names(lock.weights, filename))
    return lock, tuple(problems)


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


def _version_problem(version: int, filename: str) -> Diagnostic:
    return Diagnostic(
        summary=f"unsupported weights.lock version {version} (want {VERSION})",
        subject=filename,
        hint="the file was written by another tool or version: upgrade cogw, "
        "or delete the file and run 'cogw import'",
    )


# ---------------------------------------------------------------------------
# Rendering


def file_json(f: LockFile) -> dict[str, Any]:
    return {"path": f.path, "size": f.size, "digest": f.digest, "layer": f.layer}


def layer_json(layer: LockLayer) -> dict[str, Any]:
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
        out["sources"] = [_source_json(s, with_time=False) for s in entry.sources]
        out["importedAt"] = _imported_at(entry.source)
    elif entry.more_sources:
        # The shape choice (core/lock/lockshape.py) never gets here: refusing beats losing them.
        raise ValueError(f"weight {entry.name!r} has several sources: Cog v0.19.3's shape has one")
    else:
        out["source"] = _source_json(entry.source, with_time=True)
    out["digest"] = entry.digest
    out["setDigest"] = entry.set_digest
    out["size"] = entry.size
    out["sizeCompressed"] = entry.size_compressed
    out["files"] = [file_json(f) for f in entry.files]
    out["layers"] = [layer_json(layer) for layer in entry.layers]
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
    """Cog's EntriesEqual: every field but ``importedAt``, sources positionally
    (their count included); False if either is None.

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
