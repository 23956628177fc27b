"""The progress bars that fit a terminal (core/plan/rowbudget.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cogw.core.plan.rowbudget import row_budget, rows_to_show


def test_twenty_running_layers_in_fifteen_rows_keep_the_total_and_the_oldest_layers() -> None:
    keys = ["total", *(f"layer{i}" for i in range(20))]
    shown = rows_to_show(keys, {"total"}, row_budget(15))
    assert shown.keys == ("total", *(f"layer{i}" for i in range(11)))
    assert shown.hidden == 9 and shown.more_line() == "… 9 more running"
    assert len(shown.keys) + 1 == row_budget(15)  # the bars and the "more" row fill it


@given(
    count=st.integers(0, 40),
    pinned=st.integers(0, 5),
    budget=st.integers(2, 30),
)
def test_the_bars_and_the_more_row_never_exceed_the_budget(
    count: int, pinned: int, budget: int
) -> None:
    keys = [f"p{i}" for i in range(pinned)] + [f"l{i}" for i in range(count)]
    shown = rows_to_show(keys, {f"p{i}" for i in range(pinned)}, budget)
    assert len(shown.keys) + (1 if shown.hidden else 0) <= budget
    assert len(shown.keys) + shown.hidden == len(keys)
    assert list(shown.keys) == [k for k in keys if k in shown.keys]  # order kept
    if shown.hidden:  # pinned bars go first
        pinned_shown = [k for k in shown.keys if k.startswith("p")]
        assert pinned_shown == keys[: len(pinned_shown)]
