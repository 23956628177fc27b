"""What the runners (import, pull) need from a registry, and the records they get back.

``Registry`` lists exactly the operations the runners call; ``RegistryClient`` is the real
one and the tests' ``FakeRegistry`` an in-memory one. Neither the protocol nor these records
import an HTTP library, so type annotations can name them at no cost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ACCEPT_MANIFESTS = ", ".join(
    (MEDIA_OCI_MANIFEST, MEDIA_OCI_INDEX, MEDIA_DOCKER_MANIFEST, MEDIA_DOCKER_LIST)
)
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # what distribution accepts; larger bodies are refused

PushResult = Literal["exists", "mounted", "uploaded"]


@dataclass(frozen=True, slots=True)
class Manifest:
    raw: bytes
    media_type: str
    digest: str


class Registry(Protocol):
    """One registry, as import and pull use it. Errors are the ``Registry*Error`` classes
    of ``cogw.shell.registry.errors``; every byte is checked against the digest asked for."""

    def get_manifest(self, repo: str, ref: str) -> Manifest:
        """The manifest's exact bytes; checked against ``ref`` when it is a digest."""
        ...

    def put_manifest(self, repo: str, ref: str, raw: bytes, media_type: str) -> str:
        """Store the manifest bytes as they are under a tag or digest; returns their digest."""
        ...

    def head_manifest(self, repo: str, ref: str) -> str | None:
        """The manifest's digest, or None when the registry does not have it."""
        ...

    def blob_exists(self, repo: str, digest: str) -> bool:
        """Whether ``repo`` holds the blob (a HEAD; nothing is read)."""
        ...

    def push_blob(
        self,
        repo: str,
        digest: str,
        size: int,
        open_stream: Callable[[], Iterable[bytes]],
        *,
        mount_from: Sequence[str] = (),
        cancel: threading.Event | None = None,
        on_bytes: Callable[[int], None] | None = None,
        layer_media_type: str = "",
    ) -> PushResult:
        """Make sure the blob is in ``repo`` (there, mounted or uploaded from the stream);
        an upload's commit names ``layer_media_type`` when set (current Cog's weights)."""
        ...

    def upload_blob(
        self,
        repo: str,
        digest: str,
        size: int,
        open_stream: Callable[[], Iterable[bytes]],
        *,
        cancel: threading.Event | None = None,
        on_bytes: Callable[[int], None] | None = None,
        layer_media_type: str = "",
    ) -> PushResult:
        """``push_blob`` without asking whether the registry has the blob: always uploaded
        (``cogw import --force``)."""
        ...

    def iter_blob(
        self,
        repo: str,
        digest: str,
        *,
        expected_size: int | None = None,
        chunk_size: int = 1 << 20,
        cancel: threading.Event | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> Iterator[bytes]:
        """The blob's bytes; size and digest are checked after the last one."""
        ...
