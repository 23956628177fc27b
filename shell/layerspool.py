"""A gzip layer built once: digested while its bytes go to a temp file, pushed from it.

The temp file is anonymous (``O_TMPFILE`` where the kernel has it, else unlinked at
once) and lives beside the store, so it takes the store's disk, not a RAM-backed
/tmp, and a kill -9 leaves nothing of it behind. Which layers are spooled is
core/artifact/spool.py's decision; building and digesting the bytes is
shell/layers.py's ``stream_layer``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import IO

from cogw.core.artifact.packing import LayerPlan
from cogw.core.artifact.spool import worth_spooling
from cogw.core.lock.lockfile import LockLayer
from cogw.shell.layers import OpenFile, digest_layer, stream_layer

READ_SIZE = 1 << 20


class LayerSpools:
    """The spooled bytes of the layers one import digested, until the block ends."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._files: dict[int, IO[bytes]] = {}  # by id() of the plan
        self._stack = ExitStack()

    def __enter__(self) -> LayerSpools:
        return self

    def __exit__(self, *_: object) -> None:
        self._files.clear()
        self._stack.close()

    def digest(self, plans: Sequence[LayerPlan], open_file: OpenFile, jobs: int) -> list[LockLayer]:
        """Each plan's layer digest in plan order; the spooled ones keep their bytes."""
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        spool = [worth_spooling(p.gzip_level, p.file_bytes) for p in plans]
        files = [self._new_file() if s else None for s in spool]

        def one(i: int) -> LockLayer:
            target = files[i]
            if target is None:
                return digest_layer(plans[i], open_file)
            return _digest_into(plans[i], open_file, target)

        if jobs == 1 or len(plans) <= 1:
            layers = [one(i) for i in range(len(plans))]
        else:
            with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="digest-layer") as pool:
                layers = list(pool.map(one, range(len(plans))))
        self._files.update((id(p), f) for p, f in zip(plans, files, strict=True) if f is not None)
        return layers

    def chunks(self, plan: LayerPlan, open_file: OpenFile) -> Iterator[bytes]:
        """The layer's bytes: from its spool when it has one, else built again."""
        spooled = self._files.get(id(plan))
        if spooled is None:
            return stream_layer(plan, open_file)
        return _read_back(spooled.fileno())

    def _new_file(self) -> IO[bytes]:
        self._directory.mkdir(parents=True, exist_ok=True)
        return self._stack.enter_context(tempfile.TemporaryFile(dir=self._directory))


def _digest_into(plan: LayerPlan, open_file: OpenFile, target: IO[bytes]) -> LockLayer:
    layer = digest_layer(plan, open_file, keep=target.write)
    target.flush()
    return layer


def _read_back(fd: int) -> Iterator[bytes]:
    # pread: every push attempt (a retry opens the stream again) starts at byte 0, and
    # two readers of one spool would not move each other's offset.
    offset = 0
    while chunk := os.pread(fd, READ_SIZE, offset):
        offset += len(chunk)
        yield chunk
