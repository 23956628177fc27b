"""split_for_pool: every index exactly once, large ones to the pool, in order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cogw.core.plan.workers import POOL_MIN_BYTES, split_for_pool

sizes_st = st.lists(st.one_of(st.none(), st.integers(0, 4 * POOL_MIN_BYTES)), max_size=60)


@given(sizes_st, st.integers(1, 16))
def test_every_index_goes_to_exactly_one_side_in_order(sizes: list[int | None], jobs: int) -> None:
    pool, here = split_for_pool(sizes, jobs)
    assert sorted(pool + here) == list(range(len(sizes)))
    assert list(pool) == sorted(pool) and list(here) == sorted(here)


@given(sizes_st, st.integers(2, 16))
def test_with_a_pool_the_large_and_unknown_go_to_it(sizes: list[int | None], jobs: int) -> None:
    pool, here = split_for_pool(sizes, jobs)
    assert all((s := sizes[i]) is None or s >= POOL_MIN_BYTES for i in pool)
    assert all((s := sizes[i]) is not None and s < POOL_MIN_BYTES for i in here)


def test_the_threshold_is_the_first_large_size() -> None:
    assert split_for_pool([POOL_MIN_BYTES - 1, POOL_MIN_BYTES], jobs=2) == ((1,), (0,))
    assert split_for_pool([5], jobs=2, pool_min=5) == ((0,), ())


@given(sizes_st)
def test_one_job_means_no_pool(sizes: list[int | None]) -> None:
    assert split_for_pool(sizes, 1) == ((), tuple(range(len(sizes))))
