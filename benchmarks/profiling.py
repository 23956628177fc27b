"""cProfile of one cogw command across all its threads, and the hot spots it shows.

Run as ``python benchmarks/profiling.py OUT.prof -- cogw-args...`` in the project
directory: it runs cogw's CLI in this process with a profiler in the main thread and
in every thread started afterwards (the transfer and hashing pools), then merges them,
and counts the bytes cogw hashes with sha256.
Time threads spend blocked on locks (waiting for pool results) is idle, not work, so
the summary leaves it out. Does not change cogw; knows only its CLI entry point.
"""

from __future__ import annotations

import cProfile
import hashlib
import pstats
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Builtins in which a thread only waits for another (pool workers for work, callers for
# results, back-off sleeps): idle time, not work.
IDLE = frozenset(
    {
        "<method 'acquire' of '_thread.lock' objects>",
        "<method 'acquire' of '_thread.RLock' objects>",
        "<method 'get' of '_queue.SimpleQueue' objects>",
        "<built-in method time.sleep>",
    }
)

# Where own time goes, by function name fragment; first match wins, the rest is Python.
CATEGORIES = (
    ("sha256 hashing", ("of '_hashlib.HASH' objects",)),
    ("fsync", ("posix.fsync", "posix.fdatasync", "sync_filesystem")),
    ("disk writes", ("posix.write", "posix.pwrite", "'write' of '_io.")),
    ("disk reads", ("'readinto' of '_io.", "'read' of '_io.", "posix.read", "posix.pread")),
    ("network send", ("'sendall' of '_socket.", "'send' of '_socket.")),
    ("network receive", ("'recv_into' of '_socket.", "'recv' of '_socket.")),
    ("deflate (gzip: Go-compatible C, or zlib)", ("_goflate.", "zlib.")),
    (
        "start-up: imports, regex and TLS setup",
        (
            "builtins.compile",
            "builtins.exec",
            "marshal.",
            "importlib",
            "load_verify_locations",
            "_parser.py",
            "_compiler.py",
        ),
    ),
)
OTHER = "Python code (copies, parsing, bookkeeping)"


@dataclass(frozen=True, slots=True)
class HotSpot:
    function: str  # "file.py:123(name)" or a builtin's name
    calls: int
    own_seconds: float  # time in the function itself, summed over threads


@dataclass(frozen=True, slots=True)
class Profile:
    command: str
    busy_seconds: float  # all non-idle own time, summed over threads
    hot_spots: tuple[HotSpot, ...]
    categories: tuple[tuple[str, float], ...]  # (category, own seconds), largest first
    hashed_bytes: int | None  # bytes fed to sha256 in the whole command


def category_of(function: str) -> str:
    for name, fragments in CATEGORIES:
        if any(fragment in function for fragment in fragments):
            return name
    return OTHER


def _categorize(rows: list[HotSpot]) -> tuple[tuple[str, float], ...]:
    totals: dict[str, float] = {}
    for row in rows:
        name = category_of(row.function)
        totals[name] = totals.get(name, 0.0) + row.own_seconds
    return tuple(sorted(totals.items(), key=lambda item: item[1], reverse=True))


class _HashCounter:
    """Counts the bytes every sha256 object is fed: how many passes over the data a
    command makes, measured exactly rather than guessed from time. cogw calls
    ``hashlib.sha256(...)`` at run time, so replacing the constructor reaches all of it."""

    def __init__(self) -> None:
        self.total = 0
        self._guard = threading.Lock()

    def add(self, data: Any) -> None:
        with self._guard:
            self.total += memoryview(data).nbytes

    def install(self) -> None:
        original = hashlib.sha256
        counter = self

        class CountingHash:
            def __init__(self, data: Any = b"", **kwargs: Any) -> None:
                self._inner = original(data, **kwargs)
                counter.add(data)

            def update(self, data: Any) -> None:
                counter.add(data)
                self._inner.update(data)

            def __getattr__(self, name: str) -> Any:
                return getattr(self._inner, name)

        hashlib.sha256 = CountingHash  # type: ignore[assignment]


def hashed_path(profile: Path) -> Path:
    return profile.with_suffix(".hashed")


def _profile_new_threads(finished: list[cProfile.Profile]) -> None:
    original = threading.Thread.run
    guard = threading.Lock()

    def profiled_run(self: threading.Thread) -> None:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            original(self)
        finally:
            profiler.disable()
            with guard:
                finished.append(profiler)

    threading.Thread.run = profiled_run  # type: ignore[method-assign]


def _run_cli(args: Sequence[str]) -> int:
    from cogw.shell.cli import cli  # imported under the profiler: start-up is part of the cost

    try:
        cli.main(args=list(args), prog_name="cogw")  # in standalone mode it always exits
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def profile_cli(out: Path, args: Sequence[str]) -> int:
    finished: list[cProfile.Profile] = []
    _profile_new_threads(finished)
    hashed = _HashCounter()
    hashed.install()
    main = cProfile.Profile()
    main.enable()
    try:
        code = _run_cli(args)
    finally:
        main.disable()
    stats = pstats.Stats(main)
    for profiler in finished:
        stats.add(profiler)
    stats.dump_stats(str(out))
    hashed_path(out).write_text(str(hashed.total))
    return code


def _label(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    parts = Path(filename).parts
    short = "/".join(parts[-2:]) if "cogw" in parts or "shell" in parts else parts[-1]
    return f"{short}:{line}({name})"


def summarize(path: Path, command: str, top: int = 12) -> Profile:
    """The ``top`` functions by own time, idle lock waits left out."""
    raw: dict[tuple[str, int, str], Any] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    rows = [
        HotSpot(_label(key), int(value[1]), float(value[2]))
        for key, value in raw.items()
        if key[2] not in IDLE
    ]
    rows.sort(key=lambda row: row.own_seconds, reverse=True)
    busy = sum(r.own_seconds for r in rows)
    counted = hashed_path(path)
    hashed = int(counted.read_text()) if counted.exists() else None
    return Profile(command, busy, tuple(rows[:top]), _categorize(rows), hashed)


def main(argv: Sequence[str]) -> int:
    if len(argv) < 2 or argv[1] != "--":
        print("usage: python benchmarks/profiling.py OUT.prof -- COGW-ARGS...", file=sys.stderr)
        return 2
    return profile_cli(Path(argv[0]), argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
