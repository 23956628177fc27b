"""weights.lock entries read from Go-decoded JSON into records, in either of Cog's layouts.

Every field is read the way Go fills a struct (see :mod:`cogw.core.lock.godecode`),
``importedAt`` must be a time Go can read back, and an entry whose fields all
have the right types is then checked (:mod:`cogw.core.lock.lockcheck`). This module
knows one entry at a time and which layout (``"source"`` or ``"sources"``) it
uses; whole-file rules (version, unique names and targets) are the parser's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any

from pyrsistent import PVector, pvector

from cogw.core.diagnostics import Diagnostic
from cogw.core.lock.godecode import Number, Object, Reader
from cogw.core.lock.lockcheck import HINT_REWRITE, check_entry, entry_subject
from cogw.core.lock.lockrecords import (
    ZERO_TIME,
    LockFile,
    LockLayer,
    LockSource,
    Shape,
    WeightEntry,
)
from cogw.core.paths import quote

# The keys of each record of weights.lock, in the order Cog writes them (the fast reader
# of core/lock/fastread.py accepts the same sets).
ENTRY_KEYS = (
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
SOURCE_KEYS = ("uri", "fingerprint", "include", "exclude")
FILE_KEYS = ("path", "size", "digest", "layer")
_FILE_KEY_SET = frozenset(FILE_KEYS)
LAYER_KEYS = ("digest", "mediaType", "size", "sizeUncompressed")
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
    r"(?:Z|[+-]([0-9]{2}):([0-9]{2}))"
)
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in(month: int, year: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 29 if month == 2 and leap else _DAYS_IN_MONTH[month - 1]


def is_go_time(text: str) -> bool:
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


def _read_time(value: Any, path: str, reader: Reader) -> str:
    if value is None:
        return ZERO_TIME  # Go leaves the zero time, and writes it back as such
    if not isinstance(value, str):
        reader.wrong_type(path, "an RFC 3339 time string", value)
        return ZERO_TIME
    if not is_go_time(value):
        reader.problem(
            f"{path} {quote(value)} is not an RFC 3339 time",
            'Cog writes e.g. "2026-04-29T17:23:00.414483Z" and cannot read anything else',
        )
        return ZERO_TIME
    return value


def _read_source(value: Any, path: str, reader: Reader, *, with_time: bool) -> LockSource:
    keys = (*SOURCE_KEYS, "importedAt") if with_time else SOURCE_KEYS
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


def _read_source_list(f: dict[str, Any], reader: Reader) -> list[LockSource]:
    items = reader.array(f.get("sources"), "sources")
    if not items:
        reader.problem("holds no source", "a weight's sources list names where its files came from")
    sources = [
        _read_source(item, f"sources[{i}]", reader, with_time=False)
        for i, item in enumerate(items or [None])
    ]
    imported_at = _read_time(f.get("importedAt"), "importedAt", reader)
    sources[0] = dataclasses.replace(sources[0], imported_at=imported_at)
    return sources


def _read_any_source(f: dict[str, Any], reader: Reader) -> tuple[list[LockSource], Shape | None]:
    """The entry's sources in whichever layout it uses, and that layout (None: no source key)."""
    if "source" in f and "sources" in f:
        reader.problem(
            'has both "source" and "sources"',
            'Cog v0.19.3 writes a "source" object, later Cog a "sources" list; an entry has one',
        )
    if "sources" in f and "source" not in f:
        return _read_source_list(f, reader), Shape.SOURCES
    source = _read_source(f.get("source"), "source", reader, with_time=True)
    return [source], (Shape.SOURCE if "source" in f else None)


def _plain_file(value: Any) -> LockFile | None:
    """The file when written as Cog and cogw write it (the four keys once each, ASCII
    strings, a size of at most 18 digits), read without the general reader; else None.
    The general reader gives the same record for it: this only skips its bookkeeping."""
    if type(value) is not Object or len(value) != len(FILE_KEYS):
        return None
    (k1, path), (k2, size), (k3, digest), (k4, layer) = value
    if (k1, k2, k3, k4) != FILE_KEYS:  # in another order, or another spelling
        if {k1, k2, k3, k4} != _FILE_KEY_SET:
            return None
        f = dict(value)
        path, size, digest, layer = f["path"], f["size"], f["digest"], f["layer"]
    if type(path) is not str or type(digest) is not str or type(layer) is not str:
        return None
    if type(size) is not Number or not size.integral or len(size.text) > 18:
        return None
    if not (path.isascii() and digest.isascii() and layer.isascii()):
        return None
    return LockFile(path=path, size=int(size.text), digest=digest, layer=layer)


def _read_files(values: list[Any], reader: Reader) -> PVector[LockFile]:
    return pvector(
        _plain_file(v) or _read_file(v, f"files[{i}]", reader) for i, v in enumerate(values)
    )


def _read_file(value: Any, path: str, reader: Reader) -> LockFile:
    f = reader.fields(value, path, FILE_KEYS, path)
    return LockFile(
        path=reader.string(f.get("path"), f"{path}.path"),
        size=reader.integer(f.get("size"), f"{path}.size"),
        digest=reader.string(f.get("digest"), f"{path}.digest"),
        layer=reader.string(f.get("layer"), f"{path}.layer"),
    )


def _read_layer(value: Any, path: str, reader: Reader) -> LockLayer:
    f = reader.fields(value, path, LAYER_KEYS, path)
    return LockLayer(
        digest=reader.string(f.get("digest"), f"{path}.digest"),
        media_type=reader.string(f.get("mediaType"), f"{path}.mediaType"),
        size=reader.integer(f.get("size"), f"{path}.size"),
        size_uncompressed=reader.integer(f.get("sizeUncompressed"), f"{path}.sizeUncompressed"),
    )


def read_entry(
    raw: Any, index: int, filename: str, problems: list[Diagnostic]
) -> tuple[WeightEntry, Shape | None]:
    """``weights[index]`` as a record, and its layout (None: it has no source key).

    Problems are appended to ``problems``; a field of the wrong type reads as its zero value.
    """
    before = len(problems)
    bare = Reader(entry_subject(filename, index, ""), problems, HINT_REWRITE)
    f = bare.fields(raw, f"weights[{index}]", ENTRY_KEYS, "")
    name = bare.string(f.get("name"), "name")
    reader = Reader(entry_subject(filename, index, name), problems, HINT_REWRITE)
    sources, shape = _read_any_source(f, reader)
    files = reader.array(f.get("files"), "files")
    layers = reader.array(f.get("layers"), "layers")
    entry = WeightEntry(
        name=name,
        target=reader.string(f.get("target"), "target"),
        source=sources[0],
        more_sources=pvector(sources[1:]),
        digest=reader.string(f.get("digest"), "digest"),
        set_digest=reader.string(f.get("setDigest"), "setDigest"),
        size=reader.integer(f.get("size"), "size"),
        size_compressed=reader.integer(f.get("sizeCompressed"), "sizeCompressed"),
        files=_read_files(files, reader),
        layers=pvector(_read_layer(v, f"layers[{i}]", reader) for i, v in enumerate(layers)),
    )
    if len(problems) == before:
        # Checking the zero values left by a type problem would only repeat it.
        problems.extend(check_entry(entry, reader.subject))
    return entry, shape


def lock_shape(shapes: Iterable[Shape | None], filename: str, problems: list[Diagnostic]) -> Shape:
    """The file's layout from its entries' layouts; a mix is a problem (and reads as SOURCE)."""
    found = {shape for shape in shapes if shape is not None}
    if len(found) > 1:
        problems.append(
            Diagnostic(
                summary='mixes the "source" and "sources" layouts',
                detail='some weights use Cog v0.19.3\'s "source" object, others later '
                'Cog\'s "sources" list; a file uses one layout',
                subject=filename,
                hint=HINT_REWRITE,
            )
        )
        return Shape.SOURCE
    return found.pop() if found else Shape.SOURCE
