"""Rich bars on a terminal, drawn from a Tally: a bar per running layer or phase and
one for the download total. Sizes and rates use core's format_size (binary units,
as Cog and the result lines print them), never rich's decimal units; a finished
layer's bar goes away so the running ones stay on screen; rates and ETAs come from
rich's moving window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

from cogw.core.plan.events import Event, EventKind
from cogw.core.plan.render import format_size
from cogw.core.plan.rowbudget import row_budget, rows_to_show
from cogw.shell.progress_tally import TOTAL, Tally


class SizeColumn(ProgressColumn):
    """ "12.0MB/48.0MB", or "12.0MB" while the total is unknown."""

    def render(self, task: Task) -> Text:
        if task.fields.get("note"):
            return Text("")
        done = format_size(int(task.completed))
        if task.total is None:
            return Text(done, style="progress.download")
        return Text(f"{done}/{format_size(int(task.total))}", style="progress.download")


class RateColumn(ProgressColumn):
    """ "3.2MB/s" over rich's moving window (speed_estimate_period)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{format_size(int(speed))}/s" if speed else "", style="progress.data.speed")


def byte_columns() -> list[ProgressColumn]:
    return [SizeColumn(), RateColumn()]


class RichProgress:
    """Per-layer and per-phase byte bars plus the download total (rich)."""

    def __init__(self, stream: TextIO, tally: Tally, line: Callable[[Event], str]) -> None:
        self.tally = tally
        self.line = line  # the plain line of a milestone, printed above the bars
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            *byte_columns(),
            TimeRemainingColumn(),
            console=Console(file=stream),
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.started = False
        self.more: Any = None  # the "… N more running" row, when bars were left out

    def _draw(self, key: str) -> None:
        count = self.tally.counts[key]
        if not self.started:
            self.progress.start()
            self.started = True
        if key not in self.tasks:
            if count.finished and key != TOTAL:
                return
            self.tasks[key] = self.progress.add_task(count.label, total=count.total)
            self._fit()
        task = self.tasks[key]
        if count.finished and count.layer:  # collapse into the total, drawn full once
            self.progress.update(task, total=count.total, completed=count.done)
            self.progress.refresh()
            self.progress.remove_task(task)
            del self.tasks[key]
            self._fit()
            return
        self.progress.update(task, description=count.label, total=count.total, completed=count.done)

    def _fit(self) -> None:
        """Show only the bars the terminal has rows for (core/plan/rowbudget.py): a live
        display taller than the terminal scrolls its running layers out of sight."""
        pinned = {k for k in self.tasks if not self.tally.counts[k].layer}
        budget = row_budget(self.progress.console.height)
        shown = rows_to_show(list(self.tasks), pinned, budget)
        for key, task in self.tasks.items():
            self.progress.update(task, visible=key in shown.keys)
        if self.more is not None:
            self.progress.remove_task(self.more)
            self.more = None
        if shown.hidden:  # added anew, so drawn below every bar
            self.more = self.progress.add_task(shown.more_line(), total=None, note=True)

    def __call__(self, e: Event) -> None:
        for key in self.tally.observe(e):
            self._draw(key)
        if e.kind in (
            EventKind.WEIGHT_START,
            EventKind.WEIGHT_DONE,
            EventKind.STEP_FAILED,
            EventKind.LINKED,
        ):
            line = self.line(e)
            if line:
                self.progress.console.print(line, markup=False, highlight=False)

    def close(self) -> None:
        if not self.started:
            return
        # A total short of its mark after every layer finished (a phase that reports no
        # bytes) says finished; after Ctrl-C it stays where the work stopped.
        if TOTAL in self.tally.counts and self.tally.all_layers_finished():
            self.tally.finish(TOTAL)
            self._draw(TOTAL)
        self.progress.stop()
