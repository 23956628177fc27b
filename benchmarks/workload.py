"""The benchmark's model: one large .safetensors file plus a bundle of small text files.

Knows how to write a deterministic project (cog.yaml, weights/) of a given size, and a
tar of its small files for the upload floor. Does not run cogw or talk to a registry.
The large file is random (incompressible, like real weights) and at least 64 MiB
becomes one standalone uncompressed layer; the small files go into one tar+gzip bundle.
"""

from __future__ import annotations

import json
import os
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20
WRITE_CHUNK = 16 * MIB
SMALL_FILE_COUNT = 96
SEED = 20260416
WEIGHT_NAME = "model"
TARGET = "/src/weights/model"


@dataclass(frozen=True, slots=True)
class Workload:
    project: Path  # holds cog.yaml and weights/
    source: Path  # the weight's source directory
    large_file: Path
    small_files: tuple[Path, ...]
    small_tar: Path  # the small files as one tar, for the upload floor

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.large_file, *self.small_files)

    @property
    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files)


def _write_random(path: Path, size: int) -> None:
    # os.urandom is several times faster than a seeded generator here, and the bytes'
    # values do not matter: only that they are incompressible like real weights.
    with path.open("wb") as out:
        remaining = size
        while remaining > 0:
            n = min(WRITE_CHUNK, remaining)
            out.write(os.urandom(n))
            remaining -= n


def _small_file_text(index: int, rng: random.Random) -> bytes:
    # Tokenizer- and config-like JSON, compressible; log-normal sizes (median ~7 KB,
    # a few of several hundred KB) like a model repository's small files.
    count = min(int(rng.lognormvariate(5, 1.5)) + 1, 12_000)
    vocab = {f"tok_{index}_{i}_{rng.randrange(1 << 30):x}": i for i in range(count)}
    return json.dumps({"index": index, "vocab": vocab}, indent=2).encode()


def _small_path(source: Path, index: int) -> Path:
    folder = ("", "tokenizer/", "configs/nested/")[index % 3]
    return source / f"{folder}file-{index:03d}.json"


def _write_small_files(source: Path, rng: random.Random) -> tuple[Path, ...]:
    paths = []
    for index in range(SMALL_FILE_COUNT):
        path = _small_path(source, index)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_small_file_text(index, rng))
        paths.append(path)
    return tuple(paths)


def _write_tar(path: Path, files: tuple[Path, ...], root: Path) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for f in files:
            tar.add(f, arcname=str(f.relative_to(root)))


def write_cog_yaml(project: Path, image: str) -> None:
    """Point the project at ``image`` (a fresh repository per cold import)."""
    (project / "cog.yaml").write_text(
        f"image: {image}\n"
        "weights:\n"
        f"  - name: {WEIGHT_NAME}\n"
        f"    target: {TARGET}\n"
        "    source:\n"
        "      uri: weights/model\n"
    )


def make_workload(work: Path, size_mib: int, image: str, small_files: bool = True) -> Workload:
    """Write the project under ``work``: a ``size_mib`` MiB .safetensors plus small files
    (none when ``small_files`` is false: the weight is then that one file)."""
    project = work / "project"
    source = project / "weights" / "model"
    source.mkdir(parents=True)
    large = source / "model.safetensors"
    _write_random(large, size_mib * MIB)
    small = _write_small_files(source, random.Random(SEED)) if small_files else ()
    small_tar = work / "small-files.tar"
    _write_tar(small_tar, small, source)
    write_cog_yaml(project, image)
    return Workload(project, source, large, small, small_tar)
