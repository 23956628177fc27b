"""The benchmark's pure decisions: run order, spread, and target verdicts (no timing)."""

from __future__ import annotations

import pytest

from benchmarks import profiling
from benchmarks.interleave import Contender, interleaved_order, run_interleaved
from benchmarks.measure import SPREAD_LIMIT, Measurement, Run, spread
from benchmarks.streams import StreamsResults
from benchmarks.targets import streams_target
from benchmarks.verdict import Verdict, below, faster, within


def test_contenders_alternate_run_by_run() -> None:
    order = interleaved_order(["a", "b", "c"], 2)
    assert [name for _, name in order] == ["a", "b", "c", "a", "b", "c"]
    assert [rep for rep, _ in order] == [0, 0, 0, 1, 1, 1]


def test_run_interleaved_calls_contenders_in_that_order() -> None:
    calls: list[str] = []

    def timed(name: str) -> Contender:
        return Contender(name, lambda: calls.append(name) or Run(float(len(calls))))

    runs = run_interleaved([timed("a"), timed("b")], 3)
    assert calls == ["a", "b", "a", "b", "a", "b"]
    assert [r.seconds for r in runs["a"]] == [1.0, 3.0, 5.0]
    assert [r.seconds for r in runs["b"]] == [2.0, 4.0, 6.0]


def measurement(*seconds: float) -> Measurement:
    return Measurement("m", tuple(Run(s) for s in seconds), 0)


def test_spread_is_range_over_median_and_flags_above_the_limit() -> None:
    assert spread([1.0, 1.1, 1.2]) == pytest.approx(0.2 / 1.1)
    assert not measurement(1.0, 1.1, 1.2).noisy
    wide = measurement(1.0, 1.1, 1.4)
    assert wide.spread == pytest.approx(0.4 / 1.1) and wide.spread > SPREAD_LIMIT
    assert wide.noisy
    assert (wide.min_seconds, wide.seconds, wide.max_seconds) == (1.0, 1.1, 1.4)


def test_within_is_met_only_when_the_slowest_run_beats_the_bound_on_the_fastest() -> None:
    floor = [1.0, 1.2, 1.4]
    assert within([1.1, 1.2, 1.3], floor, 1.3) is Verdict.MET  # 1.3 ≤ 1.3 × 1.0
    assert within([1.1, 1.2, 1.31], floor, 1.3) is Verdict.UNDECIDED
    assert within([1.9, 2.0], floor, 1.3) is Verdict.MISSED  # 1.9 > 1.3 × 1.4
    assert within([1.8, 2.0], floor, 1.3) is Verdict.UNDECIDED  # 1.8 < 1.82


def test_median_that_meets_the_target_is_undecided_when_the_spread_hides_the_gap() -> None:
    # Median ratio 1.0, but cogw's worst run is twice the floor's best.
    assert within([0.6, 1.0, 2.0], [1.0, 1.0, 1.0], 1.3) is Verdict.UNDECIDED


def test_faster_needs_every_run_to_beat_the_peer_by_the_factor() -> None:
    skopeo = [4.0, 4.4]
    assert faster([1.5, 2.0], skopeo, 2.0) is Verdict.MET
    assert faster([1.5, 2.1], skopeo, 2.0) is Verdict.UNDECIDED
    assert faster([2.3, 2.5], skopeo, 2.0) is Verdict.MISSED


def test_below_an_absolute_limit() -> None:
    assert below([0.2, 0.9], 1.0) is Verdict.MET
    assert below([0.9, 1.1], 1.0) is Verdict.UNDECIDED
    assert below([1.0, 1.5], 1.0) is Verdict.MISSED


def streams(cogw: tuple[float, ...], curl: tuple[float, ...]) -> StreamsResults:
    one = measurement(11.0, 12.0)
    return StreamsResults(256, 25e6, 1, measurement(*cogw), one, measurement(*curl), {})


def test_many_streams_must_beat_the_fastest_curl_run_by_three_every_time() -> None:
    curl = (11.7, 12.0, 12.6)  # the bound: 11.7 / 3 = 3.9 s for cogw's slowest run
    target = streams_target(streams((3.5, 3.8, 3.85), curl))
    assert target.goal == (
        "many streams ≥ 3× faster than one curl stream through a 25 MB/s-per-connection "
        "proxy (256 MiB)"
    )
    assert target.verdict is Verdict.MET
    assert target.measured.startswith("3.16× faster (medians; min/median/max 3.500 / 3.800")
    assert streams_target(streams((3.5, 3.8, 4.0), curl)).verdict is Verdict.UNDECIDED
    assert streams_target(streams((4.3, 4.6), curl)).verdict is Verdict.MISSED  # 4.3 > 12.6 / 3


@pytest.mark.parametrize(
    ("function", "category"),
    [
        ("<built-in method posix.pwrite>", "disk writes"),
        ("<built-in method posix.write>", "disk writes"),
        ("<built-in method posix.pread>", "disk reads"),
        ("<built-in method posix.fdatasync>", "fsync"),
        ("<method 'update' of '_hashlib.HASH' objects>", "sha256 hashing"),
        ("shell/pull.py:10(fetch)", profiling.OTHER),
    ],
)
def test_profile_rows_fall_in_the_category_of_the_work_they_do(
    function: str, category: str
) -> None:
    # A positional write is a disk write: counting it as Python code hid the pull's writes.
    assert profiling.category_of(function) == category
