"""Only the many-small-files scenario: import, pull and prepare of one weight of N files.

Usage: ``python -m benchmarks.manyfiles [--files 10000] [--reps 3] [--cache auto]``.
The same workload, floors and interleaving as the scale section of ``just bench``
(benchmarks/scale.py), against a private registry, without the rest of the run;
prints min / median / max per contender and each ratio of medians to its floor.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from benchmarks.measure import Measurement
from benchmarks.registry import local_registry
from benchmarks.run import REPO_ROOT, choose_settle, cogw_command
from benchmarks.scale import bench_many_files
from benchmarks.scenarios import Bench
from benchmarks.workload import Workload


def _row(m: Measurement) -> str:
    return f"{m.label:36} {m.min_seconds:7.3f} {m.seconds:7.3f} {m.max_seconds:7.3f} s"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.manyfiles", description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--cache", choices=("auto", "drop", "warm"), default="auto")
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "bench-work-many")
    parser.add_argument("--cogw", default=str(Path(sys.executable).with_name("cogw")))
    parser.add_argument("--revision", default=None, help="measure this commit instead")
    parser.add_argument("--cogw-src", type=Path, default=None)
    args = parser.parse_args(argv)
    work = args.work_dir.resolve()
    shutil.rmtree(work, ignore_errors=True)
    project = work / "project"
    (project / "weights").mkdir(parents=True)
    cogw, pythonpath, source = cogw_command(args, work)
    print(f"cogw from {source}, {args.files} files, {args.reps} reps", file=sys.stderr)
    try:
        with local_registry(work / "registry") as registry:
            workload = Workload(project, project / "weights", project, (), project)
            bench = Bench(
                work,
                registry,
                workload,
                cogw,
                pythonpath,
                sys.executable,
                work / "log",
                args.reps,
                choose_settle(args.cache),
            )
            pairs = bench_many_files(bench, args.files, f"{registry.host}/bench/many")
    finally:
        shutil.rmtree(work / "registry", ignore_errors=True)
    print(f"{'what':36} {'min':>7} {'median':>7} {'max':>7}")
    for ours, floor in pairs:
        print(_row(ours))
        print(_row(floor))
        print(f"{'  ratio of medians':36} {ours.seconds / floor.seconds:7.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main(cast(Sequence[str], sys.argv[1:])))
