"""The ``http(s)://`` weight source, and the HTTP fetching every remote source shares.

``http(s)://host/path/name`` is exactly one file named by the URL's last path
component; its fingerprint is the strong ETag (``etag:"…"``) or the body's
``sha256:<hex>``. It is fetched without credentials. A HEAD whose strong ETag
is the fingerprint weights.lock recorded proves the file unchanged, so nothing
is downloaded; otherwise one GET hashes it (and stores it, see
:mod:`cogw.shell.http_fetch`).

Every remote source fetches through :func:`http_session` and :func:`http_get`:
requests retry connection failures, 429 and 5xx like Cog, and a failed status
becomes a :class:`SourceError` with advice for the source's kind. requests is
imported only when a source fetches.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast
from urllib.parse import unquote, urlsplit

from pyrsistent import pvector

from cogw.core.artifact.inventory import Inventory, InventoryFile
from cogw.core.digest import PREFIX
from cogw.core.paths import path_error, quote
from cogw.core.plan.etagreuse import ETAG_PREFIX, reusable_inventory, strong_etag
from cogw.shell.hashing import HashCancelled
from cogw.shell.source_base import OnBytes, SourceError

if TYPE_CHECKING:
    import requests

    from cogw.shell.http_fetch import Spool

_TIMEOUT = (10.0, 60.0)
_HTTP_AUTH_HINT = "http(s) sources are fetched without credentials; use a URL that needs none"


def http_session() -> requests.Session:
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


def http_get(
    session: requests.Session, url: str, headers: Mapping[str, str], what: str, auth_hint: str
) -> requests.Response:
    """A streaming GET of ``url``; a failed status is a SourceError naming ``what``,
    with ``auth_hint`` as the advice for 401 and 403."""
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


def body_stream(resp: requests.Response) -> BinaryIO:
    """The response body as a file object; closing it releases the connection."""
    # urllib3's response is a readable file object; decoding keeps any
    # Content-Encoding transparent, and closing it releases the connection.
    resp.raw.decode_content = True
    return cast(BinaryIO, resp.raw)


def hash_body(
    resp: requests.Response,
    limit: int,
    on_bytes: OnBytes | None,
    cancel: threading.Event | None,
) -> tuple[str, int]:
    """(``sha256:`` digest, size) of the body, which is closed.

    A body longer than ``limit`` is an error, never a digest of its first part."""
    h = hashlib.sha256()
    size = 0
    with contextlib.closing(resp):
        for chunk in resp.iter_content(1 << 20):
            if cancel is not None and cancel.is_set():
                raise HashCancelled("hashing cancelled")
            size += len(chunk)
            if size > limit:
                raise SourceError(f"{resp.url}: the server sent more than {limit} bytes")
            h.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return PREFIX + h.hexdigest(), size


@dataclass(slots=True)
class HttpSource:
    """``recorded``: what weights.lock holds for this URI (its strong ETag spares the
    download); ``spool``: the store a download is written into as it is hashed."""

    uri: str
    filename: str
    recorded: Inventory | None = None
    spool: Spool | None = None
    reuse_fetched: bool = False  # the plan right after an import: reuse its download
    downloaded: bool = False  # the last inventory had to download the file

    @classmethod
    def from_uri(
        cls, uri: str, recorded: Inventory | None = None, spool: Spool | None = None
    ) -> HttpSource:
        parts = urlsplit(uri)
        if parts.username is not None or parts.password is not None:
            raise SourceError("HTTP URI must not embed credentials (user:pass@host)")
        name = unquote(parts.path.rstrip("/").rpartition("/")[2]) if parts.path else ""
        if not name or not parts.hostname:
            raise SourceError(f"HTTP URI {quote(uri)} has no filename in path")
        problem = path_error(name)
        if problem is not None:
            raise SourceError(f"HTTP URI {quote(uri)}: {problem}")
        return cls(uri, name, recorded, spool)

    def inventory(
        self,
        *,
        jobs: int = 4,
        on_bytes: OnBytes | None = None,
        cancel: threading.Event | None = None,
    ) -> Inventory:
        """A HEAD, and a GET only when its ETag does not prove the file is the one
        ``recorded`` (or, with ``reuse_fetched``, the one this process just fetched)."""
        from cogw.shell.http_fetch import Fetched, fetch_body, fetched, remember

        with http_session() as session:
            etag = self._head_etag(session)
            reused = reusable_inventory(self.recorded, self.filename, etag)
            if reused is not None:
                return reused
            earlier = fetched(self.uri) if self.reuse_fetched else None
            if earlier is not None and earlier.etag == etag:
                return earlier.inventory
            self.downloaded = True
            resp = http_get(session, self.uri, {}, self.uri, _HTTP_AUTH_HINT)
            got_etag = strong_etag(resp.headers.get("ETag"))
            digest, size, layer = fetch_body(resp, self.filename, self.spool, on_bytes, cancel)
        if etag is not None and got_etag is not None and got_etag != etag:
            raise SourceError(
                f"{self.uri} changed while it was being read (ETag {etag} -> {got_etag})"
            )
        etag = etag or got_etag
        fingerprint = ETAG_PREFIX + etag if etag else digest
        inventory = Inventory(pvector([InventoryFile(self.filename, size, digest)]), fingerprint)
        remember(self.uri, Fetched(etag, inventory, layer))
        return inventory

    def version(self) -> str | None:
        """``etag:"…"`` from a HEAD request, or None when only the body's digest can tell
        (no strong ETag): the fingerprint ``inventory`` would return, without the body."""
        with http_session() as session:
            etag = self._head_etag(session)
        return f"etag:{etag}" if etag else None

    def _head_etag(self, session: requests.Session) -> str | None:
        """Best effort: servers that refuse HEAD just get no ETag fingerprint."""
        import requests

        try:
            resp = session.head(self.uri, allow_redirects=True, timeout=_TIMEOUT)
        except requests.RequestException:
            return None
        with contextlib.closing(resp):
            return strong_etag(resp.headers.get("ETag")) if resp.ok else None

    def open(self, path: str) -> BinaryIO:
        if path != self.filename:
            raise SourceError(
                f"{quote(path)} is not in weight source {self.uri} "
                f"(it holds {quote(self.filename)})"
            )
        return body_stream(http_get(http_session(), self.uri, {}, self.uri, _HTTP_AUTH_HINT))

    def local_path(self, path: str) -> Path | None:
        return None

    def is_local(self) -> bool:
        return False
