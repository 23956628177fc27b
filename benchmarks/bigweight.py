"""Memory on a big weight: one cold import and one cold pull of a single large file.

Peak RSS must stay flat as the weight grows (the issue bounds a pull at 150 MB for a
4 GiB weight). The sizes of the interleaved scenarios (512 MiB, 1 GiB) show the trend;
this measures the big one itself: a project of one ``size_mib`` MiB .safetensors file,
imported into a new repository of the run's registry with an empty cache, then pulled
into an empty cache. Each is run ``reps`` times (peak RSS is what is asked of it; the
times are reported, not targeted). Its work directory is removed afterwards.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace

from benchmarks.measure import Measurement
from benchmarks.scenarios import Bench, cold_import, cold_pull, read_locked_weight
from benchmarks.workload import make_workload

REPOSITORY = "bench/big"


@dataclass(frozen=True, slots=True)
class BigResults:
    size_mib: int
    imports: Measurement  # cogw import, cold: empty cache, no weights.lock, new repository
    pulls: Measurement  # cogw pull into an empty cache


def bench_big(base: Bench, size_mib: int, reps: int) -> BigResults:
    """Cold import, then cold pull, of one ``size_mib`` MiB file, ``reps`` times each."""
    work = base.work.parent / "big"
    work.mkdir()
    image = f"{base.registry.host}/{REPOSITORY}-0"
    bench = replace(base, work=work, workload=make_workload(work, size_mib, image, False))
    count = [0]
    imports = tuple(cold_import(bench, count, REPOSITORY) for _ in range(reps))
    weight = read_locked_weight(bench)
    pulls = tuple(cold_pull(bench) for _ in range(reps))
    source_bytes = bench.workload.large_file.stat().st_size
    shutil.rmtree(work)
    return BigResults(
        size_mib,
        Measurement(f"cogw import (cold, {size_mib} MiB)", imports, source_bytes),
        Measurement(f"cogw pull (cold store, {size_mib} MiB)", pulls, weight.layer_bytes),
    )
