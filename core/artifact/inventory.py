"""What a weight source holds: files with sizes and digests, and a version fingerprint."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyrsistent import PVector, pvector


@dataclass(frozen=True, slots=True)
class InventoryFile:
    path: str  # relative, forward slashes, no leading "./"
    size: int
    digest: str  # sha256:<hex> of the content


@dataclass(frozen=True, slots=True)
class Inventory:
    """Files sorted by path; fingerprint names the upstream version
    (``sha256:<dirhash>`` for file://, ``commit:<sha>`` for hf://, ``etag:..`` for http)."""

    files: PVector[InventoryFile] = field(default_factory=pvector)
    fingerprint: str = ""
