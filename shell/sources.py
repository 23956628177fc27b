"""Weight sources: list what a ``file://``, ``hf://`` or ``http(s)://`` URI holds, and stream it.

A source knows how to reach one upstream location and describe it as an
:class:`~cogw.core.inventory.Inventory` (files sorted by path, each with size
and sha256, plus a fingerprint naming the upstream version). It does not know
about filters, layers, the store or the lockfile: callers filter the inventory,
ingest files through :meth:`Source.open` (or :meth:`Source.local_path` to link
instead of copy) and let the store verify every byte against the digest.

Each scheme has its module, re-exported here: :mod:`~cogw.shell.file_source`
(a directory, with Cog's rules and their fixes), :mod:`~cogw.shell.hf_source`
(a Hugging Face repository pinned to a commit) and
:mod:`~cogw.shell.http_source` (one file at a URL). :func:`source_for` picks
one by the URI's scheme without touching the network.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from cogw.core.artifact.inventory import Inventory
from cogw.core.paths import quote
from cogw.shell.file_source import SKIPPED_DIRS, FileSource
from cogw.shell.hashing import StatCache
from cogw.shell.hf_source import HfSource, parse_hf_uri
from cogw.shell.http_source import HttpSource
from cogw.shell.source_base import OnBytes, SourceError

if TYPE_CHECKING:
    from cogw.shell.http_fetch import Spool

# The scheme modules' names are re-exported: callers know them from here.
__all__ = [
    "SKIPPED_DIRS",
    "SUPPORTED",
    "FileSource",
    "HfSource",
    "HttpSource",
    "OnBytes",
    "Source",
    "SourceError",
    "parse_hf_uri",
    "source_for",
]

SUPPORTED = "file, hf, huggingface, https, http"


class Source(Protocol):
    """One upstream location of weight files. Every failure a user can fix is a SourceError."""

    uri: str

    def inventory(
        self,
        *,
        jobs: int = 4,
        on_bytes: OnBytes | None = None,
        cancel: threading.Event | None = None,
    ) -> Inventory:
        """Every file with size and sha256, sorted by path, plus the version fingerprint.

        ``on_bytes`` receives the length of every chunk read (from worker
        threads; it must be thread-safe). A set ``cancel`` raises HashCancelled.
        """
        ...

    def open(self, path: str) -> BinaryIO:
        """A streaming reader of one inventoried file; the caller closes it and verifies it."""
        ...

    def local_path(self, path: str) -> Path | None:
        """The regular file on this machine holding ``path`` (for hardlink ingest), else None."""
        ...

    def is_local(self) -> bool:
        """Whether every file is on this machine: ``open`` reads no network."""
        ...


def source_for(
    uri: str,
    project_dir: Path,
    *,
    cache: StatCache | None = None,
    env: Mapping[str, str] | None = None,
    fingerprint: str | None = None,
    recorded: Inventory | None = None,
    spool: Spool | None = None,
    reuse_fetched: bool = False,
) -> Source:
    """The source for a normalised URI. Makes no network calls.

    ``fingerprint`` (optional) is the one an earlier inventory returned; an
    ``hf://`` source then opens files at that exact commit even if the ref has
    moved since, so ingest reads what was planned. ``recorded`` (what weights.lock
    holds for this weight) lets an ``http(s)://`` source whose strong ETag did not
    move skip the download; ``spool`` is the store a download is written into;
    ``reuse_fetched``: the plan made right after an import may reuse its download.
    """
    scheme = uri.partition("://")[0] if "://" in uri else ""
    if scheme in ("file", ""):
        return FileSource.from_uri(uri, project_dir, cache)
    if scheme in ("hf", "huggingface"):
        source = HfSource.from_uri(uri, os.environ if env is None else env)
        if fingerprint is not None and fingerprint.startswith("commit:"):
            source.commit = fingerprint.removeprefix("commit:") or None
        return source
    if scheme in ("http", "https"):
        http = HttpSource.from_uri(uri, recorded, spool)
        http.reuse_fetched = reuse_fetched
        return http
    raise SourceError(f"unsupported weight source scheme {quote(scheme)} (supported: {SUPPORTED})")
