"""The fleet benchmark's Markdown report: per scenario, min/median/max of wall time and
origin bytes, the runs one by one, and the machine facts. Knows nothing of how they were
measured."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class FleetRun:
    scenario: str  # "A" (straight from the origin) or "B" (through a warmed mirror)
    rep: int
    wall: float  # seconds from the first pull's start to the last one's end
    origin_bytes: int  # what the origin served during the N pulls
    warm_wall: float | None = None  # B only: the one warm-up pull through the cold mirror
    warm_origin_bytes: int | None = None  # B only: the origin bytes of that warm-up


@dataclass(frozen=True, slots=True)
class WeightSizes:
    files: int  # the weight's files on disk
    stored: int  # its blobs in the registry (manifest, config, layers): one pull's bytes


def _spread(values: Sequence[float], fmt: str) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return " / ".join(format(v, fmt) for v in (low, mid, high))


def _mib(values: Sequence[int]) -> list[float]:
    return [v / MIB for v in values]


def _summary(runs: Sequence[FleetRun], weight_bytes: int) -> list[str]:
    rows = [
        "| scenario | wall time, s (min / median / max) | origin MiB (min / median / max) "
        "| origin bytes ÷ stored weight (median) |",
        "|---|---|---|---|",
    ]
    labels = {
        "A": "A: straight from the origin",
        "B": "B: through the warmed mirror",
    }
    for scenario, label in labels.items():
        chosen = [r for r in runs if r.scenario == scenario]
        if not chosen:
            continue
        origin = [r.origin_bytes for r in chosen]
        ratio = statistics.median(origin) / weight_bytes
        rows.append(
            f"| {label} | {_spread([r.wall for r in chosen], '.1f')} "
            f"| {_spread(_mib(origin), '.1f')} | {ratio:.2f}× |"
        )
    warm = [r for r in runs if r.warm_wall is not None and r.warm_origin_bytes is not None]
    if warm:
        warm_bytes = [r.warm_origin_bytes or 0 for r in warm]
        rows.append(
            f"| B's warm-up: one pull through the cold mirror "
            f"| {_spread([r.warm_wall or 0.0 for r in warm], '.1f')} "
            f"| {_spread(_mib(warm_bytes), '.1f')} "
            f"| {statistics.median(warm_bytes) / weight_bytes:.2f}× |"
        )
    return rows


def _runs_table(runs: Sequence[FleetRun]) -> list[str]:
    rows = [
        "| order | scenario | wall, s | origin bytes | warm-up wall, s | warm-up origin bytes |",
        "|---|---|---|---|---|---|",
    ]
    for order, run in enumerate(runs, start=1):
        warm_wall = "" if run.warm_wall is None else f"{run.warm_wall:.1f}"
        warm_bytes = "" if run.warm_origin_bytes is None else f"{run.warm_origin_bytes:,}"
        rows.append(
            f"| {order} | {run.scenario} (rep {run.rep}) | {run.wall:.1f} "
            f"| {run.origin_bytes:,} | {warm_wall} | {warm_bytes} |"
        )
    return rows


def _method(nodes: int, size_mib: int, sizes: WeightSizes) -> list[str]:
    return [
        f"Workload: one weight of {sizes.files:,} bytes ({size_mib} MiB of random bytes in one "
        "`.safetensors` file plus 96 small JSON files), stored in the registry as "
        f"{sizes.stored:,} bytes (manifest, config blob, layers; the small files' layer is "
        "compressed), which is about what one cold pull fetches. "
        f"{nodes} nodes pull it at once, each `cogw pull` with its own empty "
        "`--cache-dir` and its own checkout (cog.yaml + weights.lock).",
        "",
        "The origin is a docker-registry on 127.0.0.1 behind a counting TCP proxy; the "
        "weight is imported through it and the count then reset. *Origin bytes* are all "
        "the bytes the origin sent through that proxy (HTTP headers included), to nodes "
        "and to the mirror alike. The mirror is a fresh docker-registry in proxy mode "
        "(`proxy: remoteurl:` = the counting proxy) for each repetition of B, warmed by "
        "one pull through it (`cogw pull --mirror`); each count is read once the origin "
        "has been quiet for 2 s, and the warm-up's once the mirror holds the large layer "
        "(docker-registry 2.8 stores a cold blob in the background, after fetching it "
        "from the origin a second time, so a warm-up costs the origin about 2× the weight).",
        "",
        "The scenarios alternate, A B A B A B. Wall time is from the first pull's start "
        "to the last one's end. All of it runs on one shared machine (loopback network, "
        "one disk, the nodes' CPUs are the same few cores), so the wall times measure "
        "contention for this machine, not a real fleet's network; the origin bytes are "
        "exact whatever the load.",
    ]


def render(
    runs: Sequence[FleetRun],
    nodes: int,
    size_mib: int,
    sizes: WeightSizes,
    facts: Sequence[tuple[str, str]],
) -> str:
    lines = [
        "# Fleet benchmark: concurrent cold pulls, with and without a mirror",
        "",
        "Written by `just bench-fleet` (`python -m benchmarks.fleet`). See "
        "[fleet.md](fleet.md) for how mirrors are configured.",
        "",
        *_method(nodes, size_mib, sizes),
        "",
        "## Results",
        "",
        *_summary(runs, sizes.stored),
        "",
        "## Every run, in the order run",
        "",
        *_runs_table(runs),
        "",
        "## Machine",
        "",
        "| fact | value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in facts),
        "",
    ]
    return "\n".join(lines)
