"""The issue's performance targets, judged against one run's results.

Knows each target's threshold and which two measurements it compares. Pure: takes
results, returns verdicts; does not measure or format pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.measure import Measurement
from benchmarks.profiling import Profile
from benchmarks.scenarios import ImportResults, LocalResults, PullResults

PULL_VS_SKOPEO = 2.0  # cogw pull at least this many times faster than skopeo copy
PULL_VS_CURL = 1.5  # cogw pull at most this many times slower than curl -o
PULL_RSS_MB = 150.0
IMPORT_VS_FLOOR = 1.5  # cold import at most this many times the hash + upload floor
UNCHANGED_IMPORT_S = 0.5
IMPORT_RSS_MB = 200.0


@dataclass(frozen=True, slots=True)
class Results:
    facts: Sequence[tuple[str, str]]
    size_mib: int
    reps: int
    small_files: int
    small_bytes: int
    rss_tool: str
    imports: ImportResults
    pulls: PullResults
    local: LocalResults
    profiles: Sequence[Profile]


@dataclass(frozen=True, slots=True)
class Target:
    goal: str
    measured: str
    met: bool


def format_seconds(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


def format_mb(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _ratio(slow: Measurement, fast: Measurement, factor: float, name: str) -> str:
    return (
        f"{factor:.2f}× ({name}: {format_seconds(slow.seconds)} / {format_seconds(fast.seconds)})"
    )


def _speed_targets(p: PullResults, i: ImportResults) -> list[Target]:
    vs_skopeo = p.skopeo.seconds / p.cogw.seconds
    vs_curl = p.cogw.seconds / p.curl.seconds
    vs_floor = i.cold.seconds / i.floor.seconds
    return [
        Target(
            "pull ≥ 2× faster than skopeo copy",
            _ratio(p.skopeo, p.cogw, vs_skopeo, "skopeo / cogw"),
            vs_skopeo >= PULL_VS_SKOPEO,
        ),
        Target(
            "pull within 1.5× of curl -o",
            _ratio(p.cogw, p.curl, vs_curl, "cogw / curl"),
            vs_curl <= PULL_VS_CURL,
        ),
        Target(
            "cold import within 1.5× of the floor",
            _ratio(i.cold, i.floor, vs_floor, "cogw / floor"),
            vs_floor <= IMPORT_VS_FLOOR,
        ),
        Target(
            "unchanged re-import < 0.5 s",
            format_seconds(i.unchanged.seconds),
            i.unchanged.seconds < UNCHANGED_IMPORT_S,
        ),
    ]


def _memory_target(goal: str, m: Measurement, limit_mb: float) -> Target:
    peak = m.peak_rss_mb
    return Target(goal, f"{format_mb(peak)} MB", peak is not None and peak < limit_mb)


def targets(r: Results) -> list[Target]:
    """Every target with what was measured and whether it was met (medians of wall time)."""
    p, i = r.pulls, r.imports
    return [
        *_speed_targets(p, i),
        _memory_target("pull peak RSS < 150 MB", p.cogw, PULL_RSS_MB),
        _memory_target("import peak RSS < 200 MB", i.cold, IMPORT_RSS_MB),
    ]
