"""The benchmark scenarios: cold and unchanged import, cold pull with its peers, prepare, status.

Knows the order of operations that makes each repetition independent (a fresh registry
repository per cold import, an empty cache before every cold pull) and which peer or
floor each cogw number is compared with. Does not format anything (see report.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.floors import hash_and_upload, hash_and_write, hash_file
from benchmarks.measure import Measurement, Run, run_command, run_function
from benchmarks.registry import LocalRegistry
from benchmarks.workload import Workload, write_cog_yaml


class BenchError(Exception):
    """A scenario did not do what it must (e.g. a pull left the weights not ready)."""


@dataclass(frozen=True, slots=True)
class Bench:
    work: Path
    registry: LocalRegistry
    workload: Workload
    cogw: tuple[str, ...]  # the command that runs cogw (before its arguments)
    pythonpath: str  # where the profiler finds benchmarks (and cogw, with --cogw-src)
    python: str  # the interpreter that has cogw's dependencies (for profiling)
    log: Path
    reps: int

    @property
    def cache(self) -> Path:
        return self.work / "cache"

    @property
    def env(self) -> dict[str, str]:
        env = {**os.environ, "COG_CACHE_DIR": str(self.cache), "PYTHONPATH": self.pythonpath}
        # An installed cogw runs from bytecode; without it every run would compile its
        # modules again and time the compiler.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    @property
    def lock_path(self) -> Path:
        return self.workload.project / "weights.lock"

    def run(self, argv: list[str]) -> Run:
        return run_command(argv, self.workload.project, self.env, self.log)

    def cogw_run(self, *args: str) -> Run:
        return self.run([*self.cogw, *args])

    def quietly(self, *args: str) -> None:
        """An untimed cogw command that sets up the next measurement."""
        with self.log.open("ab") as out:
            subprocess.run(
                [*self.cogw, *args],
                cwd=self.workload.project,
                env=self.env,
                stdout=out,
                stderr=out,
                check=True,
            )


@dataclass(frozen=True, slots=True)
class LockedWeight:
    """What the pull peers need from weights.lock: where the artifact is, and its blobs."""

    repository: str  # "bench/import-2"
    manifest: str
    layers: tuple[tuple[str, int], ...]  # (digest, size) per layer blob

    @property
    def layer_bytes(self) -> int:
        return sum(size for _, size in self.layers)


def read_locked_weight(bench: Bench) -> LockedWeight:
    lock = json.loads(bench.lock_path.read_bytes())
    entry = lock["weights"][0]
    image = (bench.workload.project / "cog.yaml").read_text().splitlines()[0]
    repository = image.removeprefix(f"image: {bench.registry.host}/")
    layers = tuple((layer["digest"], layer["size"]) for layer in entry["layers"])
    return LockedWeight(repository, entry["digest"], layers)


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def empty_cache(bench: Bench) -> None:
    shutil.rmtree(bench.cache, ignore_errors=True)


# --- import ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportResults:
    cold: Measurement
    floor: Measurement
    hashing: Measurement  # the floor's hashlib pass alone: this machine's hashing rate
    unchanged: Measurement
    lock_unchanged: bool  # the unchanged re-imports left weights.lock byte-identical


def _cold_import(bench: Bench, rep: int) -> Run:
    write_cog_yaml(bench.workload.project, f"{bench.registry.host}/bench/import-{rep}")
    bench.lock_path.unlink(missing_ok=True)
    empty_cache(bench)
    return bench.cogw_run("import")


def _import_floor(bench: Bench, rep: int) -> Run:
    workload = bench.workload
    blobs = (workload.large_file, workload.small_tar)
    return run_function(
        lambda: hash_and_upload(bench.registry.url, f"floor/import-{rep}", workload.files, blobs)
    )


def bench_import(bench: Bench) -> ImportResults:
    """Cold imports (empty cache, new repository) interleaved with the floor, then no-op ones."""
    cold, floor, hashing = [], [], []
    files = bench.workload.files
    for rep in range(bench.reps):
        cold.append(_cold_import(bench, rep))
        floor.append(_import_floor(bench, rep))
        hashing.append(run_function(lambda: [hash_file(path) for path in files]))
    before = bench.lock_path.read_bytes()
    unchanged = [bench.cogw_run("import") for _ in range(bench.reps)]
    nbytes = bench.workload.total_bytes
    return ImportResults(
        Measurement("cogw import (cold)", tuple(cold), nbytes),
        Measurement("floor: hashlib + curl -T upload", tuple(floor), nbytes),
        Measurement("floor part: hashlib only", tuple(hashing), nbytes),
        Measurement("cogw import (unchanged)", tuple(unchanged), 0),
        bench.lock_path.read_bytes() == before,
    )


# --- pull --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PullResults:
    cogw: Measurement
    skopeo: Measurement
    curl: Measurement
    floor: Measurement  # hashlib + write, no fsync (what curl and skopeo do)
    floor_fsync: Measurement  # hashlib + write + fsync (what a crash-safe store must do)
    layers: int


def _skopeo(bench: Bench, weight: LockedWeight) -> Run:
    out = bench.work / "skopeo-out"
    shutil.rmtree(out, ignore_errors=True)  # skopeo creates the OCI layout itself
    source = f"docker://{bench.registry.host}/{weight.repository}@{weight.manifest}"
    return bench.run(["skopeo", "copy", "--src-tls-verify=false", source, f"oci:{out}"])


def _curl(bench: Bench, weight: LockedWeight) -> Run:
    out = fresh_dir(bench.work / "curl-out")
    argv = ["curl", "-fsS"]
    for index, (digest, _) in enumerate(weight.layers):
        url = f"{bench.registry.url}/v2/{weight.repository}/blobs/{digest}"
        argv += ["-o", str(out / f"layer-{index}"), url]
    return bench.run(argv)


def _floor(bench: Bench, weight: LockedWeight, fsync: bool) -> Run:
    out = fresh_dir(bench.work / "floor-out")
    pairs = [
        (bench.registry.blob_path(digest), out / f"layer-{index}")
        for index, (digest, _) in enumerate(weight.layers)
    ]
    return run_function(lambda: hash_and_write(pairs, fsync))


def _cold_pull(bench: Bench) -> Run:
    empty_cache(bench)
    run = bench.cogw_run("pull")
    bench.quietly("status")  # exits non-zero unless every file reached the store
    return run


def bench_pull(bench: Bench) -> PullResults:
    """Per repetition, in turn: cogw pull into an empty cache, skopeo, curl, the floors."""
    weight = read_locked_weight(bench)
    runs: dict[str, list[Run]] = {k: [] for k in ("cogw", "skopeo", "curl", "floor", "fsync")}
    for _ in range(bench.reps):
        runs["cogw"].append(_cold_pull(bench))
        runs["skopeo"].append(_skopeo(bench, weight))
        runs["curl"].append(_curl(bench, weight))
        runs["floor"].append(_floor(bench, weight, fsync=False))
        runs["fsync"].append(_floor(bench, weight, fsync=True))
    n = weight.layer_bytes

    def measured(key: str, label: str) -> Measurement:
        return Measurement(label, tuple(runs[key]), n)

    return PullResults(
        measured("cogw", "cogw pull (cold store)"),
        measured("skopeo", "skopeo copy docker:// → oci:"),
        measured("curl", "curl -o (each layer blob)"),
        measured("floor", "floor: hashlib + write"),
        measured("fsync", "floor: hashlib + write + fsync"),
        len(weight.layers),
    )


# --- prepare and status ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalResults:
    prepare: Measurement
    status: Measurement
    startup: Measurement  # `cogw --help`: interpreter plus the CLI's imports


def _repeat(bench: Bench, one: Callable[[], Run], after: Callable[[], None]) -> tuple[Run, ...]:
    runs = []
    for _ in range(bench.reps):
        runs.append(one())
        after()
    return tuple(runs)


def bench_local(bench: Bench) -> LocalResults:
    """prepare (hardlinks into .cog/mounts, released after each run) and status, cache full."""
    nbytes = bench.workload.total_bytes
    prepare = _repeat(
        bench,
        lambda: bench.cogw_run("prepare", "--json"),
        lambda: bench.quietly("release", "--all"),
    )
    status = _repeat(bench, lambda: bench.cogw_run("status"), lambda: None)
    startup = _repeat(bench, lambda: bench.cogw_run("--help"), lambda: None)
    return LocalResults(
        Measurement("cogw prepare (hardlinks)", prepare, nbytes),
        Measurement("cogw status", status, 0),
        Measurement("cogw --help (start-up only)", startup, 0),
    )
