"""How far each byte range of a download has been written, and the contiguous prefix
that may be hashed: the hashing thread of shell/pull_direct.py waits on it."""

from __future__ import annotations

import threading

from cogw.core.artifact.ranges import ByteRange


class RangeProgress:
    """How far each range has been written; the contiguous prefix may be hashed. Spans
    kept from an earlier, interrupted download count as written."""

    def __init__(
        self, ranges: tuple[ByteRange, ...], written_before: int, kept: tuple[ByteRange, ...] = ()
    ) -> None:
        self._ranges = ranges
        self._kept = kept
        self._received = [0] * len(ranges)
        self._before = written_before
        self._cond = threading.Condition()
        self._closed = False
        # (start, size, index into _received or -1 for a kept span), in blob order
        self._order = sorted(
            [(r.start, r.size, i) for i, r in enumerate(ranges)]
            + [(k.start, k.size, -1) for k in kept]
        )

    def add(self, index: int, n: int) -> None:
        with self._cond:
            self._received[index] += n
            self._cond.notify_all()

    def _contiguous(self) -> int:
        end = self._before
        for start, size, index in self._order:
            got = size if index < 0 else self._received[index]
            if start > end:
                break
            end = max(end, start + got)
            if got < size:
                break
        return end

    def written(self) -> int:
        """Bytes written by this download so far."""
        with self._cond:
            return sum(self._received)

    def spans(self) -> tuple[ByteRange, ...]:
        """Every span known to be written, for the partial's record."""
        with self._cond:
            pairs = zip(self._ranges, self._received, strict=True)
            done = [ByteRange(r.start, r.start + got) for r, got in pairs]
            return (ByteRange(0, self._contiguous()), *self._kept, *done)

    def wait_past(self, pos: int) -> int:
        """The contiguous end once it is beyond ``pos``; ``pos`` itself after close()."""
        with self._cond:
            while (end := self._contiguous()) <= pos and not self._closed:
                self._cond.wait()
            return end

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
