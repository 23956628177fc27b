"""Only the many-small-files scenario: import, pull and prepare of one weight of N files.

Usage: ``python -m benchmarks.manyfiles [--files 10000] [--reps 3] [--cache auto]
[--against REV]``. The same workload, floors and interleaving as the scale section of
``just bench`` (benchmarks/scale.py), against a private registry, without the rest of
the run; prints min / median / max per contender and each ratio of medians to its
floor. ``--against`` also runs the cogw of commit REV, interleaved with the rest, so
a before/after comparison sees the same minute of a shared machine.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import cast

from benchmarks.interleave import Contender, run_interleaved
from benchmarks.measure import Measurement
from benchmarks.registry import local_registry
from benchmarks.run import REPO_ROOT, choose_settle, cogw_command, export_revision
from benchmarks.run import _from_tree as from_tree
from benchmarks.scale import _cogw, _floors, write_tree
from benchmarks.scenarios import Bench
from benchmarks.workload import Workload


def _row(m: Measurement) -> str:
    return f"{m.label:36} {m.min_seconds:7.3f} {m.seconds:7.3f} {m.max_seconds:7.3f} s"


LABELS = {
    "import": "cogw import (cold)",
    "floor-import": "floor: hashlib + curl -T of a tar",
    "pull": "cogw pull (cold store)",
    "untar": "tar -x + sync -f",
    "prepare": "cogw prepare (hardlinks)",
    "cp": "cp -al",
}
PAIRS = (("import", "floor-import"), ("pull", "untar"), ("prepare", "cp"))


def run_many(bench: Bench, count: int, image: str, base: Bench | None) -> list[Measurement]:
    """The contenders (and ``base``'s cogw, its labels marked "base"), interleaved."""
    tree = bench.workload.project / "weights" / "many"
    files = write_tree(tree, count)
    tar = bench.work / "many.tar"
    with tarfile.open(tar, "w") as archive:
        archive.add(tree, arcname=".")
    contenders = [*_cogw(bench, image), *_floors(bench, tree, tar, files)]
    if base is not None:
        contenders += [Contender("base-" + c.name, c.timed) for c in _cogw(base, image + "-base")]
    runs = run_interleaved(contenders, bench.reps)
    nbytes = sum(p.stat().st_size for p in files)
    out = []
    for ours, floor in PAIRS:
        out += [Measurement(LABELS[ours], runs[ours], nbytes)]
        if base is not None:
            out += [Measurement("base " + LABELS[ours], runs["base-" + ours], nbytes)]
        out += [Measurement(LABELS[floor], runs[floor], nbytes)]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.manyfiles", description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--cache", choices=("auto", "drop", "warm"), default="auto")
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "bench-work-many")
    parser.add_argument("--cogw", default=str(Path(sys.executable).with_name("cogw")))
    parser.add_argument("--revision", default=None, help="measure this commit instead")
    parser.add_argument("--cogw-src", type=Path, default=None)
    parser.add_argument("--against", default=None, help="also run this commit's cogw")
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
            base = None
            if args.against is not None:
                (work / "base").mkdir()
                tree, commit = export_revision(args.against, work / "base")
                cmd, path, _ = from_tree(tree, commit)
                base = replace(bench, cogw=cmd, pythonpath=path)
                print(f"against commit {commit}", file=sys.stderr)
            image = f"{registry.host}/bench/many"
            measured = run_many(bench, args.files, image, base)
    finally:
        shutil.rmtree(work / "registry", ignore_errors=True)
    print(f"{'what':36} {'min':>7} {'median':>7} {'max':>7}  vs floor")
    step = 3 if base is not None else 2
    for i in range(0, len(measured), step):
        floor = measured[i + step - 1]
        for m in measured[i : i + step]:
            print(f"{_row(m)}  {m.seconds / floor.seconds:5.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main(cast(Sequence[str], sys.argv[1:])))
