"""Import, a large new file's upload started while the plan is still being made.

A cold import hashes every new file (the inventory), plans, then pushes. For a
large file that is a read at disk speed followed by an upload at the network's.
When ``cogw import`` (never ``cogw plan``) is about to read a large local file
that ``core.plan.earlypush`` says the plan will most likely push, it also starts
uploading the file's standalone layer right away, uncommitted, and copies the
file into the store from the same reads (``cogw.shell.import_tee``). Hashing
for the plan and uploading then overlap.

The apply adopts the upload only when the plan's file and layer digests are the
ones the upload's own reads produced; it then commits it under that digest,
which the registry checks. Anything else (the plan wants another layer, the file
changed, the upload failed or was interrupted) and the layer is pushed as usual.
An upload nobody adopted is cancelled when the command ends, so nothing it sent
is ever visible. Its store copy, stored under the digest its bytes have, is a
valid blob either way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cogw.core.config.filters import compile_filter
from cogw.core.plan.earlypush import early_push_wanted
from cogw.core.plan.ingestway import copies_with_push
from cogw.shell.import_tee import UNKNOWN_DIGEST, PushCopy
from cogw.shell.registry.client import RegistryClient
from cogw.shell.store import FileStore

if TYPE_CHECKING:
    from cogw.core.artifact.inventory import Inventory
    from cogw.core.config.weights import ProjectConfig
    from cogw.shell.registry.upload import StagedUpload

OnBytes = Callable[[int], None]
#: Called by a file source just before it reads a large file: (path in the source,
#: the file on disk, its size). What it returns, if anything, is told the file's
#: digest and layer digest once the source has hashed it.
Hashed = Callable[[str, str | None], None]
OnLargeRead = Callable[[str, Path, int], Hashed | None]


class EarlyPush:
    """One file's upload, running on its own thread from the moment it starts."""

    def __init__(
        self,
        client: RegistryClient,
        repo: str,
        copy: PushCopy,
        cancel: threading.Event,
    ) -> None:
        self._client = client
        self._repo = repo
        self._copy = copy
        self._cancel = cancel
        self._lock = threading.Lock()
        self._unreported = 0
        self._report: OnBytes | None = None
        self._staged: StagedUpload | None = None
        self._present = False  # the registry had the layer: the upload was stopped
        self._asking: threading.Thread | None = None
        self._thread = threading.Thread(target=self._run, name="early-push", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with self._copy:
                self._staged = self._client.stage_blob(
                    self._repo,
                    self._copy.layer_size,
                    self._copy.stream,
                    cancel=self._cancel,
                    on_bytes=self._count,
                )
        except BaseException:  # the layer is then pushed as usual
            self._staged = None

    def hashed(self, digest: str, layer_digest: str | None) -> None:
        """The inventory hashed the file: when the registry has its layer already, the
        upload is stopped (it would only be sent again); asked on a thread of its own."""
        if layer_digest is None:
            return

        def ask() -> None:
            try:
                if self._client.blob_exists(self._repo, layer_digest):
                    self._present = True
                    self._cancel.set()
            except Exception:  # the upload goes on; the push asks again
                pass

        self._asking = threading.Thread(target=ask, name="early-push-head", daemon=True)
        self._asking.start()

    def _count(self, n: int) -> None:
        with self._lock:
            report = self._report
            if report is None:
                self._unreported += n
        if report is not None:
            report(n)

    def adopt(
        self, digest: str, layer_digest: str, layer_media_type: str, on_bytes: OnBytes
    ) -> bool:
        """Wait for the upload; commit it when its reads gave ``digest`` and ``layer_digest``.
        True when the layer is in the registry now (its bytes were counted to ``on_bytes``)."""
        with self._lock:
            self._report = on_bytes
            backlog, self._unreported = self._unreported, 0
        if backlog:
            on_bytes(backlog)
        if self._asking is not None:
            self._asking.join()
        self._thread.join()
        staged = self._staged
        if staged is None or self._present or self._copy.digests != (digest, layer_digest):
            return False
        self._staged = None
        try:
            self._client.commit_staged(
                staged, layer_digest, cancel=self._cancel, layer_media_type=layer_media_type
            )
        except Exception:  # pushed as usual instead (a fresh upload)
            return False
        return True

    def close(self) -> None:
        """Stop the upload if it runs, and cancel it if nobody committed it."""
        self._cancel.set()
        if self._asking is not None:
            self._asking.join()
        self._thread.join()
        if self._staged is not None:
            self._client.cancel_staged(self._staged)
            self._staged = None


class EarlyPushes:
    """The uploads one ``cogw import`` starts before its plan, by file on disk."""

    def __init__(
        self,
        config: ProjectConfig,
        store: FileStore,
        registry: Callable[[], tuple[object, str]],
        ingest_mode: str,
        limit: int,
    ) -> None:
        self._config = config
        self._store = store
        self._registry = registry
        self._ingest_mode = ingest_mode
        self._limit = limit  # uploads started at most (the rest are pushed as usual)
        self._started = 0
        self._cancel = threading.Event()
        self._pushes: dict[str, EarlyPush] = {}
        self._lock = threading.Lock()

    def reader_hook(self, uri: str, recorded: Inventory | None) -> OnLargeRead:
        """What a source of ``uri`` calls before reading a large file: the upload starts
        there when ``core.plan.earlypush`` says it is worth it."""
        filters = [
            compile_filter(s.include, s.exclude)
            for spec in self._config.weights
            for s in spec.sources
            if s.uri == uri
        ]
        sizes: Mapping[str, int] = {f.path: f.size for f in recorded.files} if recorded else {}

        def on_large_read(path: str, local: Path, size: int) -> Hashed | None:
            if early_push_wanted(path, size, sizes, lambda p: any(f.matches(p) for f in filters)):
                return self._start(path, local, size)
            return None

        return on_large_read

    def _start(self, path: str, local: Path, size: int) -> Hashed | None:
        key = str(local)
        with self._lock:
            if key in self._pushes or self._cancel.is_set() or self._started >= self._limit:
                return None
            try:
                client, repo = self._registry()
            except Exception:  # no registry yet: the apply will say why
                return None
            if not isinstance(client, RegistryClient):  # a layout or a mirror: push as usual
                return None
            copy = PushCopy(self._copies_into(local), path, size, local, None)
            push = self._pushes[key] = EarlyPush(client, repo, copy, threading.Event())
            self._started += 1
            return push.hashed

    def _copies_into(self, local: Path) -> FileStore | None:
        """The store, when the upload's reads should also make the store copy: when the
        file would be copied at all (``core.plan.ingestway``; its digest is not known
        yet, so "not stored" is assumed: a copy of a stored file is dropped unharmed)."""
        store = self._store
        copies = copies_with_push(
            self._ingest_mode, False, lambda: store.needs_copy(UNKNOWN_DIGEST, local)
        )
        return store if copies else None

    def take(self, local: Path) -> EarlyPush | None:
        """The upload started for ``local``, for the apply to adopt (once)."""
        with self._lock:
            return self._pushes.pop(str(local), None)

    def close(self) -> None:
        """Cancel every upload nobody adopted (at the end of the command, however it ends)."""
        self._cancel.set()
        with self._lock:
            left: Sequence[EarlyPush] = list(self._pushes.values())
            self._pushes.clear()
        for push in left:
            push.close()
