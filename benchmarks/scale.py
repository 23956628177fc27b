"""Scale scenarios: a weight of many small files, a lockfile of 100 000 files, a cog.yaml
of 3 000 weights, each next to its floor or its absolute target.

The many-files weight is imported, pulled and prepared, interleaved with its floors
(hash + upload of a tar of the tree, ``tar -x`` + ``sync -f``, ``cp -al``). The same
project then lists that weight under enough names to reach 100 000 locked files
(status and plan are timed), and finally 3 000 weights (config checking, via status).
"""

from __future__ import annotations

import json
import math
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.floors import hash_and_upload
from benchmarks.interleave import Contender, run_interleaved
from benchmarks.measure import WARM, Measurement, Run, run_function
from benchmarks.scenarios import Bench

LOCKED_FILES = 100_000
CONFIG_WEIGHTS = 3_000
FILES_PER_DIR = 100
MAX_FILE = 100 << 10


@dataclass(frozen=True, slots=True)
class ScaleResults:
    files: int
    imports: tuple[Measurement, Measurement]  # cogw, floor (hash + upload of the tar)
    pulls: tuple[Measurement, Measurement]  # cogw, tar -x + sync -f
    prepares: tuple[Measurement, Measurement]  # cogw, cp -al
    locked_files: int
    status: Measurement
    plan: Measurement
    config_weights: int
    config: Measurement


def file_size(index: int) -> int:
    """A tokenizer/config-like mix: log-uniform from 4 bytes to 100 KiB (median ~640 B,
    mean ~10 KiB), deterministic in ``index``."""
    fraction = (index * 0.6180339887) % 1.0  # golden-ratio steps cover [0, 1) evenly
    return max(4, int(math.exp(math.log(4) + fraction * math.log(MAX_FILE / 4))))


def write_tree(root: Path, count: int) -> list[Path]:
    """``count`` files of :func:`file_size` bytes, ``FILES_PER_DIR`` per directory; half
    are random bytes, half hex text (compressible by half, like JSON)."""
    paths = []
    for index in range(count):
        path = root / f"d{index // FILES_PER_DIR:04d}" / f"f{index:05d}.bin"
        if index % FILES_PER_DIR == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        size = file_size(index)
        data = os.urandom(size) if index % 2 else os.urandom(size // 2 + 1).hex()[:size].encode()
        path.write_bytes(data)
        paths.append(path)
    return paths


def set_aside(bench: Bench, path: Path) -> None:
    """Move an earlier repetition's output under ``bench.work`` instead of deleting it.

    Deleting 10 000 files right before a timed run that creates 10 000 skews it: on
    ext4 without a journal (this machine's root filesystem), the inode allocator skips
    inodes freed in the last minutes, checking each in turn, and a cold pull into a
    just-deleted cache spent up to half of its time in that scan. Every contender
    writes into a directory whose inodes were never freed; the set-aside trees go
    with the work directory when the run ends."""
    if not path.exists():
        return
    aside = bench.work / "set-aside"
    aside.mkdir(exist_ok=True)
    path.rename(aside / f"{path.name}-{len(os.listdir(aside))}")


def _cog_yaml(image: str, names: list[str]) -> str:
    lines = [f"image: {image}", "weights:"]
    for name in names:
        lines += [f"  - name: {name}", f"    target: /src/{name}", "    source:"]
        lines += ["      uri: weights/many"]
    return "\n".join(lines) + "\n"


def _floors(bench: Bench, tree: Path, tar: Path, files: list[Path]) -> list[Contender]:
    counter = [0]

    def upload() -> Run:
        counter[0] += 1
        repo, url = f"floor/scale-{counter[0]}", bench.registry.url
        return run_function(lambda: hash_and_upload(url, repo, files, (tar,)), bench.settle)

    def untar() -> Run:
        out = bench.work / "scale-untar"
        set_aside(bench, out)
        out.mkdir()
        return bench.run(["sh", "-c", f"tar -xf {tar} -C {out} && sync -f {out}"])

    def hardlink() -> Run:
        set_aside(bench, bench.work / "scale-cp")
        return bench.run(["cp", "-al", str(tree), str(bench.work / "scale-cp")], WARM)

    return [Contender("floor-import", upload), Contender("untar", untar), Contender("cp", hardlink)]


def _cogw(bench: Bench, image: str) -> list[Contender]:
    project = bench.workload.project
    counter = [0]

    def cold_import() -> Run:
        counter[0] += 1
        (project / "cog.yaml").write_text(_cog_yaml(f"{image}-{counter[0]}", ["many"]))
        (project / "weights.lock").unlink(missing_ok=True)
        set_aside(bench, bench.cache)
        return bench.cogw_run("import")

    def cold_pull() -> Run:
        set_aside(bench, bench.cache)
        return bench.cogw_run("pull")

    def prepare() -> Run:
        run = bench.cogw_run("prepare", "--json", settle=WARM)
        bench.quietly("release", "--all")
        return run

    return [
        Contender("import", cold_import),
        Contender("pull", cold_pull),
        Contender("prepare", prepare),
    ]


def _widen_lock(bench: Bench, copies: int) -> None:
    """List the imported weight under ``copies`` names: same files, same store blobs."""
    project = bench.workload.project
    lock = json.loads((project / "weights.lock").read_bytes())
    entry = lock["weights"][0]
    names = [f"many-{i}" for i in range(copies)]
    lock["weights"] = [{**entry, "name": n, "target": f"/src/{n}"} for n in names]
    image = (project / "cog.yaml").read_text().splitlines()[0].removeprefix("image: ")
    (project / "cog.yaml").write_text(_cog_yaml(image, names))
    (project / "weights.lock").write_text(json.dumps(lock, indent=2) + "\n")


Pair = tuple[Measurement, Measurement]


def bench_many_files(bench: Bench, count: int, image: str) -> tuple[Pair, Pair, Pair]:
    """Import, pull and prepare of one weight of ``count`` small files, each next to its
    floor, interleaved; the weight stays imported in ``bench``'s project afterwards."""
    tree = bench.workload.project / "weights" / "many"
    files = write_tree(tree, count)
    tar = bench.work / "many.tar"
    with tarfile.open(tar, "w") as archive:
        archive.add(tree, arcname=".")
    runs = run_interleaved([*_cogw(bench, image), *_floors(bench, tree, tar, files)], bench.reps)
    nbytes = sum(p.stat().st_size for p in files)

    def m(key: str, label: str) -> Measurement:
        return Measurement(label, runs[key], nbytes)

    return (
        (m("import", "cogw import (cold)"), m("floor-import", "floor: hashlib + curl -T of a tar")),
        (m("pull", "cogw pull (cold store)"), m("untar", "tar -x + sync -f")),
        (m("prepare", "cogw prepare (hardlinks)"), m("cp", "cp -al")),
    )


def bench_scale(
    bench: Bench, count: int, locked: int = LOCKED_FILES, weights: int = CONFIG_WEIGHTS
) -> ScaleResults:
    """All scale scenarios in ``bench``'s project: ``count`` files in one weight, at least
    ``locked`` files in weights.lock, a cog.yaml of ``weights`` weights."""
    image = f"{bench.registry.host}/bench/scale"
    imports, pulls, prepares = bench_many_files(bench, count, image)
    copies = -(-locked // count)
    _widen_lock(bench, copies)
    # The cold pulls above removed the cache and with it the stat cache the import filled;
    # a project's usual state is a warm one, so one untimed plan fills it again.
    bench.quietly("plan")
    wide = run_interleaved(
        [
            Contender("status", lambda: bench.cogw_run("status", settle=WARM)),
            Contender("plan", lambda: bench.cogw_run("plan", settle=WARM)),
        ],
        bench.reps,
    )
    (bench.workload.project / "weights.lock").unlink()
    names = [f"w-{i}" for i in range(weights)]
    (bench.workload.project / "cog.yaml").write_text(_cog_yaml(image, names))
    # No lockfile: every weight is pending and status exits 1, as it should.
    config = [bench.run([*bench.cogw, "status"], WARM, (1,)) for _ in range(bench.reps)]
    return ScaleResults(
        count,
        imports,
        pulls,
        prepares,
        copies * count,
        Measurement(f"cogw status ({copies * count} locked files)", wide["status"], 0),
        Measurement(f"cogw plan ({copies * count} locked files)", wide["plan"], 0),
        weights,
        Measurement(f"cogw status ({weights} weights, config check)", tuple(config), 0),
    )
