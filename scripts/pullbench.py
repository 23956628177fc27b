"""Pull timings against a loopback docker-registry: cogw pull, a Python floor, curl, skopeo.

    .venv/bin/python scripts/pullbench.py WORKDIR [--size-mib 512] [--reps 3]
        [--cogw "cogw pull"] [--before "other-cogw pull"] [--throttle-mbps 25]
        [--only before,cogw,floor,curl,skopeo]

Builds (once, under WORKDIR) a project of one large file plus small files, imports it
into a throwaway registry, then runs each contender in turn, rep after rep, with a
``sync`` before every timed command, and prints min/median/max seconds. The Python floor
is what a verified, durable download costs in Python: requests streaming each blob with
readinto into one reused buffer, sha256, write, one fsync per blob.

With ``--throttle-mbps`` every connection goes through benchmarks/throttleproxy.py, capped
at that many MB/s each, to compare many streams with one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from benchmarks.registry import local_registry
from benchmarks.throttleproxy import ThrottleProxy
from benchmarks.workload import make_workload

ROOT = Path(__file__).resolve().parent.parent
COGW = str(ROOT / ".venv" / "bin" / "cogw")


def _env(work: Path) -> dict[str, str]:
    return {**os.environ, "COG_CACHE_DIR": str(work / "cache")}


def _layers(project: Path) -> tuple[str, list[tuple[str, int]]]:
    lock = json.loads((project / "weights.lock").read_bytes())
    entry = lock["weights"][0]
    return entry["digest"], [(layer["digest"], layer["size"]) for layer in entry["layers"]]


def python_floor(base: str, repo: str, layers: list[tuple[str, int]], out: Path) -> None:
    buffer = bytearray(4 << 20)
    view = memoryview(buffer)
    with requests.Session() as session:
        for index, (digest, size) in enumerate(layers):
            with session.get(f"{base}/v2/{repo}/blobs/{digest}", stream=True) as response:
                response.raise_for_status()
                hasher = hashlib.sha256()
                fd = os.open(out / f"layer-{index}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                total = 0
                try:
                    raw = response.raw
                    while n := raw.readinto(buffer):
                        hasher.update(view[:n])
                        os.write(fd, view[:n])
                        total += n
                    os.fsync(fd)
                finally:
                    os.close(fd)
                assert total == size and "sha256:" + hasher.hexdigest() == digest


def _timed(step: Callable[[], None]) -> float:
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("work", type=Path)
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--cogw", default=f"{COGW} pull")
    parser.add_argument("--before", default="", help="another cogw pull command to compare")
    parser.add_argument("--throttle-mbps", type=float, default=0.0)
    parser.add_argument("--only", default="cogw,floor,curl,skopeo")
    args = parser.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    with local_registry(work / "registry") as registry:
        repo = "perf/model"
        image = f"{registry.host}/{repo}"
        if not (work / "project").exists():
            make_workload(work, args.size_mib, image)
        project = work / "project"
        text = (project / "cog.yaml").read_text().splitlines()
        (project / "cog.yaml").write_text("\n".join([f"image: {image}", *text[1:]]) + "\n")
        (project / "weights.lock").unlink(missing_ok=True)
        env = _env(work)
        _run([COGW, "import"], project, env)
        manifest, layers = _layers(project)
        host = registry.host
        proxy = None
        if args.throttle_mbps:
            proxy = ThrottleProxy(registry.host, args.throttle_mbps * 1e6).start()
            host = proxy.host
            cog = (project / "cog.yaml").read_text().replace(registry.host, host)
            (project / "cog.yaml").write_text(cog)
        base = f"http://{host}"
        print(f"layers: {layers}", flush=True)
        out = work / "out"

        def fresh_out() -> None:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()

        def cogw_pull() -> None:
            _run([*args.cogw.split()], project, env)

        def before_pull() -> None:
            _run([*args.before.split()], project, env)

        def curl() -> None:
            argv = ["curl", "-fsS"]
            for index, (digest, _) in enumerate(layers):
                argv += ["-o", str(out / f"layer-{index}"), f"{base}/v2/{repo}/blobs/{digest}"]
            _run(argv, project, env)

        def skopeo() -> None:
            source = f"docker://{host}/{repo}@{manifest}"
            _run(["skopeo", "copy", "--src-tls-verify=false", source, f"dir:{out}/sk"], project, env)

        contenders: dict[str, tuple[Callable[[], None], Callable[[], None]]] = {
            "cogw": (lambda: shutil.rmtree(work / "cache", ignore_errors=True), cogw_pull),
            "before": (lambda: shutil.rmtree(work / "cache", ignore_errors=True), before_pull),
            "floor": (fresh_out, lambda: python_floor(base, repo, layers, out)),
            "curl": (fresh_out, curl),
            "skopeo": (fresh_out, skopeo),
        }
        chosen = args.only.split(",")
        times: dict[str, list[float]] = {name: [] for name in chosen}
        try:
            for rep in range(args.reps):
                for name in chosen:
                    prepare, step = contenders[name]
                    prepare()
                    times[name].append(_timed(step))
                    print(f"rep {rep} {name}: {times[name][-1]:.2f} s", flush=True)
        finally:
            if proxy is not None:
                proxy.stop()
        for name, values in times.items():
            print(
                f"{name:8s} min {min(values):.2f}  median {statistics.median(values):.2f}"
                f"  max {max(values):.2f}  s  ({len(values)} runs)"
            )


if __name__ == "__main__":
    main()
