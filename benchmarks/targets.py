"""The issue's performance targets, judged against one run's results.

Knows each target's threshold and which two measurements it compares; the verdict
(met, missed, undecided) comes from every repetition, not from medians (verdict.py).
Pure: takes results, returns verdicts; does not measure or format pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.bigweight import BigResults
from benchmarks.local import LocalResults, StartupResults
from benchmarks.measure import Measurement
from benchmarks.profiling import Profile
from benchmarks.scale import ScaleResults
from benchmarks.scenarios import ImportResults, PullResults
from benchmarks.streams import StreamsResults
from benchmarks.verdict import Verdict, below, faster, within

PULL_VS_FLOOR = 1.3  # cogw pull at most this many times the verified, durable download
PULL_VS_SKOPEO = 2.0  # cogw pull at least this many times faster than skopeo copy
IMPORT_VS_FLOOR = 1.3  # cold import at most this many times the hash + upload floor
UNCHANGED_IMPORT_S = 0.5
PULL_RSS_MB = 150.0
IMPORT_RSS_MB = 200.0
SCALE_VS_PEER = 1.5  # many small files: import, pull, prepare vs their floors
SCALE_S = 1.0  # status/plan on 100 000 locked files, config check of 3 000 weights
STARTUP_VS_PYTHON = 2.0
STREAMS_VS_CURL = 3.0  # many streams at least this many times faster than one curl stream


@dataclass(frozen=True, slots=True)
class SizeResults:
    size_mib: int
    imports: ImportResults
    pulls: PullResults


@dataclass(frozen=True, slots=True)
class Results:
    facts: Sequence[tuple[str, str]]
    reps: int
    small_files: int
    small_bytes: int
    rss_tool: str
    sizes: Sequence[SizeResults]
    local: LocalResults
    startup: StartupResults
    scale: ScaleResults | None
    profiles: Sequence[Profile]
    streams: StreamsResults | None = None  # None: not run (--no-streams)
    big: BigResults | None = None  # None: not run (--no-big)


@dataclass(frozen=True, slots=True)
class Target:
    goal: str
    measured: str
    verdict: Verdict


def format_seconds(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


def format_mb(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def spread_of(m: Measurement) -> str:
    return f"{m.min_seconds:.3f} / {m.seconds:.3f} / {m.max_seconds:.3f} s"


def _runs(m: Measurement, ref: Measurement) -> str:
    return f"min/median/max {spread_of(m)} vs {spread_of(ref)}"


def _at_most(goal: str, m: Measurement, ref: Measurement, factor: float) -> Target:
    ratio = m.seconds / ref.seconds
    text = f"{ratio:.2f}× its time (medians; {_runs(m, ref)})"
    return Target(goal, text, within(m.wall, ref.wall, factor))


def _faster(goal: str, m: Measurement, peer: Measurement, factor: float) -> Target:
    speedup = peer.seconds / m.seconds
    text = f"{speedup:.2f}× faster (medians; {_runs(m, peer)})"
    return Target(goal, text, faster(m.wall, peer.wall, factor))


def _under(goal: str, m: Measurement, limit: float) -> Target:
    return Target(goal, spread_of(m), below(m.wall, limit))


def _memory(goal: str, m: Measurement, limit_mb: float) -> Target:
    peak = m.peak_rss_mb
    verdict = below([peak], limit_mb) if peak is not None else Verdict.UNDECIDED
    return Target(goal, f"{format_mb(peak)} MB (worst run)", verdict)


def size_targets(s: SizeResults) -> list[Target]:
    p, i, at = s.pulls, s.imports, f" ({s.size_mib} MiB)"
    return [
        _at_most(f"pull ≤ {PULL_VS_FLOOR}× the pull floor{at}", p.cogw, p.floor, PULL_VS_FLOOR),
        _faster(
            f"pull ≥ {PULL_VS_SKOPEO}× faster than skopeo{at}", p.cogw, p.skopeo, PULL_VS_SKOPEO
        ),
        _at_most(
            f"cold import ≤ {IMPORT_VS_FLOOR}× its floor{at}", i.cold, i.floor, IMPORT_VS_FLOOR
        ),
        _under(
            f"unchanged re-import < {UNCHANGED_IMPORT_S} s{at}", i.unchanged, UNCHANGED_IMPORT_S
        ),
        _memory(f"pull peak RSS < {PULL_RSS_MB:.0f} MB{at}", p.cogw, PULL_RSS_MB),
        _memory(f"import peak RSS < {IMPORT_RSS_MB:.0f} MB{at}", i.cold, IMPORT_RSS_MB),
    ]


def streams_target(s: StreamsResults) -> Target:
    goal = (
        f"many streams ≥ {STREAMS_VS_CURL:g}× faster than one curl stream through a "
        f"{s.rate / 1e6:g} MB/s-per-connection proxy ({s.size_mib} MiB)"
    )
    return _faster(goal, s.cogw, s.curl, STREAMS_VS_CURL)


def big_targets(b: BigResults) -> list[Target]:
    at = f" ({b.size_mib} MiB)"
    return [
        _memory(f"pull peak RSS < {PULL_RSS_MB:.0f} MB{at}", b.pulls, PULL_RSS_MB),
        _memory(f"import peak RSS < {IMPORT_RSS_MB:.0f} MB{at}", b.imports, IMPORT_RSS_MB),
    ]


def scale_targets(s: ScaleResults) -> list[Target]:
    n = f"{s.files} files"
    return [
        _at_most(f"import of {n} ≤ 1.5× hash + upload", *s.imports, SCALE_VS_PEER),
        _at_most(f"pull of {n} ≤ 1.5× tar -x + sync", *s.pulls, SCALE_VS_PEER),
        _at_most(f"prepare of {n} ≤ 1.5× cp -al", *s.prepares, SCALE_VS_PEER),
        _under(f"status, {s.locked_files} locked files < 1 s", s.status, SCALE_S),
        _under(f"plan, {s.locked_files} locked files < 1 s", s.plan, SCALE_S),
        _under(f"config check of {s.config_weights} weights < 1 s", s.config, SCALE_S),
    ]


def startup_targets(st: StartupResults) -> list[Target]:
    return [
        _at_most(f"{m.label} ≤ 2× python -c pass", m, st.python, STARTUP_VS_PYTHON)
        for m in st.commands
    ]


def targets(r: Results) -> list[Target]:
    """Every target with what was measured and its verdict."""
    verdicts = [t for s in r.sizes for t in size_targets(s)]
    if r.streams is not None:
        verdicts.append(streams_target(r.streams))
    if r.big is not None:
        verdicts += big_targets(r.big)
    if r.scale is not None:
        verdicts += scale_targets(r.scale)
    return verdicts + startup_targets(r.startup)
