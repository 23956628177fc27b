"""Resuming a large download: when a kept partial file can be trusted, and what is left to fetch.

A large standalone layer (one uncompressed file) is written straight into its file's
partial ``part-<file hex>`` beside the blob it will become; a small record beside it,
``part-<file hex>.resume``, says which layer it comes from, how many leading bytes were
hashed (and their sha256), and which byte spans had been written. A kill leaves both; the
next pull re-hashes the recorded prefix, and only when it matches does it keep the file
and ask for the missing bytes with ``Range``. These are the decisions behind that, as pure
functions: reading and writing the record, whether a partial may be resumed (or must be
discarded, and why), which ranges remain, when to record progress, whether a failed
download keeps its partial, and when a leftover partial is reclaimed.

Bytes kept beyond the hashed prefix (the spans other streams had written) are not
re-hashed before resuming; the whole file's digest still is checked before the file
becomes visible, and a mismatch discards the partial.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum

from cogw.core.artifact.ranges import ByteRange, split_ranges, streams_for
from cogw.core.digest import PREFIX, is_digest

PARTIAL_PREFIX = "part-"
RECORD_SUFFIX = ".resume"
#: A partial nobody resumed within a day is reclaimed by the next command that opens the store.
MAX_PARTIAL_AGE = 24 * 3600.0
#: Progress is recorded each time this many more bytes were written and at least
#: CHECKPOINT_SECONDS went by: on a slow link every 32 MiB, on a fast one about once a
#: second, so a kill loses at most about a second of download either way while a fast
#: pull does not wait on an fdatasync every few dozen milliseconds.
CHECKPOINT_BYTES = 32 << 20
CHECKPOINT_SECONDS = 1.0
_VERSION = 1


def partial_name(file_digest: str) -> str:
    """The partial's file name, from the digest of the file it will become.

    >>> partial_name("sha256:" + "ab" * 32)[:9]
    'part-abab'
    """
    return PARTIAL_PREFIX + file_digest.removeprefix(PREFIX)


def record_name(file_digest: str) -> str:
    return partial_name(file_digest) + RECORD_SUFFIX


@dataclass(frozen=True, slots=True)
class PartialKey:
    """What a partial is a prefix of: the file ``file_digest`` (``file_size`` bytes) that
    starts at byte ``data_start`` of the layer ``layer_digest`` (``layer_size`` bytes)."""

    layer_digest: str
    layer_size: int
    file_digest: str
    file_size: int
    data_start: int


@dataclass(frozen=True, slots=True)
class PartialRecord:
    """How far a partial got: its first ``verified`` bytes hash to ``verified_digest``;
    ``spans`` were written (file offsets, possibly beyond the hashed prefix)."""

    key: PartialKey
    verified: int
    verified_digest: str
    spans: tuple[ByteRange, ...] = ()


def encode_record(record: PartialRecord) -> bytes:
    key = record.key
    return json.dumps(
        {
            "version": _VERSION,
            "layer": key.layer_digest,
            "layer_size": key.layer_size,
            "file": key.file_digest,
            "file_size": key.file_size,
            "data_start": key.data_start,
            "verified": record.verified,
            "verified_digest": record.verified_digest,
            "spans": [[s.start, s.end] for s in record.spans],
        },
        separators=(",", ":"),
    ).encode()


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(value)
    return value


def _digest(value: object) -> str:
    if not isinstance(value, str) or not is_digest(value):
        raise ValueError(value)
    return value


def _spans(value: object) -> tuple[ByteRange, ...]:
    if not isinstance(value, list):
        raise ValueError(value)
    spans = []
    for item in value:
        if not isinstance(item, list) or len(item) != 2:
            raise ValueError(item)
        start, end = _int(item[0]), _int(item[1])
        if end < start:
            raise ValueError(item)
        spans.append(ByteRange(start, end))
    return tuple(spans)


def decode_record(data: bytes) -> PartialRecord | None:
    """The record, or None when it is not one this version wrote (torn, foreign, edited).

    >>> key = PartialKey("sha256:" + "a" * 64, 10, "sha256:" + "b" * 64, 8, 1)
    >>> record = PartialRecord(key, 4, "sha256:" + "c" * 64, (ByteRange(0, 6),))
    >>> decode_record(encode_record(record)) == record, decode_record(b"{")
    (True, None)
    """
    try:
        raw = json.loads(data)
        if not isinstance(raw, dict) or raw.get("version") != _VERSION:
            return None
        key = PartialKey(
            _digest(raw["layer"]),
            _int(raw["layer_size"]),
            _digest(raw["file"]),
            _int(raw["file_size"]),
            _int(raw["data_start"]),
        )
        return PartialRecord(
            key, _int(raw["verified"]), _digest(raw["verified_digest"]), _spans(raw["spans"])
        )
    except (ValueError, KeyError, TypeError, RecursionError):
        return None


@dataclass(frozen=True, slots=True)
class Resume:
    """Keep the partial: re-hash its first ``verified`` bytes (they must hash to
    ``verified_digest``), keep ``kept`` as written, and fetch ``fetch``."""

    verified: int
    verified_digest: str
    kept: tuple[ByteRange, ...]
    fetch: tuple[ByteRange, ...]


@dataclass(frozen=True, slots=True)
class Discard:
    """Start over from byte 0; ``reason`` says why the partial is not trusted."""

    reason: str


def merge_spans(spans: tuple[ByteRange, ...]) -> tuple[ByteRange, ...]:
    """Non-empty spans, sorted, with overlapping and adjacent ones joined.

    >>> merge_spans((ByteRange(5, 9), ByteRange(0, 3), ByteRange(3, 4), ByteRange(7, 7)))
    (ByteRange(start=0, end=4), ByteRange(start=5, end=9))
    """
    merged: list[ByteRange] = []
    for span in sorted((s for s in spans if s.size > 0), key=lambda s: (s.start, s.end)):
        if merged and span.start <= merged[-1].end:
            last = merged.pop()
            span = ByteRange(last.start, max(last.end, span.end))
        merged.append(span)
    return tuple(merged)


def missing_spans(size: int, have: tuple[ByteRange, ...]) -> tuple[ByteRange, ...]:
    """The spans of ``[0, size)`` not covered by ``have``.

    >>> missing_spans(10, (ByteRange(0, 3), ByteRange(5, 7)))
    (ByteRange(start=3, end=5), ByteRange(start=7, end=10))
    """
    missing: list[ByteRange] = []
    offset = 0
    for span in merge_spans(have):
        if span.start > offset:
            missing.append(ByteRange(offset, min(span.start, size)))
        offset = max(offset, span.end)
    if offset < size:
        missing.append(ByteRange(offset, size))
    return tuple(m for m in missing if m.size > 0)


def fetch_ranges(missing: tuple[ByteRange, ...], streams: int) -> tuple[ByteRange, ...]:
    """The ranges to request for ``missing``: one gap is split over the streams as a fresh
    download would be; several gaps (left by several streams) are one range each.

    >>> fetch_ranges((ByteRange(0, 100 << 20),), 4)[1]
    ByteRange(start=26214400, end=52428800)
    >>> len(fetch_ranges((ByteRange(0, 5), ByteRange(8, 9)), 4))
    2
    """
    if len(missing) == 1:
        gap = missing[0]
        return split_ranges(gap.start, gap.end, streams_for(gap.size, streams))
    return missing


def resume_decision(
    record: PartialRecord | None,
    key: PartialKey,
    data_size: int,
    age: float,
    fresh_start: int,
    streams: int = 1,
) -> Resume | Discard:
    """Whether a partial of ``data_size`` bytes, last written ``age`` seconds ago, may be
    resumed for ``key``. A fresh download would have the first ``fresh_start`` bytes from
    the layer's head already, so a partial holding less verified is not worth re-hashing.
    """
    if record is None:
        return Discard("no readable record of what it holds")
    if record.key != key:
        return Discard("it was recorded for another layer or file")
    if age > MAX_PARTIAL_AGE:
        return Discard("it is older than a day")
    spans = merge_spans(record.spans)
    end = max([record.verified, *(s.end for s in spans)])
    if end > key.file_size:
        return Discard("its record claims more bytes than the file has")
    if end > data_size:
        return Discard("it is shorter than its record says")
    if record.verified < fresh_start:
        return Discard("too little of it was verified to be worth keeping")
    kept = tuple(
        ByteRange(max(s.start, record.verified), s.end) for s in spans if s.end > record.verified
    )
    missing = missing_spans(key.file_size, (ByteRange(0, record.verified), *kept))
    return Resume(record.verified, record.verified_digest, kept, fetch_ranges(missing, streams))


def checkpoint_due(
    written: int, recorded: int, elapsed: float, interval: int = CHECKPOINT_BYTES
) -> bool:
    """Whether to record progress, ``written`` bytes in, last recorded at ``recorded``
    bytes ``elapsed`` seconds ago.

    >>> checkpoint_due(40 << 20, 0, 2.0), checkpoint_due(40 << 20, 30 << 20, 2.0)
    (True, False)
    >>> checkpoint_due(400 << 20, 0, 0.2)  # a fast link: not yet a second since the last
    False
    """
    return written - recorded >= interval and elapsed >= CHECKPOINT_SECONDS


class Failure(Enum):
    """Why a download of a partial stopped, as far as keeping the partial is concerned."""

    INTERRUPTED = "interrupted"  # Ctrl-C, SIGTERM, a kill
    NETWORK = "network"  # the registry or the connection gave up
    CORRUPT = "corrupt"  # a digest, size or layout check failed
    DISK = "disk"  # the disk refused a write (full, read-only, quota)


def keep_partial(failure: Failure) -> bool:
    """A partial is kept for the next pull when its bytes are still good and the next pull
    can use them; a corrupt one is useless, and one on a full disk takes the space needed.

    >>> [keep_partial(f) for f in Failure]
    [True, True, False, False]
    """
    return failure in (Failure.INTERRUPTED, Failure.NETWORK)


def reclaim_partial(
    *, locked: bool, has_data: bool, has_record: bool, blob_present: bool, age: float
) -> bool:
    """Whether the next command opening the store removes a leftover partial (and its
    record): never while a live process holds its lock; always once its blob exists, when
    half of the pair is missing, or after a day.

    >>> reclaim_partial(locked=False, has_data=True, has_record=True, blob_present=False, age=60)
    False
    >>> reclaim_partial(locked=False, has_data=True, has_record=False, blob_present=False, age=60)
    True
    """
    if locked:
        return False
    return blob_present or not (has_data and has_record) or age > MAX_PARTIAL_AGE
