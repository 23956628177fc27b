"""The data scenarios: cold and unchanged import, cold pull, each next to its floor and peers.

Knows the order of operations that makes each repetition independent (a fresh registry
repository per cold import, an empty cache before every cold pull) and which peer or
floor each cogw number is compared with; contenders run interleaved, repetition by
repetition. Does not format anything (see report.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmarks.floors import hash_and_upload, hash_file
from benchmarks.interleave import Contender, run_interleaved
from benchmarks.measure import Measurement, Run, Settle, run_command, run_function
from benchmarks.registry import LocalRegistry
from benchmarks.workload import Workload, write_cog_yaml

PULL_FLOOR = Path(__file__).with_name("pullfloor.py")


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
    settle: Settle  # before every timed run of a data scenario (import, pull)

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

    def run(
        self, argv: list[str], settle: Settle | None = None, exit_codes: tuple[int, ...] = (0,)
    ) -> Run:
        chosen = self.settle if settle is None else settle
        return run_command(argv, self.workload.project, self.env, self.log, chosen, exit_codes)

    def cogw_run(self, *args: str, settle: Settle | None = None) -> Run:
        return self.run([*self.cogw, *args], settle)

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


def cold_import(bench: Bench, counter: list[int], repository: str = "bench/import") -> Run:
    """``cogw import`` with an empty cache, no weights.lock and a new repository (counted
    in ``counter[0]``), so every layer is uploaded again."""
    counter[0] += 1
    write_cog_yaml(bench.workload.project, f"{bench.registry.host}/{repository}-{counter[0]}")
    bench.lock_path.unlink(missing_ok=True)
    empty_cache(bench)
    return bench.cogw_run("import")


def _import_floor(bench: Bench, counter: list[int]) -> Run:
    counter[0] += 1
    workload = bench.workload
    blobs = (workload.large_file, workload.small_tar)
    repo = f"floor/import-{workload.large_file.stat().st_size}-{counter[0]}"
    return run_function(
        lambda: hash_and_upload(bench.registry.url, repo, workload.files, blobs), bench.settle
    )


def bench_import(bench: Bench) -> ImportResults:
    """Cold imports (empty cache, new repository) interleaved with the floor, then no-op ones."""
    files = bench.workload.files
    cold_count, floor_count = [0], [0]
    runs = run_interleaved(
        [
            Contender("cold", lambda: cold_import(bench, cold_count)),
            Contender("floor", lambda: _import_floor(bench, floor_count)),
            Contender(
                "hashing",
                lambda: run_function(lambda: [hash_file(p) for p in files], bench.settle),
            ),
        ],
        bench.reps,
    )
    before = bench.lock_path.read_bytes()
    unchanged = tuple(bench.cogw_run("import") for _ in range(bench.reps))
    nbytes = bench.workload.total_bytes
    return ImportResults(
        Measurement("cogw import (cold)", runs["cold"], nbytes),
        Measurement("floor: hashlib + curl -T upload", runs["floor"], nbytes),
        Measurement("floor part: hashlib only", runs["hashing"], nbytes),
        Measurement("cogw import (unchanged)", unchanged, 0),
        bench.lock_path.read_bytes() == before,
    )


# --- pull --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PullResults:
    cogw: Measurement
    skopeo: Measurement
    curl: Measurement  # curl -o: neither verifies nor makes the bytes durable
    curl_fsync: Measurement  # curl -o, then fsync of every file (durable, unverified)
    floor: Measurement  # Python: read, sha256, write, one fsync per blob (verified, durable)
    layers: int


def _blob_url(bench: Bench, weight: LockedWeight, digest: str) -> str:
    return f"{bench.registry.url}/v2/{weight.repository}/blobs/{digest}"


def _skopeo(bench: Bench, weight: LockedWeight) -> Run:
    out = bench.work / "skopeo-out"
    shutil.rmtree(out, ignore_errors=True)  # skopeo creates the OCI layout itself
    source = f"docker://{bench.registry.host}/{weight.repository}@{weight.manifest}"
    return bench.run(["skopeo", "copy", "--src-tls-verify=false", source, f"oci:{out}"])


def _curl(bench: Bench, weight: LockedWeight, fsync: bool) -> Run:
    out = fresh_dir(bench.work / "curl-out")
    argv, files = ["curl", "-fsS"], []
    for index, (digest, _) in enumerate(weight.layers):
        files.append(str(out / f"layer-{index}"))
        argv += ["-o", files[-1], _blob_url(bench, weight, digest)]
    if not fsync:
        return bench.run(argv)
    # coreutils `sync FILE...` fsyncs each named file: one fsync per blob, as the floor.
    script = '"$@" && sync -- ' + " ".join(files)
    return bench.run(["sh", "-c", script, "sh", *argv])


def _python_floor(bench: Bench, weight: LockedWeight) -> Run:
    out = fresh_dir(bench.work / "floor-out")
    argv = [sys.executable, str(PULL_FLOOR), str(out)]
    for digest, _ in weight.layers:
        argv += [_blob_url(bench, weight, digest), digest]
    return bench.run(argv)


def cold_pull(bench: Bench, *args: str) -> Run:
    """``cogw pull [args]`` into an empty cache, checked complete (untimed) after."""
    empty_cache(bench)
    run = bench.cogw_run("pull", *args)
    bench.quietly("status")  # exits non-zero unless every file reached the store
    return run


def bench_pull(bench: Bench) -> PullResults:
    """cogw pull into an empty cache, skopeo, curl (with and without fsync) and the Python
    floor, interleaved repetition by repetition, all from the same registry blobs."""
    weight = read_locked_weight(bench)
    runs = run_interleaved(
        [
            Contender("cogw", lambda: cold_pull(bench)),
            Contender("skopeo", lambda: _skopeo(bench, weight)),
            Contender("curl", lambda: _curl(bench, weight, fsync=False)),
            Contender("curl_fsync", lambda: _curl(bench, weight, fsync=True)),
            Contender("floor", lambda: _python_floor(bench, weight)),
        ],
        bench.reps,
    )
    n = weight.layer_bytes
    return PullResults(
        Measurement("cogw pull (cold store)", runs["cogw"], n),
        Measurement("skopeo copy docker:// → oci:", runs["skopeo"], n),
        Measurement("curl -o (each layer blob)", runs["curl"], n),
        Measurement("curl -o + fsync (each layer blob)", runs["curl_fsync"], n),
        Measurement("floor: Python GET + sha256 + write + fsync", runs["floor"], n),
        len(weight.layers),
    )
