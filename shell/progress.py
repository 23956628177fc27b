"""Drawing progress events: rich bars on a terminal, plain lines otherwise,
JSON lines with --json, nothing with -q. All of it goes to stderr, so stdout
stays clean for --json results and `prepare --docker` flags.

Imports of rich happen only when a terminal is drawn, keeping `cogw --help` fast.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import orjson

from cogw.core.cache.space import mentions_no_space
from cogw.core.digest import format_digest_short, short_digest
from cogw.core.plan.events import SKIPPED_PUSHES, Event, EventKind, push_skip_words
from cogw.core.plan.statusview import format_size
from cogw.shell.progress_tally import TOTAL, Count, Tally

Sink = Callable[[Event], None]
OnBytes = Callable[[int], None]
Clock = Callable[[], float]
JSON_EVERY = 1.0  # seconds between a counter's JSON progress events
PLAIN_EVERY = 5.0  # seconds between plain progress lines during a long transfer


#: Per-layer lines that --verbose holds until their layer ends.
HELD_KINDS = (EventKind.LAYER_START, EventKind.FILE_STORED)


class PlainProgress:
    """Cog-style lines (`Pulling alpha... (3 file(s))`), one per milestone."""

    def __init__(self, stream: TextIO, verbose: bool = False) -> None:
        self.stream = stream
        self.verbose = verbose
        # --verbose: a running layer's lines, held until it ends, so layers fetched side
        # by side do not interleave their files in a log.
        self.held: dict[str, list[str]] = {}

    def __call__(self, e: Event) -> None:
        line = self.line(e)
        key = e.layer_digest
        if self.verbose and e.kind in HELD_KINDS and key:
            if line:
                self.held.setdefault(key, []).append(line)
            return
        if key in self.held and e.kind in (EventKind.LAYER_DONE, EventKind.STEP_FAILED):
            self._write(self.held.pop(key))
        if line:
            self._write([line])

    def close(self) -> None:
        """Lines of layers that never ended (an interrupt) still reach the log."""
        for lines in self.held.values():
            self._write(lines)
        self.held.clear()

    def _write(self, lines: list[str]) -> None:
        print("\n".join(lines), file=self.stream, flush=True)

    def line(self, e: Event) -> str:
        k = e.kind
        if k is EventKind.WEIGHT_START:
            return f"Pulling {e.weight}... ({e.missing_files} file(s))"
        if k is EventKind.WEIGHT_DONE:
            return (
                f"Pulling {e.weight}... done ({format_size(e.bytes_fetched)}, "
                f"{e.files_fetched} file(s), {e.layers_fetched} layer(s))"
            )
        if k is EventKind.STEP_FAILED and e.layer_digest:
            # A weight fetches several layers at once: say which one broke.
            why = "no space left" if mentions_no_space(e.message) else e.message  # said below
            return f"{e.weight}: layer {format_digest_short(e.layer_digest)} failed: {why}"
        if k is EventKind.STEP_FAILED:
            return f"{e.weight}: failed"  # the reason is the summary's error line, said once
        if k is EventKind.PHASE and not e.weight:
            return f"Downloading {format_size(e.nbytes)} ({e.message})"
        if k is EventKind.PHASE:
            return f"{e.weight}: {e.phase} ({format_size(e.nbytes)})"
        if k is EventKind.LINKED:
            return f"Linked {e.weight} ({e.total_files} file(s)) → {e.target}"
        if k is EventKind.PUSH_BLOB and e.message in SKIPPED_PUSHES:
            # The push phase's line counted these bytes; say they were not sent.
            return f"{e.weight}: {push_skip_words(e.message, e.layer_digest, e.layer_size)}"
        return self._detail_line(e) if self.verbose else ""

    @staticmethod
    def _detail_line(e: Event) -> str:
        """The per-layer, per-file and per-blob lines that only --verbose shows."""
        k = e.kind
        if k is EventKind.LAYER_START:
            size = format_size(e.layer_size) if e.layer_size else "unknown size"
            return f"  layer {short_digest(e.layer_digest)} ({size})"
        if k is EventKind.LAYER_DONE and e.message:
            return f"  layer {short_digest(e.layer_digest)} from {e.message}"
        if k is EventKind.FILE_STORED:
            return f"    {e.path} ({format_size(e.file_size)}) {short_digest(e.file_digest)}"
        if k is EventKind.PUSH_BLOB:
            return f"  {e.message} {short_digest(e.layer_digest)} ({format_size(e.layer_size)})"
        if k is EventKind.NOTE:
            return e.message
        return ""


class JsonProgress:
    """One JSON object per event on stderr (machine-readable progress); byte counts
    become a "progress" event with bytesDone and bytesTotal, at most once a second per
    counter and always when one completes."""

    def __init__(self, stream: TextIO, tally: Tally, clock: Clock = time.monotonic) -> None:
        self.stream = stream
        self.tally = tally
        self.clock = clock
        self.last: dict[str, float] = {}

    def _write(self, value: dict[str, Any]) -> None:
        self.stream.write(orjson.dumps({"event": value}).decode() + "\n")
        self.stream.flush()

    def __call__(self, e: Event) -> None:
        changed = self.tally.observe(e)
        if e.kind is not EventKind.BYTES:
            self._write(e.to_json())
            return
        now = self.clock()
        for key in changed:
            if key == TOTAL:
                continue  # the sum of the layers' events; every event names its weight
            count = self.tally.counts[key]
            complete = count.total is not None and count.done >= count.total
            if not complete and now - self.last.get(key, -1e9) < JSON_EVERY:
                continue
            self.last[key] = now
            self._write(progress_json(count))


def progress_json(count: Count) -> dict[str, Any]:
    value: dict[str, Any] = {"kind": "progress", "bytesDone": count.done}
    value["bytesTotal"] = count.total
    value.update({k: v for k, v in (("weight", count.weight), ("phase", count.phase)) if v})
    if count.layer:
        value["layerDigest"] = count.layer
    return value


class PlainLog:
    """Plain progress lines, plus a line per running counter every few seconds during
    long transfers, so a log shows a transfer is alive."""

    def __init__(
        self, stream: TextIO, tally: Tally, verbose: bool = False, clock: Clock = time.monotonic
    ) -> None:
        self.plain = PlainProgress(stream, verbose)
        self.tally = tally
        self.clock = clock
        self.stream = stream
        self.last = clock()

    def close(self) -> None:
        self.plain.close()

    def __call__(self, e: Event) -> None:
        self.tally.observe(e)
        self.plain(e)
        if e.kind is EventKind.BYTES and self.clock() - self.last >= PLAIN_EVERY:
            self.last = self.clock()
            for count in self.tally.counts.values():
                if count.done and not count.finished:
                    print(count_line(count), file=self.stream, flush=True)


def count_line(count: Count) -> str:
    """ "alpha push: 12.0MB/48.0MB (25%)" — Cog's binary units, as everywhere."""
    if not count.total:
        return f"{count.label}: {format_size(count.done)}"
    percent = int(100 * count.done / count.total)
    return f"{count.label}: {format_size(count.done)}/{format_size(count.total)} ({percent}%)"


def make_progress(
    json_mode: bool,
    quiet: int,
    verbose: bool = False,
    stream: TextIO | None = None,
    download_total: int = 0,
) -> tuple[Sink, Callable[[], None]]:
    """The event sink for the chosen output mode, and a function that finishes it.
    ``download_total`` (from the plan) bounds the total bar before any layer starts."""
    out = stream or sys.stderr
    if quiet:
        return (lambda _e: None), (lambda: None)
    tally = Tally(download_total)
    if json_mode:
        return JsonProgress(out, tally), (lambda: None)
    if out.isatty() and not verbose:
        from cogw.shell.progress_rich import RichProgress

        rich = RichProgress(out, tally, PlainProgress(out).line)
        return rich, rich.close
    log = PlainLog(out, tally, verbose)
    return log, log.close


def hashing_progress(
    enabled: bool, stream: TextIO | None = None
) -> tuple[OnBytes, Callable[[], None]]:
    """A byte counter for hashing sources before an import plan exists: a rich bar with
    rate on a terminal, nothing otherwise (hashing has no natural milestones to print)."""
    out = stream or sys.stderr
    if not enabled or not out.isatty():
        return (lambda _n: None), (lambda: None)
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from cogw.shell.progress_rich import byte_columns

    bar = Progress(
        SpinnerColumn(),
        TextColumn("hashing sources"),
        *byte_columns(),
        console=Console(file=out),
        transient=True,
    )
    task = bar.add_task("hash", total=None)
    bar.start()
    return (lambda n: bar.update(task, advance=n)), bar.stop
