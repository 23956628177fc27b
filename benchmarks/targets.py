"""The issue's performance targets, judged against one run's results.

Knows each target's threshold and which two measurements it compares. Pure: takes
results, returns verdicts; does not measure or format pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


def targets(r: Results) -> list[Target]:
    p, i = r.pulls, r.imports
    vs_skopeo = p.skopeo.seconds / p.cogw.seconds
    vs_curl = p.cogw.seconds / p.curl.seconds
    vs_floor = i.cold.seconds / i.floor.seconds
    pull_rss, import_rss = p.cogw.peak_rss_mb, i.cold.peak_rss_mb
    return [
        Target(
            "pull ≥ 2× faster than skopeo copy", f"{vs_skopeo:.2f}×", vs_skopeo >= PULL_VS_SKOPEO
        ),
        Target("pull within 1.5× of curl -o", f"{vs_curl:.2f}×", vs_curl <= PULL_VS_CURL),
        Target(
            "pull peak RSS < 150 MB",
            f"{format_mb(pull_rss)} MB",
            pull_rss is not None and pull_rss < PULL_RSS_MB,
        ),
        Target(
            "cold import within 1.5× of the floor", f"{vs_floor:.2f}×", vs_floor <= IMPORT_VS_FLOOR
        ),
        Target(
            "unchanged re-import < 0.5 s",
            format_seconds(i.unchanged.seconds),
            i.unchanged.seconds < UNCHANGED_IMPORT_S,
        ),
        Target(
            "import peak RSS < 200 MB",
            f"{format_mb(import_rss)} MB",
            import_rss is not None and import_rss < IMPORT_RSS_MB,
        ),
    ]
