"""Buffers held for the hasher of a large standalone layer (shell/arrived.py): kept only
near the hasher and only a bounded number of them; the hasher takes them at its position
and reads the file no further than the next held one."""

from __future__ import annotations

from cogw.shell.arrived import Arrived


def _view(n: int) -> memoryview:
    return memoryview(bytearray(n))


def test_a_buffer_at_the_hasher_is_kept_and_taken_once() -> None:
    arrived = Arrived(limit=2, window=100)
    view = _view(10)
    assert arrived.offer(0, view)
    assert arrived.take(0) is view
    assert arrived.take(0) is None


def test_buffers_far_ahead_of_the_hasher_or_over_the_limit_are_not_kept() -> None:
    arrived = Arrived(limit=2, window=100)
    assert not arrived.offer(100, _view(10))  # outside the window
    assert arrived.offer(0, _view(10)) and arrived.offer(10, _view(10))
    assert not arrived.offer(20, _view(10))  # the limit is reached
    arrived.hashed(50)
    assert arrived.offer(100, _view(10))  # the window moved with the hasher


def test_the_file_is_read_only_up_to_the_next_held_buffer() -> None:
    arrived = Arrived(limit=4, window=1000)
    arrived.offer(40, _view(10))
    arrived.offer(80, _view(10))
    assert arrived.read_limit(0, 500) == 40
    assert arrived.read_limit(50, 500) == 80
    assert arrived.read_limit(90, 500) == 500


def test_buffers_behind_the_hasher_are_dropped() -> None:
    arrived = Arrived(limit=4, window=1000)
    arrived.offer(10, _view(10))
    arrived.hashed(30)
    assert arrived.take(10) is None
    assert not arrived.offer(20, _view(10))  # behind the hasher: it read that from the file
