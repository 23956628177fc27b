"""Which weights fit before a pull, and the full-disk message."""

from __future__ import annotations

from cogw.core.cache.space import fitting, mentions_no_space, no_space


def test_weights_are_admitted_in_plan_order_while_they_fit() -> None:
    needs = [("a", 4), ("b", 4), ("c", 2), ("d", 0)]
    assert fitting(needs, has=6, known=True) == {"a", "c", "d"}
    assert fitting(needs, has=10, known=True) == {"a", "b", "c", "d"}
    assert fitting(needs, has=0, known=True) == {"d"}


def test_a_filesystem_without_a_size_is_not_judged() -> None:
    assert fitting([("a", 1 << 40)], has=0, known=False) == {"a"}


def test_the_message_says_where_how_much_and_what_to_do() -> None:
    d = no_space("/c/weights", 3 << 30, 512 << 20, subject="big")
    assert d.summary == "no space left on /c/weights (needs 3.0GB, has 512.0MB)"
    assert d.subject == "big"
    assert "cogw gc" in d.hint and "--cache-dir" in d.hint and "COG_CACHE_DIR" in d.hint


def test_the_raw_full_disk_wording_is_recognised() -> None:
    assert mentions_no_space("write sha256:ab: [Errno 28] No space left on device")
    assert not mentions_no_space("write sha256:ab: [Errno 5] Input/output error")
