"""Many streams: a cold pull of one large layer through a proxy that caps every connection.

A remote registry or CDN caps what one TCP stream gets; cogw fetches a large standalone
layer as parallel byte ranges instead. This scenario imports a project of one large
.safetensors file (untimed) into the run's registry, points the project at a
ThrottleProxy in front of that registry, and runs, interleaved: ``cogw pull`` into an
empty cache (default streams), ``cogw pull --streams 1``, and one ``curl -o`` of the same
layer blob, all through the proxy. Counts the connections each run opens through it
(evidence that the default really split the blob). Does not format anything.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace

from benchmarks.interleave import Contender, run_interleaved
from benchmarks.measure import Measurement, Run
from benchmarks.scenarios import Bench, cold_pull, fresh_dir, read_locked_weight
from benchmarks.throttleproxy import ThrottleProxy
from benchmarks.workload import make_workload, write_cog_yaml

#: core/artifact/ranges.py's STREAMS_THRESHOLD: a smaller layer is fetched in one stream
#: whatever the setting, so the scenario would measure nothing.
RANGE_THRESHOLD_MIB = 64
REPOSITORY = "bench/streams"
CONTENDERS = ("cogw", "one_stream", "curl")


@dataclass(frozen=True, slots=True)
class StreamsResults:
    size_mib: int
    rate: float  # bytes per second the proxy allows each connection
    layers: int  # layer blobs of the weight (cogw pull fetches them all; curl the large one)
    cogw: Measurement  # cogw pull, default streams
    one_stream: Measurement  # cogw pull --streams 1
    curl: Measurement  # one curl -o stream of the large layer blob
    connections: dict[str, tuple[int, ...]]  # per contender: connections opened, run by run


def _counted(proxy: ThrottleProxy, timed: Callable[[], Run], seen: list[int]) -> Run:
    before = proxy.connections
    run = timed()
    seen.append(proxy.connections - before)
    return run


def _pull(bench: Bench, proxy: ThrottleProxy, seen: list[int], *args: str) -> Run:
    return _counted(proxy, lambda: cold_pull(bench, *args), seen)


def _curl(bench: Bench, proxy: ThrottleProxy, seen: list[int], url: str) -> Run:
    out = fresh_dir(bench.work / "curl-out") / "layer"
    return _counted(proxy, lambda: bench.run(["curl", "-fsS", "-o", str(out), url]), seen)


def _race(
    bench: Bench, proxy: ThrottleProxy, url: str
) -> tuple[dict[str, tuple[Run, ...]], dict[str, tuple[int, ...]]]:
    seen: dict[str, list[int]] = {name: [] for name in CONTENDERS}
    runs = run_interleaved(
        [
            Contender("cogw", lambda: _pull(bench, proxy, seen["cogw"])),
            Contender(
                "one_stream", lambda: _pull(bench, proxy, seen["one_stream"], "--streams", "1")
            ),
            Contender("curl", lambda: _curl(bench, proxy, seen["curl"], url)),
        ],
        bench.reps,
    )
    return runs, {name: tuple(counts) for name, counts in seen.items()}


def bench_streams(base: Bench, size_mib: int, rate: float) -> StreamsResults:
    """Import one ``size_mib`` MiB file (untimed), then pull its layer through a proxy
    capping each connection at ``rate`` bytes/s: cogw (default streams), cogw with one
    stream and curl, interleaved. Its work directory is removed afterwards."""
    work = base.work.parent / "streams"
    work.mkdir()
    image = f"{base.registry.host}/{REPOSITORY}"
    bench = replace(base, work=work, workload=make_workload(work, size_mib, image, False))
    bench.quietly("import")
    weight = read_locked_weight(bench)
    digest, size = max(weight.layers, key=lambda layer: layer[1])
    proxy = ThrottleProxy(base.registry.host, rate).start()
    try:
        # The lock does not name the registry: only cog.yaml's image changes host.
        write_cog_yaml(bench.workload.project, f"{proxy.host}/{REPOSITORY}")
        runs, connections = _race(
            bench, proxy, f"http://{proxy.host}/v2/{REPOSITORY}/blobs/{digest}"
        )
    finally:
        proxy.stop()
    shutil.rmtree(work)
    return StreamsResults(
        size_mib,
        rate,
        len(weight.layers),
        Measurement("cogw pull (default streams)", runs["cogw"], weight.layer_bytes),
        Measurement("cogw pull --streams 1", runs["one_stream"], weight.layer_bytes),
        Measurement("curl -o (one stream, large layer blob)", runs["curl"], size),
        connections,
    )
