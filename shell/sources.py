"""Weight sources: list what a ``file://``, ``hf://`` or ``http(s)://`` URI holds, and stream it.

A source knows how to reach one upstream location and describe it as an
:class:`~cogw.core.inventory.Inventory` (files sorted by path, each with size
and sha256, plus a fingerprint naming the upstream version). It does not know
about filters, layers, the store or the lockfile: callers filter the inventory,
ingest files through :meth:`Source.open` (or :meth:`Source.local_path` to link
instead of copy) and let the store verify every byte against the digest.

``file://`` rules (Cog v0.19.3 compatible where Cog succeeds, fixed where it fails):

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
* The fingerprint is ``sha256:`` DirHash over the (unfiltered) inventory.

``hf://org/repo[@ref]`` resolves the ref to a commit once (fingerprint
``commit:<sha>``), lists the tree at that commit, takes LFS/Xet file digests
from the tree metadata and downloads only the small inline files to hash them.
``open`` reads the inventoried commit (or the one named by a ``fingerprint``
passed to :func:`source_for`), so files cannot change between plan and ingest.
``http(s)://host/path/name`` is exactly one file named by the URL's last path
component; its fingerprint is the strong ETag (``etag:"…"``) or the body's
``sha256:<hex>``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, cast
from urllib.parse import unquote, urlsplit

from pyrsistent import pvector

from cogw.core.digest import PREFIX, is_digest
from cogw.core.inventory import Inventory, InventoryFile
from cogw.core.paths import path_error
from cogw.core.paths import quote as _q
from cogw.core.setdigest import dir_hash
from cogw.shell.hashing import (
    HashCancelled,
    NotRegularFile,
    SourceChanged,
    StatCache,
    hash_files,
)

if TYPE_CHECKING:
    import requests

OnBytes = Callable[[int], None]
SUPPORTED = "file, hf, huggingface, https, http"
SKIPPED_DIRS = (".git", ".cache/huggingface")
_HF_DEFAULT_ENDPOINT = "https://huggingface.co"
_MAX_INLINE = 256 << 20  # an inline (non-LFS) HF file larger than this is not an inline file
_TIMEOUT = (10.0, 60.0)


class SourceError(Exception):
    """A weight source cannot be read; the message says why and what to do."""


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


def source_for(
    uri: str,
    project_dir: Path,
    *,
    cache: StatCache | None = None,
    env: Mapping[str, str] | None = None,
    fingerprint: str | None = None,
) -> Source:
    """The source for a normalised URI. Makes no network calls.

    ``fingerprint`` (optional) is the one an earlier inventory returned; an
    ``hf://`` source then opens files at that exact commit even if the ref has
    moved since, so ingest reads what was planned.
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
        return HttpSource.from_uri(uri)
    raise SourceError(f"unsupported weight source scheme {_q(scheme)} (supported: {SUPPORTED})")


def _problem_list(subject: str, problems: list[str], limit: int = 20) -> str:
    """Every problem on its own line, capped so a broken tree cannot flood the terminal."""
    shown = [f"  {p}" for p in problems[:limit]]
    if len(problems) > limit:
        shown.append(f"  ... and {len(problems) - limit} more")
    return f"{subject} cannot be imported:\n" + "\n".join(shown)


def _sorted_inventory(files: list[InventoryFile], fingerprint: str) -> Inventory:
    # Byte-wise order, as Go sorts strings.
    ordered = sorted(files, key=lambda f: f.path.encode("utf-8"))
    return Inventory(pvector(ordered), fingerprint)


# --- file:// ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Walked:
    rel: str
    real: Path  # the regular file to read (a symlink's resolved target)


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
        try:
            results = hash_files(reals, jobs, self.cache, cancel=cancel, on_bytes=on_bytes)
        except (SourceChanged, NotRegularFile) as e:
            raise SourceError(f"weight source {self.uri}: {e}") from e
        except OSError as e:
            rel = next((w.rel for w in walked if str(w.real) == str(e.filename)), e.filename)
            raise SourceError(
                f"cannot read {_q(str(rel))} in weight source {self.uri}: {e.strerror}"
            ) from e
        by_real = dict(zip(reals, results, strict=True))
        files = [InventoryFile(w.rel, by_real[w.real].size, by_real[w.real].digest) for w in walked]
        return _sorted_inventory(files, dir_hash((f.path, f.digest) for f in files))

    def _walk(self) -> list[_Walked]:
        walk = _Walk(os.path.realpath(self.root))
        if os.path.basename(walk.root) == ".cog":
            walk.problems.append('the source root is a ".cog" directory (reserved for Cog state)')
        else:
            _walk_dir(walk, walk.root, "")
        if walk.problems:
            raise SourceError(_problem_list(f"weight source {self.uri}", walk.problems))
        if not walk.files:
            raise SourceError(f"weight source {self.uri} is empty: it contains no files")
        return walk.files

    def open(self, path: str) -> BinaryIO:
        return open(self._resolve(path), "rb")

    def local_path(self, path: str) -> Path | None:
        return self._resolve(path)

    def _resolve(self, path: str) -> Path:
        problem = path_error(path)
        if problem is not None:
            raise SourceError(f"weight source {self.uri}: {problem}")
        root = os.path.realpath(self.root)
        real = os.path.realpath(os.path.join(root, path))
        if not _inside(real, root) or not os.path.isfile(real):
            raise SourceError(f"{_q(path)} is not a regular file in weight source {self.uri}")
        return Path(real)


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip("/") + "/")


def _walk_dir(walk: _Walk, directory: str, prefix: str) -> None:
    try:
        with os.scandir(directory) as it:
            entries = list(it)
    except OSError as e:
        walk.problems.append(f"{_q(prefix or '.')}: cannot list directory: {e.strerror}")
        return
    for entry in entries:
        _visit(walk, entry, prefix + entry.name)


def _visit(walk: _Walk, entry: os.DirEntry[str], rel: str) -> None:
    if entry.is_symlink():
        _visit_symlink(walk, entry, rel)
    elif entry.is_dir(follow_symlinks=False):
        if entry.name == ".cog":
            walk.problems.append(
                f"{_q(rel)}: a .cog directory is reserved for Cog state and must not be in a "
                "weight source; move or delete it"
            )
        elif not any(rel == d or rel.endswith("/" + d) for d in SKIPPED_DIRS):
            _walk_dir(walk, entry.path, rel + "/")
    elif entry.is_file(follow_symlinks=False):
        _add_file(walk, rel, Path(entry.path))
    else:
        kind = _kind(entry.stat(follow_symlinks=False).st_mode)
        walk.problems.append(
            f"{_q(rel)}: is a {kind}, not a regular file; resolve to regular files before importing"
        )


def _visit_symlink(walk: _Walk, entry: os.DirEntry[str], rel: str) -> None:
    target = os.path.realpath(entry.path)
    shown = os.readlink(entry.path)
    try:
        st = os.stat(target)
    except OSError:
        walk.problems.append(
            f"{_q(rel)}: dangling symlink (-> {_q(shown)}): its target is missing or loops"
        )
        return
    if not _inside(target, walk.root):
        walk.problems.append(
            f"{_q(rel)}: symlink points outside the source (-> {_q(shown)}); copy the file "
            "into the source directory (for a Hugging Face cache snapshot, use an hf:// source "
            "or 'hf download --local-dir')"
        )
    elif stat.S_ISREG(st.st_mode):
        _add_file(walk, rel, Path(target))
    else:
        walk.problems.append(
            f"{_q(rel)}: symlink to a {_kind(st.st_mode)} (-> {_q(shown)}); "
            "only symlinks to regular files are followed"
        )


def _add_file(walk: _Walk, rel: str, real: Path) -> None:
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


# --- shared HTTP plumbing ----------------------------------------------------------------------


def _session() -> requests.Session:
    """A session that retries connection failures, 429 and 5xx like Cog (3 retries)."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(
        total=3,
        backoff_factor=0.5,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=("GET", "HEAD"),
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


_HF_AUTH_HINT = "set HF_TOKEN or HUGGING_FACE_HUB_TOKEN"
_HTTP_AUTH_HINT = "http(s) sources are fetched without credentials; use a URL that needs none"


def _get(
    session: requests.Session, url: str, headers: Mapping[str, str], what: str, auth_hint: str
) -> requests.Response:
    import requests

    try:
        resp = session.get(url, headers=dict(headers), stream=True, timeout=_TIMEOUT)
    except requests.RequestException as e:
        raise SourceError(f"request {url}: {e}") from e
    if resp.status_code >= 300:
        resp.close()
        raise SourceError(_status_message(resp.status_code, url, what, auth_hint))
    return resp


def _status_message(code: int, url: str, what: str, auth_hint: str) -> str:
    if code == 401:
        return f"authentication failed for {what} (HTTP 401): {auth_hint}"
    if code == 403:
        return f"access denied for {what} (HTTP 403): {auth_hint}"
    if code == 404:
        return f"not found: {url} (HTTP 404)"
    return f"HTTP {code} from {url}"


def _stream(resp: requests.Response) -> BinaryIO:
    # urllib3's response is a readable file object; decoding keeps any
    # Content-Encoding transparent, and closing it releases the connection.
    resp.raw.decode_content = True
    return cast(BinaryIO, resp.raw)


def _hash_body(
    resp: requests.Response,
    limit: int,
    on_bytes: OnBytes | None,
    cancel: threading.Event | None,
) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with contextlib.closing(resp):
        for chunk in resp.iter_content(1 << 20):
            if cancel is not None and cancel.is_set():
                raise HashCancelled("hashing cancelled")
            size += len(chunk)
            if size > limit:
                break
            h.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return PREFIX + h.hexdigest(), size


# --- hf:// ---------------------------------------------------------------------------------


def parse_hf_uri(uri: str) -> tuple[str, str]:
    """``hf://org/repo[@ref]`` -> (``org/repo``, ref), with Cog's rules and messages."""
    for prefix in ("hf://", "huggingface://"):
        if uri.startswith(prefix):
            rest = uri[len(prefix) :]
            break
    else:
        raise SourceError(f"not an hf:// URI: {_q(uri)}")
    if not rest:
        raise SourceError("empty hf:// URI")
    repo, ref = rest, "main"
    at = rest.rfind("@")
    if at > 0:
        repo, ref = rest[:at], rest[at + 1 :]
        if not ref:
            raise SourceError(f"empty ref in hf:// URI: {_q(uri)}")
    parts = repo.split("/")
    if len(parts) != 2 or not all(parts):
        raise SourceError(f"invalid hf:// repo {_q(repo)}: expected org/repo")
    return repo, ref


@dataclass(slots=True)
class HfSource:
    uri: str
    repo_id: str
    ref: str
    endpoint: str
    token: str | None
    commit: str | None = None  # set by inventory(); open() then reads that exact commit

    @classmethod
    def from_uri(cls, uri: str, env: Mapping[str, str]) -> HfSource:
        repo_id, ref = parse_hf_uri(uri)
        endpoint = (env.get("HF_ENDPOINT") or _HF_DEFAULT_ENDPOINT).rstrip("/")
        token = env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or None
        return cls(uri, repo_id, ref, endpoint, token)

    def inventory(
        self,
        *,
        jobs: int = 4,
        on_bytes: OnBytes | None = None,
        cancel: threading.Event | None = None,
    ) -> Inventory:
        commit = self._resolve_commit()
        entries = self._list_tree(commit)
        files, inline = _hf_files(entries, self.uri)
        with _session() as session, ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            fetched = list(
                pool.map(lambda e: self._hash_inline(session, commit, e, on_bytes, cancel), inline)
            )
        self.commit = commit
        return _sorted_inventory(files + fetched, f"commit:{commit}")

    def _api(self) -> Any:
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.endpoint, token=self.token)

    def _resolve_commit(self) -> str:
        with self._hf_errors():
            info = self._api().model_info(self.repo_id, revision=self.ref)
        sha = getattr(info, "sha", None)
        if not isinstance(sha, str) or not sha:
            raise SourceError(f"empty sha in revision response for {self.repo_id}@{self.ref}")
        return sha

    def _list_tree(self, commit: str) -> list[Any]:
        with self._hf_errors():
            return list(self._api().list_repo_tree(self.repo_id, recursive=True, revision=commit))

    @contextlib.contextmanager
    def _hf_errors(self) -> Iterator[None]:
        """huggingface_hub and transport errors -> SourceError with the status's advice."""
        import httpx2
        from huggingface_hub.errors import HfHubHTTPError

        try:
            yield
        except HfHubHTTPError as e:
            code = e.response.status_code if e.response is not None else 0
            what = f"{self.uri} at {self.endpoint}"
            message = _hf_status_message(code, what, self.ref, self.token is not None, e)
            raise SourceError(message) from e
        except (httpx2.HTTPError, OSError) as e:
            raise SourceError(f"request {self.endpoint} for {self.uri}: {e}") from e

    def _headers(self) -> dict[str, str]:
        from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

        headers: dict[str, str] = build_hf_headers(token=self.token)
        return headers

    def _url(self, revision: str, path: str) -> str:
        from huggingface_hub import hf_hub_url

        # hf_hub_url escapes the revision fully, so a ref's "/" becomes %2F (Cog §17 #9).
        return hf_hub_url(self.repo_id, path, revision=revision, endpoint=self.endpoint)

    def _hash_inline(
        self,
        session: requests.Session,
        commit: str,
        entry: InventoryFile,
        on_bytes: OnBytes | None,
        cancel: threading.Event | None,
    ) -> InventoryFile:
        if cancel is not None and cancel.is_set():
            raise HashCancelled(f"hashing cancelled: {self.uri} {entry.path}")
        limit = entry.size if entry.size > 0 else _MAX_INLINE
        url = self._url(commit, entry.path)
        resp = _get(session, url, self._headers(), self.uri, _HF_AUTH_HINT)
        digest, size = _hash_body(resp, limit, on_bytes, cancel)
        if entry.size > 0 and size != entry.size:
            raise SourceError(
                f"inline file {_q(entry.path)} of {self.uri}: server returned {size} bytes, "
                f"advertised {entry.size}"
            )
        return InventoryFile(entry.path, size, digest)

    def open(self, path: str) -> BinaryIO:
        problem = path_error(path)
        if problem is not None:
            raise SourceError(f"weight source {self.uri}: {problem}")
        url = self._url(self.commit or self.ref, path)
        resp = _get(_session(), url, self._headers(), self.uri, _HF_AUTH_HINT)
        return _stream(resp)

    def local_path(self, path: str) -> Path | None:
        return None


def _hf_status_message(code: int, what: str, ref: str, token: bool, error: Exception) -> str:
    from huggingface_hub.errors import RevisionNotFoundError

    if code == 401 and token:
        return (
            f"authentication failed for {what} (HTTP 401): the token in HF_TOKEN / "
            "HUGGING_FACE_HUB_TOKEN was rejected or cannot read this repository"
        )
    if code == 401:
        return (
            f"authentication failed for {what} (HTTP 401): the repository is private, gated or "
            "missing; set HF_TOKEN or HUGGING_FACE_HUB_TOKEN to a token that can read it"
        )
    if code == 403:
        return f"access denied for {what} (HTTP 403): check repo visibility and token permissions"
    if isinstance(error, RevisionNotFoundError):
        return f"revision {_q(ref)} not found in {what} (HTTP {code})"
    if code == 404:
        return f"repository not found: {what} (HTTP 404)"
    return f"HTTP {code} from {what}: {str(error).splitlines()[0] if str(error) else ''}"


def _hf_files(entries: list[Any], uri: str) -> tuple[list[InventoryFile], list[InventoryFile]]:
    """Tree entries -> (files with digests from LFS metadata, inline files still to hash)."""
    known: list[InventoryFile] = []
    inline: list[InventoryFile] = []
    problems: list[str] = []
    seen: set[str] = set()
    for entry in entries:
        if not hasattr(entry, "lfs"):  # a folder
            continue
        path = str(entry.path)
        problem = path_error(path) or (f"path {_q(path)} is listed twice" if path in seen else None)
        seen.add(path)
        lfs = entry.lfs
        if problem is not None:
            problems.append(problem)
        elif lfs is not None and not is_digest(PREFIX + str(lfs.sha256)):
            problems.append(f"{_q(path)}: LFS oid {_q(str(lfs.sha256))} is not a sha256")
        elif lfs is not None:
            known.append(InventoryFile(path, int(lfs.size), PREFIX + str(lfs.sha256)))
        else:
            inline.append(InventoryFile(path, int(entry.size or 0), ""))
    if problems:
        raise SourceError(_problem_list(f"weight source {uri}", problems))
    if not known and not inline:
        raise SourceError(f"weight source {uri} is empty: it contains no files")
    return known, inline


# --- http(s):// -----------------------------------------------------------------------------


@dataclass(slots=True)
class HttpSource:
    uri: str
    filename: str

    @classmethod
    def from_uri(cls, uri: str) -> HttpSource:
        parts = urlsplit(uri)
        if parts.username is not None or parts.password is not None:
            raise SourceError("HTTP URI must not embed credentials (user:pass@host)")
        name = unquote(parts.path.rstrip("/").rpartition("/")[2]) if parts.path else ""
        if not name or not parts.hostname:
            raise SourceError(f"HTTP URI {_q(uri)} has no filename in path")
        problem = path_error(name)
        if problem is not None:
            raise SourceError(f"HTTP URI {_q(uri)}: {problem}")
        return cls(uri, name)

    def inventory(
        self,
        *,
        jobs: int = 4,
        on_bytes: OnBytes | None = None,
        cancel: threading.Event | None = None,
    ) -> Inventory:
        with _session() as session:
            etag = self._head_etag(session)
            resp = _get(session, self.uri, {}, self.uri, _HTTP_AUTH_HINT)
            got_etag = _strong_etag(resp.headers.get("ETag"))
            expected = resp.headers.get("Content-Length")
            digest, size = _hash_body(resp, 1 << 62, on_bytes, cancel)
        if etag is not None and got_etag is not None and got_etag != etag:
            raise SourceError(
                f"{self.uri} changed while it was being read (ETag {etag} -> {got_etag})"
            )
        if expected is not None and expected.isdigit() and int(expected) != size:
            raise SourceError(f"{self.uri}: server returned {size} bytes, advertised {expected}")
        etag = etag or got_etag
        fingerprint = f"etag:{etag}" if etag else digest
        return Inventory(pvector([InventoryFile(self.filename, size, digest)]), fingerprint)

    def _head_etag(self, session: requests.Session) -> str | None:
        """Best effort: servers that refuse HEAD just get no ETag fingerprint."""
        import requests

        try:
            resp = session.head(self.uri, allow_redirects=True, timeout=_TIMEOUT)
        except requests.RequestException:
            return None
        with contextlib.closing(resp):
            return _strong_etag(resp.headers.get("ETag")) if resp.ok else None

    def open(self, path: str) -> BinaryIO:
        if path != self.filename:
            raise SourceError(
                f"{_q(path)} is not in weight source {self.uri} (it holds {_q(self.filename)})"
            )
        return _stream(_get(_session(), self.uri, {}, self.uri, _HTTP_AUTH_HINT))

    def local_path(self, path: str) -> Path | None:
        return None


def _strong_etag(value: str | None) -> str | None:
    """The raw ETag (quotes included) if strong; a weak ``W/`` tag says nothing about bytes."""
    if not value or value.startswith("W/"):
        return None
    return value
