"""weights.lock in its canonical shape, read in one pass of a C decoder.

The general reader (:mod:`cogw.core.lock.godecode`, :mod:`cogw.core.lock.lockread`)
decodes every file the way Go's ``encoding/json`` does: keys folded, numbers kept as
text, every type problem recorded. A lockfile that Cog or cogw wrote needs none of
that, and one of 100 000 files spends most of its reading time there. This module
reads such a file with orjson and builds the same records, and gives up (None) on
anything the general reader could read differently:

* orjson refuses the input (invalid JSON or UTF-8, a lone surrogate escape, NaN,
  a number too large for a double, nesting deeper than 1024), or
* some object has a key that is not exactly one of its fields' names (Go would fold
  ``"Path"`` onto ``path``; an unknown key could fold onto a known one), or
* some field holds a value of another type than its own (a fraction or an exponent
  for an integer, an integer outside 64 bits, an object that is ``null``), or
* the version is not 1, an ``importedAt`` is not a time Go reads, an entry has both
  ``source`` and ``sources`` or an empty ``sources`` list.

Each of these is where the general reader reports a problem or has to fold a key,
so giving up costs only time. A repeated key is the one freedom left: orjson keeps
the last value, as Go does. Missing keys and ``null`` read as zero values, as in Go.
The records' own checks (:func:`cogw.core.lock.lockcheck.check_entry`) are not done
here: the caller runs them on both paths.
"""

from __future__ import annotations

from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import orjson
from pyrsistent import PVector, pvector

from cogw.core.lock.lockread import ENTRY_KEYS, FILE_KEYS, LAYER_KEYS, SOURCE_KEYS, is_go_time
from cogw.core.lock.lockrecords import (
    VERSION,
    ZERO_TIME,
    LockFile,
    LockLayer,
    LockSource,
    Shape,
    WeightEntry,
)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_TOP_KEYS = frozenset({"version", "envelopeFormat", "weights"})
_ENTRY_KEYS = frozenset(ENTRY_KEYS)
_SOURCE_KEYS = frozenset(SOURCE_KEYS)
_TIMED_SOURCE_KEYS = _SOURCE_KEYS | {"importedAt"}
_FILE_KEYS = frozenset(FILE_KEYS)
_LAYER_KEYS = frozenset(LAYER_KEYS)

Read = tuple[str, list[tuple[WeightEntry, Shape | None]]]


class _NotCanonical(Exception):
    """The general reader must decide: it may fold, refuse or report something here."""


def read_canonical(data: bytes) -> Read | None:
    """``(envelopeFormat, [(entry, its layout)])`` exactly as the general reader reads
    ``data`` when it finds no type problem; None when only the general reader can say."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    try:
        top = _fields(value, _TOP_KEYS)
        if _integer(top.get("version")) != VERSION:
            return None
        envelope = _string(top.get("envelopeFormat"))
        return envelope, [_entry(raw) for raw in _array(top.get("weights"))]
    except _NotCanonical:
        return None


def _fields(value: Any, keys: frozenset[str]) -> dict[str, Any]:
    if type(value) is not dict or not keys.issuperset(value):
        raise _NotCanonical
    return value


def _string(value: Any) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    raise _NotCanonical


def _integer(value: Any) -> int:
    if type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
        return value
    if value is None:
        return 0
    raise _NotCanonical


def _array(value: Any) -> list[Any]:
    if type(value) is list:
        return value
    if value is None:
        return []
    raise _NotCanonical


def _strings(value: Any) -> PVector[str]:
    return pvector([_string(item) for item in _array(value)])


def _time(value: Any) -> str:
    if value is None:
        return ZERO_TIME
    if type(value) is not str or not is_go_time(value):
        raise _NotCanonical
    return value


def _source(value: Any, keys: frozenset[str], imported_at: str | None) -> LockSource:
    if value is None:
        value = {}  # Go leaves the zero source
    f = _fields(value, keys)
    return LockSource(
        uri=_string(f.get("uri")),
        fingerprint=_string(f.get("fingerprint")),
        include=_strings(f.get("include")),
        exclude=_strings(f.get("exclude")),
        imported_at=_time(f.get("importedAt")) if imported_at is None else imported_at,
    )


def _sources(f: dict[str, Any]) -> tuple[list[LockSource], Shape | None]:
    if "sources" not in f:
        source = _source(f.get("source"), _TIMED_SOURCE_KEYS, None)
        return [source], (Shape.SOURCE if "source" in f else None)
    items = _array(f["sources"])
    if "source" in f or not items:
        raise _NotCanonical  # a problem the general reader reports
    imported_at = _time(f.get("importedAt"))
    first = _source(items[0], _SOURCE_KEYS, imported_at)
    return [first, *(_source(s, _SOURCE_KEYS, ZERO_TIME) for s in items[1:])], Shape.SOURCES


def _file(value: Any) -> LockFile:
    f = _fields(value, _FILE_KEYS)
    path, size, digest, layer = f.get("path"), f.get("size"), f.get("digest"), f.get("layer")
    if (
        type(path) is str
        and type(digest) is str
        and type(layer) is str
        and type(size) is int
        and _INT64_MIN <= size <= _INT64_MAX
    ):
        return LockFile(path, size, digest, layer)  # the record as Cog writes it
    return LockFile(_string(path), _integer(size), _string(digest), _string(layer))


# A file record's fields in LockFile's order; KeyError when one is missing.
_FILE_FIELDS = itemgetter("path", "size", "digest", "layer")


def _files(value: Any) -> PVector[LockFile]:
    raw = _array(value)
    rows = _cog_rows(raw)
    if rows is None:
        return pvector([_file(v) for v in raw])
    # What LockFile(path, size, digest, layer) does, without a Python call per file.
    return pvector(map(tuple.__new__, repeat(LockFile), rows))


def _cog_rows(raw: list[Any]) -> list[tuple[Any, ...]] | None:
    """Each file record as ``(path, size, digest, layer)`` when every one is as Cog writes
    it -- an object of exactly the four keys, three strings and a 64-bit integer -- which
    :func:`_file` reads as these same values; None when any one is not.

    Column by column, in C: a lockfile of 100 000 files has as many records."""
    if set(map(type, raw)) - {dict} or set(map(len, raw)) - {len(_FILE_KEYS)}:
        return None
    try:
        rows = list(map(_FILE_FIELDS, raw))
    except KeyError:
        return None  # four keys, but not these four
    flat = list(chain.from_iterable(rows))
    paths, sizes, digests, layers = (flat[i :: len(_FILE_KEYS)] for i in range(len(_FILE_KEYS)))
    if set().union(map(type, paths), map(type, digests), map(type, layers)) - {str}:
        return None
    if set(map(type, sizes)) - {int} or min(sizes, default=0) < _INT64_MIN:
        return None
    return rows if max(sizes, default=0) <= _INT64_MAX else None


def _layer(value: Any) -> LockLayer:
    f = _fields(value, _LAYER_KEYS)
    return LockLayer(
        digest=_string(f.get("digest")),
        media_type=_string(f.get("mediaType")),
        size=_integer(f.get("size")),
        size_uncompressed=_integer(f.get("sizeUncompressed")),
    )


def _entry(value: Any) -> tuple[WeightEntry, Shape | None]:
    f = _fields(value, _ENTRY_KEYS)
    sources, shape = _sources(f)
    entry = WeightEntry(
        name=_string(f.get("name")),
        target=_string(f.get("target")),
        source=sources[0],
        more_sources=pvector(sources[1:]),
        digest=_string(f.get("digest")),
        set_digest=_string(f.get("setDigest")),
        size=_integer(f.get("size")),
        size_compressed=_integer(f.get("sizeCompressed")),
        files=_files(f.get("files")),
        layers=pvector([_layer(v) for v in _array(f.get("layers"))]),
    )
    return entry, shape
