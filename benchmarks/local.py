"""The local scenarios: prepare and status with a full store, and start-up of the CLI.

Start-up compares ``cogw --help``, ``cogw --version`` and ``cogw status`` with a bare
``python -c pass``, interleaved. These run with a warm page cache: an installed CLI's
modules are in memory when a user runs it, and dropping them would time the disk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.interleave import Contender, run_interleaved
from benchmarks.measure import WARM, Measurement, Run
from benchmarks.scenarios import Bench

STARTUP_REPS_PER_REP = 3  # start-up runs are short: take more of them


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


def bench_startup(bench: Bench) -> StartupResults:
    """The interpreter alone next to the three commands, interleaved, warm page cache."""
    runs = run_interleaved(
        [
            Contender("python", lambda: bench.run([bench.python, "-c", "pass"], WARM)),
            Contender("help", lambda: bench.cogw_run("--help", settle=WARM)),
            Contender("version", lambda: bench.cogw_run("--version", settle=WARM)),
            Contender("status", lambda: bench.cogw_run("status", settle=WARM)),
        ],
        bench.reps * STARTUP_REPS_PER_REP,
    )
    return StartupResults(
        Measurement("python -c pass (interpreter only)", runs["python"], 0),
        Measurement("cogw --help", runs["help"], 0),
        Measurement("cogw --version", runs["version"], 0),
        Measurement("cogw status (small project)", runs["status"], 0),
    )
