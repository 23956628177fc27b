"""Drawing progress events: rich bars on a terminal, plain lines otherwise,
JSON lines with --json, nothing with -q. All of it goes to stderr, so stdout
stays clean for --json results and `prepare --docker` flags.

Imports of rich happen only when a terminal is drawn, keeping `cogw --help` fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

import orjson

from cogw.core.digest import format_digest_short, short_digest
from cogw.core.events import Event, EventKind
from cogw.core.statusview import format_size

Sink = Callable[[Event], None]
OnBytes = Callable[[int], None]


class PlainProgress:
    """Cog-style lines (`Pulling alpha... (3 file(s))`), one per milestone."""

    def __init__(self, stream: TextIO, verbose: bool = False) -> None:
        self.stream = stream
        self.verbose = verbose

    def __call__(self, e: Event) -> None:
        line = self.line(e)
        if line:
            print(line, file=self.stream, flush=True)

    def line(self, e: Event) -> str:
        k = e.kind
        if k is EventKind.WEIGHT_START:
            return f"Pulling {e.weight}... ({e.missing_files} file(s))"
        if k is EventKind.WEIGHT_DONE:
            return (
                f"Pulling {e.weight}... done ({format_size(e.bytes_fetched)}, "
                f"{e.files_fetched} file(s), {e.layers_fetched} layer(s))"
            )
        if k is EventKind.LAYER_START and self.verbose:
            size = format_size(e.layer_size) if e.layer_size else "unknown size"
            return f"  layer {short_digest(e.layer_digest)} ({size})"
        if k is EventKind.FILE_STORED and self.verbose:
            return f"    {e.path} ({format_size(e.file_size)}) {short_digest(e.file_digest)}"
        if k is EventKind.STEP_FAILED and e.layer_digest:
            # A weight fetches several layers at once: say which one broke.
            return f"{e.weight}: layer {format_digest_short(e.layer_digest)} failed: {e.message}"
        if k is EventKind.STEP_FAILED:
            return f"{e.weight}: failed: {e.message}"
        if k is EventKind.PHASE and not e.weight:
            return f"Downloading {format_size(e.nbytes)} ({e.message})"
        if k is EventKind.PHASE:
            return f"{e.weight}: {e.phase} ({format_size(e.nbytes)})"
        if k is EventKind.PUSH_BLOB and self.verbose:
            return f"  {e.message} {short_digest(e.layer_digest)} ({format_size(e.layer_size)})"
        if k is EventKind.LINKED:
            return f"Linked {e.weight} ({e.total_files} file(s)) → {e.target}"
        return ""


class JsonProgress:
    """One JSON object per event on stderr (machine-readable progress)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, e: Event) -> None:
        if e.kind is EventKind.BYTES:
            return  # too chatty for logs; totals arrive with the done events
        self.stream.write(orjson.dumps({"event": e.to_json()}).decode() + "\n")
        self.stream.flush()


TOTAL = "\0total"  # task key of the all-layers bar; no layer digest or weight looks like it


class RichProgress:
    """Per-layer and total byte bars with rate and ETA (rich)."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.plain = PlainProgress(stream)
        self.console = Console(file=stream)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.totals: dict[str, int | None] = {}
        self.started = False

    def _task(self, key: str, description: str, total: int | None) -> Any:
        if not self.started:
            self.progress.start()
            self.started = True
        if key not in self.tasks:
            self.tasks[key] = self.progress.add_task(description, total=total)
            self.totals[key] = total
        return self.tasks[key]

    def _complete(self, key: str) -> None:
        # Byte counts can fall short of the total (a phase that reports no bytes,
        # a download restarted from zero); a finished bar should say finished.
        total = self.totals.get(key)
        if key in self.tasks and total is not None:
            self.progress.update(self.tasks[key], completed=total)

    def _complete_phases(self, weight: str) -> None:
        # Phases have no "done" event: the next phase starting means the earlier
        # ones ended. Weight names never hold "/", so the prefix is unambiguous.
        for key in [k for k in self.tasks if k.startswith(f"{weight}/")]:
            self._complete(key)

    def __call__(self, e: Event) -> None:
        k = e.kind
        if k is EventKind.LAYER_START:
            self._task(
                e.layer_digest, f"{e.weight} {short_digest(e.layer_digest)}", e.layer_size or None
            )
        elif k is EventKind.LAYER_DONE:
            self._complete(e.layer_digest)
        elif k is EventKind.PHASE and not e.weight:
            self._task(TOTAL, f"total ({e.message})", e.nbytes or None)
        elif k is EventKind.PHASE:
            self._complete_phases(e.weight)
            self._task(f"{e.weight}/{e.phase}", f"{e.weight} {e.phase}", e.nbytes or None)
        elif k is EventKind.BYTES:
            key = e.layer_digest if e.layer_digest in self.tasks else f"{e.weight}/{e.phase}"
            if key in self.tasks:
                self.progress.update(self.tasks[key], advance=e.nbytes)
            if not e.phase and TOTAL in self.tasks:  # download bytes also feed the total bar
                self.progress.update(self.tasks[TOTAL], advance=e.nbytes)
        elif k in (
            EventKind.WEIGHT_START,
            EventKind.WEIGHT_DONE,
            EventKind.STEP_FAILED,
            EventKind.LINKED,
        ):
            line = self.plain.line(e)
            if line:
                self.progress.console.print(line, markup=False, highlight=False)

    def close(self) -> None:
        if self.started:
            self._complete(TOTAL)
            self.progress.stop()


def make_progress(
    json_mode: bool, quiet: bool, verbose: bool = False, stream: TextIO | None = None
) -> tuple[Sink, Callable[[], None]]:
    """The event sink for the chosen output mode, and a function that finishes it."""
    out = stream or sys.stderr
    if quiet:
        return (lambda _e: None), (lambda: None)
    if json_mode:
        return JsonProgress(out), (lambda: None)
    if out.isatty() and not verbose:
        rich = RichProgress(out)
        return rich, rich.close
    return PlainProgress(out, verbose), (lambda: None)


def hashing_progress(
    enabled: bool, stream: TextIO | None = None
) -> tuple[OnBytes, Callable[[], None]]:
    """A byte counter for hashing sources before an import plan exists: a rich bar with
    rate on a terminal, nothing otherwise (hashing has no natural milestones to print)."""
    out = stream or sys.stderr
    if not enabled or not out.isatty():
        return (lambda _n: None), (lambda: None)
    from rich.console import Console
    from rich.progress import (
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TransferSpeedColumn,
    )

    bar = Progress(
        SpinnerColumn(),
        TextColumn("hashing sources"),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(file=out),
        transient=True,
    )
    task = bar.add_task("hash", total=None)
    bar.start()
    return (lambda n: bar.update(task, advance=n)), bar.stop
