"""core/artifact/ranges.py: the stream count a setting asks for, which blobs are split, how, and
where a broken range resumes."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure

from cogw.core.artifact.ranges import (
    FAST_STREAM,
    MAX_STREAMS,
    MIN_RANGE,
    PROBE_BYTES,
    STREAMS_THRESHOLD,
    ByteRange,
    parse_streams,
    resume_point,
    split_ranges,
    streams_after_probe,
    streams_for,
)


@given(st.integers(0, 1 << 40), st.integers(0, 1 << 36), st.integers(1, 64))
def test_ranges_cover_the_span_in_order_without_gaps_or_overlaps(
    start: int, length: int, count: int
) -> None:
    ranges = split_ranges(start, start + length, count)
    assert sum(r.size for r in ranges) == length
    assert all(r.size > 0 for r in ranges)
    assert all(a.end == b.start for a, b in itertools.pairwise(ranges))
    if ranges:
        assert ranges[0].start == start and ranges[-1].end == start + length
        assert len(ranges) == min(count, length)
        assert max(r.size for r in ranges) - min(r.size for r in ranges) <= 1


@given(st.integers(0, 1 << 40), st.integers(1, MAX_STREAMS))
def test_streams_stay_within_the_setting_and_ranges_stay_large(size: int, streams: int) -> None:
    count = streams_for(size, streams)
    assert 1 <= count <= streams
    if size < STREAMS_THRESHOLD:
        assert count == 1
    if count > 1:
        assert size // count >= MIN_RANGE


def test_one_stream_means_never_split() -> None:
    assert streams_for(10 << 30, 1) == 1
    assert streams_after_probe(1, PROBE_BYTES, 10.0, 10 << 30) == 1


@given(
    st.integers(1, MAX_STREAMS),
    st.floats(1e-4, 100.0),
    st.integers(0, 1 << 40),
)
def test_a_fast_probe_keeps_one_stream_and_a_slow_one_splits_the_rest(
    streams: int, seconds: float, remaining: int
) -> None:
    count = streams_after_probe(streams, PROBE_BYTES, seconds, remaining)
    assert 1 <= count <= streams
    if PROBE_BYTES / seconds >= FAST_STREAM:
        assert count == 1
    elif remaining >= 2 * MIN_RANGE * streams:
        assert count == streams
    if count > 1:
        assert remaining // count >= MIN_RANGE


@given(st.integers(0, 1 << 30), st.integers(1, 1 << 30), st.integers(0, 1 << 31))
def test_a_resumed_range_asks_only_for_the_missing_bytes(
    start: int, size: int, received: int
) -> None:
    piece = ByteRange(start, start + size)
    rest = resume_point(piece, received)
    if received >= size:
        assert rest is None
    else:
        assert rest == ByteRange(start + received, piece.end)
        assert rest.header() == f"bytes={start + received}-{piece.end - 1}"


def test_bad_stream_settings_are_refused_with_their_origin() -> None:
    for value in ("", "0", "-1", "17", "two", "1.5"):
        result = parse_streams(value, "COGW_STREAMS")
        assert isinstance(result, Failure)
        assert result.failure().summary.startswith("COGW_STREAMS must be")
    assert parse_streams(" 16 ", "--streams").unwrap() == 16
