"""Timing and peak memory of one run: a child process or an in-process function.

Knows how to time a command by wall clock, read its peak resident set size (through
GNU time's ``%M`` when /usr/bin/time exists, else the children's rusage), settle the
machine the same way before every timed run (``sync``, and dropping the page cache when
asked), and summarise repetitions as min/median/max with their spread. Does not know
what the commands are or what a target is.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

GNU_TIME = "/usr/bin/time"
LOG_TAIL = 2000
DROP_CACHES = Path("/proc/sys/vm/drop_caches")
SPREAD_LIMIT = 0.25  # (max - min) / median above this: the figure is too noisy to decide


class CommandFailed(Exception):
    """A benchmarked command exited non-zero; the message carries its output's tail."""


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float  # wall clock
    peak_rss_kib: int | None = None
    cpu_seconds: float | None = None  # user + system; unlike wall time, barely moved by load


@dataclass(frozen=True, slots=True)
class Measurement:
    label: str
    runs: tuple[Run, ...]
    nbytes: int  # bytes the operation moves, for throughput; 0 when throughput is meaningless

    @property
    def seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def wall(self) -> tuple[float, ...]:
        return tuple(r.seconds for r in self.runs)

    @property
    def min_seconds(self) -> float:
        return min(self.wall)

    @property
    def max_seconds(self) -> float:
        return max(self.wall)

    @property
    def spread(self) -> float:
        return spread(self.wall)

    @property
    def noisy(self) -> bool:
        return self.spread > SPREAD_LIMIT

    @property
    def mb_per_s(self) -> float | None:
        if not self.nbytes or self.seconds <= 0:
            return None
        return self.nbytes / self.seconds / 1e6

    @property
    def cpu_seconds(self) -> float | None:
        cpu = [r.cpu_seconds for r in self.runs if r.cpu_seconds is not None]
        return statistics.median(cpu) if len(cpu) == len(self.runs) else None

    @property
    def peak_rss_mb(self) -> float | None:
        """The worst peak over all runs: a memory target must hold every time."""
        peaks = [r.peak_rss_kib for r in self.runs if r.peak_rss_kib is not None]
        return max(peaks) * 1024 / 1e6 if peaks else None


def spread(values: Sequence[float]) -> float:
    """(max - min) / median: how far apart the repetitions of one figure are."""
    middle = statistics.median(values)
    return (max(values) - min(values)) / middle if middle > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Settle:
    """What happens before every timed run: always ``sync``; with ``drop``, the page cache
    is dropped too, so every contender reads from disk (cold) rather than from memory."""

    drop: bool

    def __call__(self) -> None:
        os.sync()
        if self.drop:
            DROP_CACHES.write_text("3\n")

    @property
    def description(self) -> str:
        if self.drop:
            return "dropped (`sync; echo 3 > /proc/sys/vm/drop_caches`) before every timed run"
        return "warm (`sync` only before every timed run)"


def can_drop_caches() -> bool:
    """Whether this process may drop the page cache (root, a writable /proc/sys)."""
    try:
        with DROP_CACHES.open("w") as out:
            out.write("1\n")
    except OSError:
        return False
    return True


WARM = Settle(drop=False)


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-LOG_TAIL:]
    except OSError:
        return ""


def _parse_gnu_time(text: str) -> tuple[int | None, float | None]:
    """``%M %U %S`` (peak KiB, user s, system s) from GNU time's last line."""
    lines = text.strip().splitlines()
    fields = lines[-1].split() if lines else []
    try:
        return int(fields[0]), float(fields[1]) + float(fields[2])
    except (IndexError, ValueError):
        return None, None


def _run_with_gnu_time(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path
) -> tuple[float, int, int | None, float | None]:
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats, log.open("ab") as out:
        wrapped = [GNU_TIME, "-f", "%M %U %S", "-o", stats.name, *argv]
        start = time.perf_counter()
        code = subprocess.run(wrapped, cwd=cwd, env=env, stdout=out, stderr=out).returncode
        seconds = time.perf_counter() - start
        peak, cpu = _parse_gnu_time(Path(stats.name).read_text())
    return seconds, code, peak, cpu


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def _run_with_rusage(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path
) -> tuple[float, int, int | None, float | None]:
    # ru_maxrss of RUSAGE_CHILDREN is the largest child so far: it names this child's
    # peak only when that peak is a new maximum, so otherwise report nothing.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with log.open("ab") as out:
        start = time.perf_counter()
        code = subprocess.run(argv, cwd=cwd, env=env, stdout=out, stderr=out).returncode
        seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = after.ru_maxrss if after.ru_maxrss > before.ru_maxrss else None
    return seconds, code, peak, _cpu(after) - _cpu(before)


def run_command(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    settle: Settle = WARM,
    exit_codes: tuple[int, ...] = (0,),
) -> Run:
    """Run ``argv`` once after settling (flushing dirty pages, so earlier writes do not
    slow it, and dropping the page cache if ``settle`` says so)."""
    settle()
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
    runner = _run_with_gnu_time if os.access(GNU_TIME, os.X_OK) else _run_with_rusage
    seconds, code, peak, cpu = runner(argv, cwd, env, log)
    if code not in exit_codes:
        raise CommandFailed(f"{' '.join(argv)} exited {code}:\n{_tail(log)}")
    return Run(seconds, peak, cpu)


def _cpu_so_far() -> float:
    """This process's CPU time plus its finished children's (the floor's curl)."""
    return _cpu(resource.getrusage(resource.RUSAGE_SELF)) + _cpu(
        resource.getrusage(resource.RUSAGE_CHILDREN)
    )


def run_function(fn: Callable[[], object], settle: Settle = WARM) -> Run:
    """Time an in-process function (the import floor), after settling as commands are."""
    settle()
    cpu = _cpu_so_far()
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    return Run(seconds, None, _cpu_so_far() - cpu)


def peak_rss_tool() -> str:
    return "GNU time %M" if os.access(GNU_TIME, os.X_OK) else "getrusage(RUSAGE_CHILDREN)"
