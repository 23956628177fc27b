"""How many progress bars a terminal can show: the rows the live display may use.

A live display taller than the terminal cannot redraw itself: its top rows scroll away,
and with them the layers still running. So the bars shown are chosen to fit: the
pinned ones (the download total, an import's phases) first, then running layers in the
order they started; when some do not fit, the last row says how many more are running.
Finished layers are never here: they collapse into the total as they end.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

#: Rows kept free below the bars: the cursor's line, and one for a milestone line
#: printed above the bars while they redraw.
SPARE_ROWS = 2
MIN_ROWS = 2  # a total and the "more running" line, however small the terminal


@dataclass(frozen=True, slots=True)
class Shown:
    keys: tuple[str, ...]  # the bars to draw, in their order
    hidden: int  # running bars left out, counted on one more row

    def more_line(self) -> str:
        """The last row's words when bars were left out ("" when none were).

        >>> Shown(("a",), 3).more_line()
        '… 3 more running'
        """
        return f"… {self.hidden} more running" if self.hidden else ""


def row_budget(terminal_rows: int) -> int:
    """The rows the bars may take in a terminal of ``terminal_rows``.

    >>> row_budget(15), row_budget(3)
    (13, 2)
    """
    return max(MIN_ROWS, terminal_rows - SPARE_ROWS)


def rows_to_show(keys: Sequence[str], pinned: Collection[str], budget: int) -> Shown:
    """The bars of ``keys`` (in display order) that fit in ``budget`` rows, a row kept
    for the count of the others when they do not all fit.

    >>> rows_to_show(["total", "l1", "l2", "l3"], {"total"}, 3)
    Shown(keys=('total', 'l1'), hidden=2)
    >>> rows_to_show(["total", "l1"], {"total"}, 3)
    Shown(keys=('total', 'l1'), hidden=0)
    """
    if len(keys) <= budget:
        return Shown(tuple(keys), 0)
    room = max(budget - 1, 0)  # one row says how many more
    first = [k for k in keys if k in pinned][:room]
    running = [k for k in keys if k not in pinned][: room - len(first)]
    chosen = set(first) | set(running)
    shown = tuple(k for k in keys if k in chosen)
    return Shown(shown, len(keys) - len(shown))
