"""core/artifact/resume.py: when a kept partial download is trusted, what is left to fetch,
when progress is recorded, which failures keep a partial and when leftovers are reclaimed."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cogw.core.artifact.ranges import ByteRange
from cogw.core.artifact.resume import (
    CHECKPOINT_BYTES,
    CHECKPOINT_SECONDS,
    MAX_PARTIAL_AGE,
    Discard,
    Failure,
    PartialKey,
    PartialRecord,
    Resume,
    checkpoint_due,
    decode_record,
    encode_record,
    fetch_ranges,
    keep_partial,
    merge_spans,
    missing_spans,
    partial_name,
    reclaim_partial,
    record_name,
    resume_decision,
)

MiB = 1 << 20
LAYER = "sha256:" + "1" * 64
FILE = "sha256:" + "2" * 64
PREFIX_DIGEST = "sha256:" + "3" * 64
KEY = PartialKey(LAYER, 200 * MiB + 2048, FILE, 200 * MiB, 512)
HEAD_HAVE = (64 << 10) - 512


def _record(verified: int, *spans: ByteRange, key: PartialKey = KEY) -> PartialRecord:
    return PartialRecord(key, verified, PREFIX_DIGEST, spans)


def test_names_say_which_file_the_partial_becomes() -> None:
    assert partial_name(FILE) == "part-" + "2" * 64
    assert record_name(FILE) == "part-" + "2" * 64 + ".resume"


def test_a_record_survives_encoding_and_a_torn_or_foreign_one_is_none() -> None:
    record = _record(40 * MiB, ByteRange(0, 40 * MiB), ByteRange(100 * MiB, 120 * MiB))
    data = encode_record(record)
    assert decode_record(data) == record
    for bad in (
        data[: len(data) // 2],
        b"",
        b"[]",
        b'{"version": 2}',
        data.replace(b'"verified":', b'"verified":-'),
        data.replace(LAYER.encode(), b"sha256:xyz"),
        b"[" * 100_000,
    ):
        assert decode_record(bad) is None, bad[:40]


def test_a_sound_partial_resumes_from_its_verified_prefix() -> None:
    decision = resume_decision(_record(40 * MiB, ByteRange(0, 41 * MiB)), KEY, 41 * MiB, 60, 0)
    assert decision == Resume(
        40 * MiB,
        PREFIX_DIGEST,
        (ByteRange(40 * MiB, 41 * MiB),),
        (ByteRange(41 * MiB, KEY.file_size),),
    )


def test_spans_written_by_other_streams_are_kept_and_only_the_gaps_fetched() -> None:
    spans = (ByteRange(0, 30 * MiB), ByteRange(50 * MiB, 80 * MiB), ByteRange(100 * MiB, 130 * MiB))
    decision = resume_decision(_record(30 * MiB, *spans), KEY, 130 * MiB, 60, HEAD_HAVE, 4)
    assert isinstance(decision, Resume)
    assert decision.kept == spans[1:]
    assert decision.fetch == (
        ByteRange(30 * MiB, 50 * MiB),
        ByteRange(80 * MiB, 100 * MiB),
        ByteRange(130 * MiB, KEY.file_size),
    )


@pytest.mark.parametrize(
    ("record", "data_size", "age", "reason"),
    [
        (None, 50 * MiB, 60, "no readable record"),
        (
            _record(40 * MiB, key=dataclasses.replace(KEY, layer_digest=FILE)),
            50 * MiB,
            60,
            "another",
        ),
        (_record(40 * MiB, key=dataclasses.replace(KEY, file_size=1)), 50 * MiB, 60, "another"),
        (_record(40 * MiB), 50 * MiB, MAX_PARTIAL_AGE + 1, "older than a day"),
        (_record(KEY.file_size + 1), KEY.file_size + 1, 60, "more bytes than the file has"),
        (_record(10 * MiB, ByteRange(0, 300 * MiB)), 300 * MiB, 60, "more bytes than"),
        (_record(40 * MiB), 39 * MiB, 60, "shorter than its record"),
        (_record(40 * MiB, ByteRange(60 * MiB, 70 * MiB)), 65 * MiB, 60, "shorter than"),
        (_record(1000), 50 * MiB, 60, "too little"),
    ],
)
def test_a_partial_that_cannot_be_trusted_is_discarded_with_a_reason(
    record: PartialRecord | None, data_size: int, age: float, reason: str
) -> None:
    decision = resume_decision(record, KEY, data_size, age, HEAD_HAVE)
    assert isinstance(decision, Discard) and reason in decision.reason


def test_a_complete_but_unpublished_partial_has_nothing_left_to_fetch() -> None:
    decision = resume_decision(_record(KEY.file_size), KEY, KEY.file_size, 60, HEAD_HAVE)
    assert isinstance(decision, Resume) and decision.fetch == ()


def test_one_gap_is_split_over_the_streams_like_a_fresh_download() -> None:
    gap = (ByteRange(10 * MiB, 210 * MiB),)
    assert len(fetch_ranges(gap, 4)) == 4 and len(fetch_ranges(gap, 1)) == 1
    assert len(fetch_ranges((ByteRange(0, 10 * MiB),), 4)) == 1  # below the threshold


spans_st = st.lists(
    st.tuples(st.integers(0, 1000), st.integers(0, 200)).map(
        lambda t: ByteRange(t[0], t[0] + t[1])
    ),
    max_size=8,
)


@given(spans_st, st.integers(0, 1300))
def test_missing_and_have_partition_the_file(have: list[ByteRange], size: int) -> None:
    missing = missing_spans(size, tuple(have))
    covered = {b for s in have for b in range(s.start, min(s.end, size))}
    gaps = {b for s in missing for b in range(s.start, s.end)}
    assert covered.isdisjoint(gaps) and covered | gaps == set(range(size))
    assert list(missing) == sorted(missing, key=lambda s: s.start)


@given(spans_st)
def test_merged_spans_cover_the_same_bytes_without_touching(spans: list[ByteRange]) -> None:
    merged = merge_spans(tuple(spans))
    assert {b for s in merged for b in range(s.start, s.end)} == {
        b for s in spans for b in range(s.start, s.end)
    }
    assert all(a.end < b.start for a, b in itertools.pairwise(merged))


def test_progress_is_recorded_every_checkpoint_interval() -> None:
    slow = CHECKPOINT_SECONDS * 4
    assert not checkpoint_due(CHECKPOINT_BYTES - 1, 0, slow)
    assert checkpoint_due(CHECKPOINT_BYTES, 0, slow)
    assert not checkpoint_due(2 * CHECKPOINT_BYTES - 1, CHECKPOINT_BYTES, slow)


def test_a_fast_download_records_progress_about_once_a_second_not_every_interval() -> None:
    assert not checkpoint_due(10 * CHECKPOINT_BYTES, 0, CHECKPOINT_SECONDS / 2)
    assert checkpoint_due(10 * CHECKPOINT_BYTES, 0, CHECKPOINT_SECONDS)


def test_only_an_interrupted_or_broken_off_download_keeps_its_partial() -> None:
    assert keep_partial(Failure.INTERRUPTED) and keep_partial(Failure.NETWORK)
    assert not keep_partial(Failure.CORRUPT) and not keep_partial(Failure.DISK)


@pytest.mark.parametrize(
    ("locked", "has_data", "has_record", "blob_present", "age", "removed"),
    [
        (True, True, True, True, MAX_PARTIAL_AGE * 2, False),  # a live pull holds it
        (False, True, True, False, 60, False),  # resumable: kept
        (False, True, True, False, MAX_PARTIAL_AGE + 1, True),  # nobody came back for a day
        (False, True, True, True, 60, True),  # the blob arrived another way
        (False, True, False, False, 60, True),  # killed before the first record
        (False, False, True, False, 60, True),  # a record of a partial that is gone
    ],
)
def test_leftover_partials_are_reclaimed_only_when_nobody_can_resume_them(
    locked: bool, has_data: bool, has_record: bool, blob_present: bool, age: float, removed: bool
) -> None:
    verdict = reclaim_partial(
        locked=locked, has_data=has_data, has_record=has_record, blob_present=blob_present, age=age
    )
    assert verdict is removed
