"""The local scenarios: prepare and status with a full store, and start-up of the CLI.

Start-up compares ``cogw --help``, ``cogw --version`` and ``cogw status`` with a bare
``python -c pass``, interleaved. These run with a warm page cache: an installed CLI's
modules are in memory when a user runs it, and dropping them would time the disk.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.interleave import Contender, run_interleaved
from benchmarks.measure import WARM, Measurement, Run
from benchmarks.scenarios import Bench

STARTUP_REPS_PER_REP = 3  # start-up runs are short: take more of them
#: Each timed start-up run is this many invocations back to back, its times divided by
#: them: one invocation lasts 35-150 ms, and on a shared machine a burst of other work
#: moved single invocations by 40-60%, wider than the gaps the targets are about.
STARTUP_BATCH = 5


@dataclass(frozen=True, slots=True)
class LocalResults:
    prepare: Measurement
    status: Measurement


@dataclass(frozen=True, slots=True)
class StartupResults:
    python: Measurement  # `python -c pass`: the interpreter alone
    help: Measurement
    version: Measurement
    status: Measurement

    @property
    def commands(self) -> tuple[Measurement, ...]:
        return (self.help, self.version, self.status)


def _then(one: Callable[[], Run], after: Callable[[], None]) -> Callable[[], Run]:
    def timed() -> Run:
        run = one()
        after()
        return run

    return timed


def bench_local(bench: Bench) -> LocalResults:
    """prepare (hardlinks into .cog/mounts, released after each run) and status, cache full."""
    runs = run_interleaved(
        [
            Contender(
                "prepare",
                _then(
                    lambda: bench.cogw_run("prepare", "--json", settle=WARM),
                    lambda: bench.quietly("release", "--all"),
                ),
            ),
            Contender("status", lambda: bench.cogw_run("status", settle=WARM)),
        ],
        bench.reps,
    )
    return LocalResults(
        Measurement("cogw prepare (hardlinks)", runs["prepare"], bench.workload.total_bytes),
        Measurement("cogw status", runs["status"], 0),
    )


def _batch(bench: Bench, argv: list[str]) -> Callable[[], Run]:
    """``argv`` run STARTUP_BATCH times in a row by one shell, timed as one run per call."""
    loop = " && ".join([shlex.join(argv)] * STARTUP_BATCH)

    def timed() -> Run:
        run = bench.run(["sh", "-c", loop], WARM)
        cpu = None if run.cpu_seconds is None else run.cpu_seconds / STARTUP_BATCH
        return Run(run.seconds / STARTUP_BATCH, run.peak_rss_kib, cpu)

    return timed


def bench_startup(bench: Bench) -> StartupResults:
    """The interpreter alone next to the three commands, interleaved, warm page cache;
    each run is the mean of STARTUP_BATCH invocations."""
    runs = run_interleaved(
        [
            Contender("python", _batch(bench, [bench.python, "-c", "pass"])),
            Contender("help", _batch(bench, [*bench.cogw, "--help"])),
            Contender("version", _batch(bench, [*bench.cogw, "--version"])),
            Contender("status", _batch(bench, [*bench.cogw, "status"])),
        ],
        bench.reps * STARTUP_REPS_PER_REP,
    )
    return StartupResults(
        Measurement("python -c pass (interpreter only)", runs["python"], 0),
        Measurement("cogw --help", runs["help"], 0),
        Measurement("cogw --version", runs["version"], 0),
        Measurement("cogw status (small project)", runs["status"], 0),
    )
