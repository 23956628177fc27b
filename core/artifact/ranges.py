"""Many streams for one large blob: how many, which byte ranges, where each resumes.

A single TCP stream is what limits a download from a remote registry or CDN; a large
layer is fetched as a few byte ranges in parallel instead. These are the decisions
behind that, as pure functions: the number of streams a setting (``--streams`` or
``COGW_STREAMS``) asks for, whether a blob is worth splitting, how a span of bytes
is split, and what a broken range asks for when it resumes.
"""

from __future__ import annotations

from dataclasses import dataclass

from returns.result import Failure, Result, Success

from cogw.core.diagnostics import Diagnostic

#: Streams a slow link gets unless a number is asked for: one capped stream is what a
#: remote registry or CDN gives (about 29 MB/s reported for a cloud registry, 165 MB/s
#: with 8), and a fast local link keeps one stream whatever this is (streams_after_probe).
DEFAULT_STREAMS = 8
MAX_STREAMS = 16
#: Below this a blob is fetched in one stream: the extra requests would cost more than
#: they save.
STREAMS_THRESHOLD = 64 << 20
#: No range is smaller than this, so a blob just above the threshold gets few streams.
MIN_RANGE = 16 << 20
STREAMS_ENV = "COGW_STREAMS"
#: The first bytes of a blob that may get several streams are fetched in one, timed: the
#: link's speed decides whether splitting the rest is worth it.
PROBE_BYTES = 16 << 20
#: One stream at least this fast (bytes per second) is not what limits the download (a
#: loopback or LAN registry): more streams would only compete for the CPU that hashes
#: and writes the bytes, and on a small machine make the pull slower.
FAST_STREAM = 250e6


#: Receive buffers of all the streams of one blob together stay under about this much,
#: so memory is flat however many streams are asked for; one stream on a fast link gets
#: the largest buffer (fewest Python calls per MiB), many slow streams smaller ones.
STREAM_BUFFERS = 16 << 20
MIN_BUFFER = 1 << 20
MAX_BUFFER = 4 << 20


def stream_buffer(streams: int) -> int:
    """Bytes one read of each of ``streams`` parallel ranges asks for.

    >>> stream_buffer(1) >> 20, stream_buffer(8) >> 20, stream_buffer(16) >> 20
    (4, 2, 1)
    """
    return max(MIN_BUFFER, min(MAX_BUFFER, STREAM_BUFFERS // max(1, streams)))


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``start`` up to, not including, ``end`` of a blob."""

    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start

    def header(self, received: int = 0) -> str:
        """The ``Range`` header asking for what is still missing after ``received`` bytes.

        >>> ByteRange(100, 200).header(), ByteRange(100, 200).header(30)
        ('bytes=100-199', 'bytes=130-199')
        """
        return f"bytes={self.start + received}-{self.end - 1}"


def parse_streams(value: str, origin: str) -> Result[int, Diagnostic]:
    """The number of streams a setting asks for: 1 (one stream) to MAX_STREAMS.

    >>> parse_streams("8", "--streams").unwrap()
    8
    >>> parse_streams("0", "COGW_STREAMS").failure().summary
    'COGW_STREAMS must be a whole number from 1 to 16, not "0"'
    """
    text = value.strip()
    if text.isdigit() and 1 <= int(text) <= MAX_STREAMS:
        return Success(int(text))
    return Failure(
        Diagnostic(
            f'{origin} must be a whole number from 1 to {MAX_STREAMS}, not "{value}"',
            hint="--streams 1 downloads every blob in one stream",
        )
    )


def streams_for(size: int, streams: int, threshold: int = STREAMS_THRESHOLD) -> int:
    """How many streams a blob of ``size`` bytes gets: 1 under the threshold, and never
    so many that a range would be smaller than MIN_RANGE.

    >>> streams_for(10 << 20, 4), streams_for(512 << 20, 4), streams_for(70 << 20, 8)
    (1, 4, 4)
    """
    if streams <= 1 or size < threshold:
        return 1
    return max(1, min(streams, size // MIN_RANGE))


def streams_after_probe(streams: int, probed: int, seconds: float, remaining: int) -> int:
    """How many streams fetch the ``remaining`` bytes after ``probed`` bytes took
    ``seconds`` in one stream: one when that stream was fast, else what the setting
    allows for the rest (never a range under MIN_RANGE).

    >>> streams_after_probe(4, 16 << 20, 0.02, 500 << 20)  # ~840 MB/s: loopback
    1
    >>> streams_after_probe(4, 16 << 20, 0.6, 500 << 20)  # ~28 MB/s: a remote registry
    4
    >>> streams_after_probe(4, 16 << 20, 0.6, 20 << 20)  # too little left to split
    1
    """
    if streams <= 1 or remaining <= 0:
        return 1
    if seconds > 0 and probed / seconds >= FAST_STREAM:
        return 1
    return streams_for(remaining, streams, threshold=2 * MIN_RANGE)


def split_ranges(start: int, end: int, count: int) -> tuple[ByteRange, ...]:
    """``[start, end)`` as ``count`` adjacent ranges of nearly equal size, in order
    (fewer when there are fewer bytes than ranges; none for an empty span).

    >>> split_ranges(0, 10, 3)
    (ByteRange(start=0, end=4), ByteRange(start=4, end=7), ByteRange(start=7, end=10))
    """
    total = max(0, end - start)
    count = max(1, min(count, total))
    if total == 0:
        return ()
    base, extra = divmod(total, count)
    ranges = []
    offset = start
    for index in range(count):
        size = base + (1 if index < extra else 0)
        ranges.append(ByteRange(offset, offset + size))
        offset += size
    return tuple(ranges)


def resume_point(piece: ByteRange, received: int) -> ByteRange | None:
    """What remains of ``piece`` after ``received`` bytes arrived; None when complete.

    >>> resume_point(ByteRange(10, 20), 4), resume_point(ByteRange(10, 20), 10)
    (ByteRange(start=14, end=20), None)
    """
    if received >= piece.size:
        return None
    return ByteRange(piece.start + received, piece.end)
