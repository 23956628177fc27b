"""One weight read from several sources: each file from the source that won its path.

The plan (``cogw.core.plan.importsources``) merged the sources' filtered files and
recorded which source owns each path; ingest then reads through this one reader,
so the stages after planning never learn that a weight had several sources.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from cogw.core.artifact.inventory import Inventory
from cogw.shell.source_base import OnBytes

if TYPE_CHECKING:
    from cogw.shell.sources import Source


class MergedSource:
    """Routes ``open`` and ``local_path`` by path to the owning source."""

    def __init__(self, sources: Sequence[Source], owner_of: Mapping[str, int]) -> None:
        self._sources = list(sources)
        self._owner_of = dict(owner_of)
        self.uri = self._sources[0].uri

    def _owner(self, path: str) -> Source:
        return self._sources[self._owner_of[path]]

    def inventory(
        self,
        *,
        jobs: int = 4,
        on_bytes: OnBytes | None = None,
        cancel: threading.Event | None = None,
    ) -> Inventory:
        raise NotImplementedError("a merged source is read, never inventoried (plan it first)")

    def open(self, path: str) -> BinaryIO:
        return self._owner(path).open(path)

    def local_path(self, path: str) -> Path | None:
        return self._owner(path).local_path(path)

    def is_local(self) -> bool:
        return all(source.is_local() for source in self._sources)
