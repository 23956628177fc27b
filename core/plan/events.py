"""Progress events: small values the shell emits while it works.

Like Cog's PullEvent, events are delivered in order on the thread that made
them; handlers must not block. The CLI decides how to draw them (rich bars on
a terminal, plain lines otherwise, JSON lines with --json, nothing with -q).
Fields are filled per kind; the rest keep their zero values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from cogw.core.digest import short_digest
from cogw.core.plan.statusview import format_size


class EventKind(StrEnum):
    WEIGHT_START = "weight-start"  # weight, target, total_files, missing_files, manifest_ref
    LAYER_START = "layer-start"  # weight, layer_digest, layer_size
    BYTES = "bytes"  # weight, layer_digest or path, nbytes: increment of transferred/hashed bytes
    FILE_STORED = "file-stored"  # weight, layer_digest, path, file_digest, file_size
    LAYER_DONE = "layer-done"  # weight, layer_digest
    WEIGHT_DONE = (
        "weight-done"  # weight, bytes_fetched, files_fetched, layers_fetched, fully_cached
    )
    STEP_FAILED = "step-failed"  # weight, message
    PHASE = (
        "phase"  # weight, phase ("hash", "ingest", "pack", "push", "record"), total bytes in nbytes
    )
    PUSH_BLOB = (
        "push-blob"  # weight, layer_digest, layer_size, message: exists | mounted | uploaded
    )
    LINKED = "linked"  # weight, target, path (mount dir), total_files
    NOTE = "note"  # weight, message: a fact worth a line with --verbose (e.g. an override)


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    weight: str = ""
    target: str = ""
    total_files: int = 0
    missing_files: int = 0
    manifest_ref: str = ""
    layer_digest: str = ""
    layer_size: int = 0
    path: str = ""
    file_digest: str = ""
    file_size: int = 0
    nbytes: int = 0
    bytes_fetched: int = 0
    files_fetched: int = 0
    layers_fetched: int = 0
    fully_cached: bool = False
    phase: str = ""
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        """Only the fields this kind uses (non-zero), plus the kind."""
        data = {k: v for k, v in asdict(self).items() if v not in ("", 0, False)}
        data["kind"] = self.kind.value
        return data


#: Push outcomes that send no layer bytes: the registry had the blob, or mounted it
#: from another of its repositories.
SKIPPED_PUSHES = ("exists", "mounted")


def push_skip_words(outcome: str, digest: str, size: int) -> str:
    """A layer push that uploaded nothing, in the words of the progress line.

    >>> push_skip_words("exists", "sha256:" + "ab" * 32, 2048)
    'layer abababababab already in the registry (2.0KB), not uploaded'
    """
    where = "already in the registry" if outcome == "exists" else "mounted from another repository"
    return f"layer {short_digest(digest)} {where} ({format_size(size)}), not uploaded"
