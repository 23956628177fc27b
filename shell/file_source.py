"""The ``file://`` weight source: a directory in the project (or anywhere on this machine).

Rules (Cog v0.19.3 compatible where Cog succeeds, fixed where it fails):

* Relative URIs resolve against the project directory. A source root that is a
  symlink to a directory works (Cog fails with ``non-regular entry "."``).
* Hidden files are included, as in Cog, so set digests match Cog's for the same
  files (the real all-MiniLM-L6-v2 directory ships a ``.gitattributes``).
  Two kinds of directories are skipped at any depth because they are tool
  metadata, never weights, and make digests unstable: ``.git/`` (a clone's
  object store) and ``.cache/huggingface/`` (written by
  ``huggingface-cli download --local-dir``, with download timestamps inside).
  Cog imports both (import spec §17 #11); for every other layout the file set,
  and so the fingerprint and set digest, is the one Cog computes.
* A ``.cog`` directory anywhere is an error (weights spec §1.3 says MUST
  reject; Cog silently skips it). A *file* named ``.cog`` is an ordinary file.
* A symlink to a regular file inside the source root is imported as a regular
  file with the link's path and the target's content. A symlink that points
  outside the root, dangles, or points to a directory is an error (Cog rejects
  every symlink). Devices, fifos and sockets are errors.
* Paths must pass :func:`cogw.core.paths.path_error` (valid UTF-8, no control
  characters or backslashes).
* All problems of a walk are reported together in one :class:`SourceError`.
* Files are hashed in parallel through the stat cache, each real file once.
  A file that will be its own uncompressed layer (:func:`cogw.core.packing.is_standalone_raw`)
  also gets that layer's digest from the same read, cached for import to reuse.
* The fingerprint is ``sha256:`` DirHash over the (unfiltered) inventory.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cogw.core.artifact.inventory import Inventory, InventoryFile
from cogw.core.artifact.packing import is_standalone_raw
from cogw.core.artifact.tarformat import standalone_framing
from cogw.core.lock.setdigest import dir_hash
from cogw.core.paths import path_error, quote
from cogw.shell.hashing import (
    HashResult,
    NotRegularFile,
    SourceChanged,
    StatCache,
    cache_answers,
    hash_files,
    stat_or_none,
)
from cogw.shell.source_base import OnBytes, SourceError, problem_list, sorted_inventory

SKIPPED_DIRS = (".git", ".cache/huggingface")


@dataclass(frozen=True, slots=True)
class _Walked:
    rel: str
    real: str  # the regular file to read (a symlink's resolved target)


@dataclass(slots=True)
class _Walk:
    root: str  # realpath of the source root
    files: list[_Walked] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(slots=True)
class FileSource:
    uri: str
    root: Path  # as configured; may itself be a symlink
    cache: StatCache | None = None
    # Told (path, file, size) before a standalone layer's file is read: an import starts
    # its upload there (shell/import_early.py). None: nobody asks.
    on_large_read: Callable[[str, Path, int], Callable[[str, str | None], None] | None] | None = (
        None
    )
    # realpath of each directory _resolve has seen ("" is the root): a file's path is
    # its directory's, resolved once, joined with its name (resolved if a symlink).
    _real_dirs: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_uri(cls, uri: str, project_dir: Path, cache: StatCache | None) -> FileSource:
        raw = uri.removeprefix("file://")
        if not raw:
            raise SourceError("empty weight source path")
        path = Path(raw) if raw.startswith("/") else project_dir / raw.removeprefix("./")
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise SourceError(f"weight source not found: {uri}") from None
        except OSError as e:
            raise SourceError(f"cannot read weight source {uri}: {e.strerror}") from e
        if not stat.S_ISDIR(st.st_mode):
            raise SourceError(
                f"weight source {uri} is not a directory (file:// sources must be directories)"
            )
        return cls(uri, path, cache)

    def inventory(
        self,
        *,
        jobs: int = 4,
        on_bytes: OnBytes | None = None,
        cancel: threading.Event | None = None,
    ) -> Inventory:
        walked = self._walk()
        # Several links may name one file: read each real file once.
        reals = list(dict.fromkeys(w.real for w in walked))
        # One stat per real file serves both the framing choice and the stat cache.
        stats = [stat_or_none(real) for real in reals]
        framed = _framed_paths(walked, reals, stats)
        framings = [
            standalone_framing(rel, st.st_size) if rel is not None and st is not None else None
            for rel, st in zip(framed, stats, strict=True)
        ]
        try:
            known = cache_answers(self.cache, reals, framings, stats)
            told = self._tell_large_reads(reals, framed, stats, known)
            results = hash_files(
                reals,
                jobs,
                self.cache,
                framings=framings,
                known=known,
                sizes=[None if st is None else st.st_size for st in stats],
                cancel=cancel,
                on_bytes=on_bytes,
            )
        except (SourceChanged, NotRegularFile) as e:
            raise SourceError(f"weight source {self.uri}: {e}") from e
        except OSError as e:
            rel = next((w.rel for w in walked if w.real == str(e.filename)), e.filename)
            raise SourceError(
                f"cannot read {quote(str(rel))} in weight source {self.uri}: {e.strerror}"
            ) from e
        for i, hashed in told.items():
            hashed(results[i].digest, results[i].layer_digest)
        if len(reals) < len(walked):
            by_real = dict(zip(reals, results, strict=True))
            results = [by_real[w.real] for w in walked]
        # Now results[i] is walked[i]'s (without links, reals are walked's own order).
        pairs = zip(walked, results, strict=True)
        files = [InventoryFile(w.rel, r.size, r.digest) for w, r in pairs]
        return sorted_inventory(files, dir_hash((f.path, f.digest) for f in files))

    def _tell_large_reads(
        self,
        reals: list[str],
        framed: list[str | None],
        stats: list[os.stat_result | None],
        known: list[HashResult | None],
    ) -> dict[int, Callable[[str, str | None], None]]:
        """Tells ``on_large_read`` of each standalone layer's file about to be read; what
        it answered, by index, is told the digests once they are known."""
        told: dict[int, Callable[[str, str | None], None]] = {}
        hook = self.on_large_read
        if hook is None:
            return told
        for i, (real, rel, st, hit) in enumerate(zip(reals, framed, stats, known, strict=True)):
            if rel is not None and st is not None and hit is None:
                hashed = hook(rel, Path(real), st.st_size)
                if hashed is not None:
                    told[i] = hashed
        return told

    def _walk(self) -> list[_Walked]:
        walk = _Walk(os.path.realpath(self.root))
        if os.path.basename(walk.root) == ".cog":
            walk.problems.append('the source root is a ".cog" directory (reserved for Cog state)')
        else:
            _walk_dir(walk, walk.root, "")
        if walk.problems:
            raise SourceError(problem_list(f"weight source {self.uri}", walk.problems))
        if not walk.files:
            raise SourceError(f"weight source {self.uri} is empty: it contains no files")
        return walk.files

    def open(self, path: str) -> BinaryIO:
        return open(self._resolve(path), "rb")

    def local_path(self, path: str) -> Path | None:
        return self._resolve(path)

    def is_local(self) -> bool:
        return True

    def _resolve(self, path: str) -> Path:
        problem = path_error(path)
        if problem is not None:
            raise SourceError(f"weight source {self.uri}: {problem}")
        root = self._real_dir("")
        parent, _, name = path.rpartition("/")
        real = os.path.join(self._real_dir(parent), name)
        if os.path.islink(real):
            real = os.path.realpath(real)
        if not _inside(real, root) or not os.path.isfile(real):
            raise SourceError(f"{quote(path)} is not a regular file in weight source {self.uri}")
        return Path(real)

    def _real_dir(self, rel: str) -> str:
        real = self._real_dirs.get(rel)
        if real is None:
            base = os.path.realpath(self.root)
            real = self._real_dirs[rel] = os.path.realpath(os.path.join(base, rel)) if rel else base
        return real


def _framed_paths(
    walked: list[_Walked], reals: list[str], stats: list[os.stat_result | None]
) -> list[str | None]:
    """For each real file, the path its standalone uncompressed layer is framed for, if
    it gets one.

    Hashing that layer in the inventory's own read (and caching it by stat)
    lets import push such a file without reading it again. A file reached
    through several paths is framed for the first of them in path order that
    needs it; the others are digested at import, as before. A file that could
    not be stat'ed gets none (reading it reports why).
    """
    sizes = {real: st.st_size for real, st in zip(reals, stats, strict=True) if st is not None}
    first: dict[str, str] = {}  # real file -> the first path in order that frames it
    for w in walked:
        size = sizes.get(w.real)
        if size is None or not is_standalone_raw(w.rel, size):
            continue
        if w.real not in first or w.rel < first[w.real]:
            first[w.real] = w.rel
    return [first.get(real) for real in reals]


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip("/") + "/")


def _walk_dir(walk: _Walk, directory: str, prefix: str) -> None:
    try:
        with os.scandir(directory) as it:
            entries = list(it)
    except OSError as e:
        walk.problems.append(f"{quote(prefix or '.')}: cannot list directory: {e.strerror}")
        return
    for entry in entries:
        _visit(walk, entry, prefix + entry.name)


def _visit(walk: _Walk, entry: os.DirEntry[str], rel: str) -> None:
    if entry.is_file(follow_symlinks=False):  # the common case first: neither link nor dir
        _add_file(walk, rel, entry.path)
    elif entry.is_symlink():
        _visit_symlink(walk, entry, rel)
    elif entry.is_dir(follow_symlinks=False):
        if entry.name == ".cog":
            walk.problems.append(
                f"{quote(rel)}: a .cog directory is reserved for Cog state and must not be in a "
                "weight source; move or delete it"
            )
        elif not any(rel == d or rel.endswith("/" + d) for d in SKIPPED_DIRS):
            _walk_dir(walk, entry.path, rel + "/")
    else:
        kind = _kind(entry.stat(follow_symlinks=False).st_mode)
        walk.problems.append(
            f"{quote(rel)}: is a {kind}, not a regular file; "
            "resolve to regular files before importing"
        )


def _visit_symlink(walk: _Walk, entry: os.DirEntry[str], rel: str) -> None:
    target = os.path.realpath(entry.path)
    shown = os.readlink(entry.path)
    try:
        st = os.stat(target)
    except OSError:
        walk.problems.append(
            f"{quote(rel)}: dangling symlink (-> {quote(shown)}): its target is missing or loops"
        )
        return
    if not _inside(target, walk.root):
        walk.problems.append(
            f"{quote(rel)}: symlink points outside the source (-> {quote(shown)}); copy the file "
            "into the source directory (for a Hugging Face cache snapshot, use an hf:// source "
            "or 'hf download --local-dir')"
        )
    elif stat.S_ISREG(st.st_mode):
        _add_file(walk, rel, target)
    else:
        walk.problems.append(
            f"{quote(rel)}: symlink to a {_kind(st.st_mode)} (-> {quote(shown)}); "
            "only symlinks to regular files are followed"
        )


def _add_file(walk: _Walk, rel: str, real: str) -> None:
    problem = path_error(rel)
    if problem is not None:
        walk.problems.append(f"{problem}; rename it")
    else:
        walk.files.append(_Walked(rel, real))


def _kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "directory"),
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    )
    return next((name for test, name in kinds if test(mode)), "special file")
