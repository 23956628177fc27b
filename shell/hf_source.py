"""The ``hf://`` (``huggingface://``) weight source: a Hugging Face model repository at a ref.

``hf://org/repo[@ref]`` resolves the ref to a commit once (fingerprint
``commit:<sha>``), lists the tree at that commit, takes LFS/Xet file digests
from the tree metadata and downloads only the small inline files to hash them.
``open`` reads the inventoried commit (or the one named by a ``fingerprint``
passed to :func:`~cogw.shell.sources.source_for`), so files cannot change
between plan and ingest.

The endpoint comes from ``HF_ENDPOINT`` and the token from ``HF_TOKEN`` or
``HUGGING_FACE_HUB_TOKEN``; huggingface_hub is imported only when a source is used.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from returns.result import Failure, Success

from cogw.core.artifact.inventory import Inventory, InventoryFile
from cogw.core.config.uri import parse_hf_uri as core_parse_hf_uri
from cogw.core.digest import PREFIX, is_digest
from cogw.core.paths import path_error, quote
from cogw.shell.hashing import HashCancelled
from cogw.shell.http_source import body_stream, hash_body, http_get, http_session
from cogw.shell.source_base import OnBytes, SourceError, problem_list, sorted_inventory

if TYPE_CHECKING:
    import requests

_HF_DEFAULT_ENDPOINT = "https://huggingface.co"
_MAX_INLINE = 256 << 20  # an inline (non-LFS) HF file larger than this is not an inline file
_HF_AUTH_HINT = "set HF_TOKEN or HUGGING_FACE_HUB_TOKEN"


def parse_hf_uri(uri: str) -> tuple[str, str]:
    """``hf://org/repo[@ref]`` -> (``org/repo``, ref); the core parser's error as SourceError."""
    match core_parse_hf_uri(uri):
        case Success(ref):
            return ref.repo_id, ref.ref
        case Failure(message):
            raise SourceError(message)
    raise AssertionError("unreachable")


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
        with http_session() as session, ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            fetched = list(
                pool.map(lambda e: self._hash_inline(session, commit, e, on_bytes, cancel), inline)
            )
        self.commit = commit
        return sorted_inventory(files + fetched, f"commit:{commit}")

    def version(self) -> str:
        """The fingerprint ``inventory`` would return (the ref's commit), asked cheaply."""
        return f"commit:{self._resolve_commit()}"

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
        from huggingface_hub.errors import HfHubHTTPError, HFValidationError

        try:
            yield
        except HFValidationError as e:
            raise SourceError(f"weight source {self.uri}: {e}") from e
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
        resp = http_get(session, url, self._headers(), self.uri, _HF_AUTH_HINT)
        digest, size = hash_body(resp, limit, on_bytes, cancel)
        if entry.size > 0 and size != entry.size:
            raise SourceError(
                f"inline file {quote(entry.path)} of {self.uri}: server returned {size} bytes, "
                f"advertised {entry.size}"
            )
        return InventoryFile(entry.path, size, digest)

    def open(self, path: str) -> BinaryIO:
        problem = path_error(path)
        if problem is not None:
            raise SourceError(f"weight source {self.uri}: {problem}")
        url = self._url(self.commit or self.ref, path)
        resp = http_get(http_session(), url, self._headers(), self.uri, _HF_AUTH_HINT)
        return body_stream(resp)

    def local_path(self, path: str) -> Path | None:
        return None

    def is_local(self) -> bool:
        return False


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
        return f"revision {quote(ref)} not found in {what} (HTTP {code})"
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
        problem = path_error(path) or (
            f"path {quote(path)} is listed twice" if path in seen else None
        )
        seen.add(path)
        lfs = entry.lfs
        if problem is not None:
            problems.append(problem)
        elif lfs is not None and not is_digest(PREFIX + str(lfs.sha256)):
            problems.append(f"{quote(path)}: LFS oid {quote(str(lfs.sha256))} is not a sha256")
        elif lfs is not None:
            known.append(InventoryFile(path, int(lfs.size), PREFIX + str(lfs.sha256)))
        else:
            inline.append(InventoryFile(path, int(entry.size or 0), ""))
    if problems:
        raise SourceError(problem_list(f"weight source {uri}", problems))
    if not known and not inline:
        raise SourceError(f"weight source {uri} is empty: it contains no files")
    return known, inline
