"""The fleet scenario: N nodes start the same model at once, with and without a mirror.

``python -m benchmarks.fleet [--size-mib 1024] [--nodes 4] [--out docs/fleet-benchmark.md]``

An origin docker-registry sits behind a CountingProxy, so every byte the origin serves is
counted, whoever asks. Scenario A: N concurrent cold ``cogw pull``s (one cache each)
straight from the origin. Scenario B: a fresh docker-registry in proxy mode (the mirror,
whose upstream is the counting proxy) is warmed by one pull through it, then N concurrent
cold pulls go through it. The scenarios alternate (A B A B …) so that the shared
machine's load falls on both alike; the report gives min/median/max of each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.countproxy import CountingProxy
from benchmarks.facts import load_average, machine_facts, revision
from benchmarks.fleet_report import FleetRun, WeightSizes, render
from benchmarks.registry import (
    CONFIG,
    REGISTRY_BIN,
    LocalRegistry,
    RegistryError,
    _stop,
    _wait_for_address,
    local_registry,
)
from benchmarks.workload import MIB, make_workload

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGE_REPOSITORY = "fleet/model"
SETTLE_QUIET = 2.0  # seconds without origin traffic before a count is read
SETTLE_TIMEOUT = 600.0
PROXY_LIFETIME = 4 * 3600.0  # far beyond a 1 GiB run on a loaded 2-core machine


def say(message: str) -> None:
    print(f"[fleet] {message}", file=sys.stderr, flush=True)


@contextmanager
def mirror_registry(directory: Path, upstream: str) -> Iterator[LocalRegistry]:
    """A docker-registry in proxy mode (a pull-through cache of ``upstream``)."""
    binary = shutil.which(REGISTRY_BIN)
    if binary is None:
        raise RegistryError("docker-registry not found: apt-get install docker-registry")
    directory.mkdir(parents=True)
    config = directory / "config.yml"
    proxy = f"proxy:\n  remoteurl: http://{upstream}\n"
    config.write_text(CONFIG.format(data=directory / "data") + proxy)
    proc = subprocess.Popen([binary, "serve", str(config)], stderr=subprocess.PIPE, text=True)
    try:
        address = _wait_for_address(proc)
        if address is None:
            raise RegistryError(f"the mirror did not start (config {config})")
        assert proc.stderr is not None
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
        yield LocalRegistry(address, directory / "data")
    finally:
        _stop(proc)


@dataclass(frozen=True, slots=True)
class Fleet:
    """Everything a pull needs: the cogw command, its environment, the nodes' projects."""

    cogw: str
    env: dict[str, str]
    nodes: tuple[Path, ...]  # one project checkout (cog.yaml + weights.lock) per node
    work: Path

    def start_pull(self, node: Path, cache: Path, mirror: str | None) -> subprocess.Popen[bytes]:
        argv = [self.cogw, "pull", "--cache-dir", str(cache)]
        if mirror is not None:
            argv += ["--mirror", mirror]
        log = (self.work / "log").open("ab")
        return subprocess.Popen(argv, cwd=node, env=self.env, stdout=log, stderr=log)

    def pull_all(self, nodes: Sequence[Path], mirror: str | None) -> float:
        """Cold pulls on ``nodes`` at once (fresh caches); the wall time until all end."""
        caches = [self.work / "caches" / f"node-{i}" for i in range(len(nodes))]
        for cache in caches:
            shutil.rmtree(cache, ignore_errors=True)
        started = time.perf_counter()
        procs = [self.start_pull(n, c, mirror) for n, c in zip(nodes, caches, strict=True)]
        codes = [proc.wait() for proc in procs]
        wall = time.perf_counter() - started
        for cache in caches:
            shutil.rmtree(cache, ignore_errors=True)
        if any(codes):
            raise RuntimeError(f"cogw pull failed (exit codes {codes}); see {self.work / 'log'}")
        return wall


def cogw_env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    # No mirror but the ones a scenario names: the machine's own configuration is ignored.
    (work / "registries.conf").write_text("")
    env["CONTAINERS_REGISTRIES_CONF"] = str(work / "registries.conf")
    env.pop("COGW_REGISTRY_MIRRORS", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed cogw runs from bytecode
    return env


def node_projects(project: Path, count: int, work: Path) -> tuple[Path, ...]:
    """What a node has: cog.yaml and weights.lock, no weights."""
    nodes = []
    for index in range(count):
        node = work / "nodes" / f"node-{index}"
        node.mkdir(parents=True)
        for name in ("cog.yaml", "weights.lock"):
            shutil.copy2(project / name, node / name)
        nodes.append(node)
    return tuple(nodes)


def settle(proxy: CountingProxy) -> int:
    """The origin bytes since the last reset, read once the origin has gone quiet."""
    if not proxy.wait_quiet(SETTLE_QUIET, SETTLE_TIMEOUT):
        say("warning: origin traffic did not stop; reading the count anyway")
    return proxy.reset()


def wait_for_blob(mirror: LocalRegistry, digest: str) -> None:
    # distribution stores a cold blob in the background, after the client is served.
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not mirror.blob_path(digest).exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def origin_blobs(origin: LocalRegistry) -> list[Path]:
    return list((origin.root / "docker/registry/v2/blobs/sha256").glob("*/*/data"))


def largest_blob(origin: LocalRegistry) -> str:
    biggest = max(origin_blobs(origin), key=lambda p: p.stat().st_size)
    return f"sha256:{biggest.parent.name}"


def stored_bytes(origin: LocalRegistry) -> int:
    """What one cold pull must fetch: the registry holds only this weight's manifest,
    config blob and layers (the small files' layer compressed)."""
    return sum(blob.stat().st_size for blob in origin_blobs(origin))


def scenario_direct(fleet: Fleet, proxy: CountingProxy, rep: int) -> FleetRun:
    proxy.reset()
    wall = fleet.pull_all(fleet.nodes, mirror=None)
    return FleetRun("A", rep, wall, settle(proxy))


def scenario_mirror(
    fleet: Fleet, proxy: CountingProxy, origin: LocalRegistry, rep: int
) -> FleetRun:
    with mirror_registry(fleet.work / f"mirror-{rep}", proxy.host) as mirror:
        proxy.reset()
        warm_wall = fleet.pull_all(fleet.nodes[:1], mirror=mirror.host)
        wait_for_blob(mirror, largest_blob(origin))
        warm_bytes = settle(proxy)
        wall = fleet.pull_all(fleet.nodes, mirror=mirror.host)
        run = FleetRun("B", rep, wall, settle(proxy), warm_wall, warm_bytes)
    shutil.rmtree(fleet.work / f"mirror-{rep}", ignore_errors=True)
    return run


def run_scenarios(
    fleet: Fleet, proxy: CountingProxy, origin: LocalRegistry, reps: int
) -> list[FleetRun]:
    runs = []
    for rep in range(1, reps + 1):
        say(f"rep {rep}/{reps}: A, {len(fleet.nodes)} pulls from the origin")
        runs.append(scenario_direct(fleet, proxy, rep))
        say(f"  A: {runs[-1].wall:.1f} s, origin {runs[-1].origin_bytes / MIB:.1f} MiB")
        say(f"rep {rep}/{reps}: B, warm-up and {len(fleet.nodes)} pulls through the mirror")
        runs.append(scenario_mirror(fleet, proxy, origin, rep))
        say(f"  B: {runs[-1].wall:.1f} s, origin {runs[-1].origin_bytes / MIB:.1f} MiB")
    return runs


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet", description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024, help="the weight's large file")
    parser.add_argument("--nodes", type=int, default=4, help="concurrent cold pulls")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each scenario")
    parser.add_argument("--out", type=Path, default=Path("docs/fleet-benchmark.md"))
    parser.add_argument("--work", type=Path, default=None, help="scratch dir (default: a temp dir)")
    parser.add_argument(
        "--cogw", default=str(Path(sys.executable).with_name("cogw")), help="cogw executable"
    )
    return parser.parse_args(argv)


def benchmark(args: argparse.Namespace, work: Path) -> str:
    load_at_start = load_average()
    env = cogw_env(work)
    with (
        local_registry(work / "origin") as origin,
        CountingProxy(origin.host, lifetime=PROXY_LIFETIME) as proxy,
    ):
        say(f"origin {origin.host}, counted at {proxy.host}; writing a {args.size_mib} MiB weight")
        workload = make_workload(work, args.size_mib, f"{proxy.host}/{IMAGE_REPOSITORY}")
        subprocess.run([args.cogw, "import"], cwd=workload.project, env=env, check=True)
        proxy.wait_quiet(SETTLE_QUIET, SETTLE_TIMEOUT)
        proxy.reset()
        nodes = node_projects(workload.project, args.nodes, work)
        fleet = Fleet(args.cogw, env, nodes, work)
        runs = run_scenarios(fleet, proxy, origin, args.reps)
        sizes = WeightSizes(workload.total_bytes, stored_bytes(origin))
    source = f"{REPO_ROOT} at {revision(REPO_ROOT)}"
    facts = machine_facts(work, (args.cogw,), env, source, load_at_start)
    return render(runs, args.nodes, args.size_mib, sizes, facts)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=False)
        report = benchmark(args, args.work.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="cogw-fleet-") as scratch:
            report = benchmark(args, Path(scratch))
    args.out.write_text(report)
    say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
