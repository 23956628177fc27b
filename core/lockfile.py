"""weights.lock: the checked-in record of every imported weight.

The model mirrors Cog v0.19.3's ``lockfile`` package field for field so that a
lockfile written by either tool is read and rewritten byte-identically by the
other (``render_lockfile(parse_lockfile(b)) == b`` for canonical ``b``).

TYPES ONLY IN THE SKELETON: parse/render/operations are filled in below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from pyrsistent import PVector, pvector

FILENAME = "weights.lock"
VERSION = 1
MEDIA_TYPE_TAR = "application/vnd.oci.image.layer.v1.tar"
MEDIA_TYPE_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_TYPE_TAR_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"


class Shape(Enum):
    """Which of Cog's two on-disk layouts a lockfile uses; rendering keeps it."""

    SOURCE = "source"  # v0.19.3: "source": {...} with importedAt inside
    SOURCES = "sources"  # later Cog: "sources": [{...}], importedAt on the entry


@dataclass(frozen=True, slots=True)
class LockFile:
    """One file of a weight: where it lives in the mount, and which layer holds it."""

    path: str
    size: int
    digest: str
    layer: str


@dataclass(frozen=True, slots=True)
class LockLayer:
    digest: str
    media_type: str
    size: int  # blob bytes (compressed)
    size_uncompressed: int  # sum of regular-file bytes in the layer


@dataclass(frozen=True, slots=True)
class LockSource:
    uri: str
    fingerprint: str
    include: PVector[str] = field(default_factory=pvector)
    exclude: PVector[str] = field(default_factory=pvector)
    # Kept as the exact string read: Go writes nanoseconds, and round trips must
    # be byte-identical. Informational only; never compared.
    imported_at: str = ""


@dataclass(frozen=True, slots=True)
class WeightEntry:
    name: str
    target: str
    source: LockSource
    digest: str  # manifest digest
    set_digest: str
    size: int
    size_compressed: int
    files: PVector[LockFile] = field(default_factory=pvector)
    layers: PVector[LockLayer] = field(default_factory=pvector)


@dataclass(frozen=True, slots=True)
class Lockfile:
    version: int = VERSION
    envelope_format: str = ""
    weights: PVector[WeightEntry] = field(default_factory=pvector)
    shape: Shape = Shape.SOURCE
