"""The weights.lock record types and constants, field for field as Cog v0.19.3 has them.

Values only: parsing, validation and rendering live in :mod:`cogw.core.lock.lockfile`,
which re-exports every name here (import them from there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from pyrsistent import PVector, pvector

FILENAME = "weights.lock"
VERSION = 1
MEDIA_TYPE_TAR = "application/vnd.oci.image.layer.v1.tar"
MEDIA_TYPE_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_TYPE_TAR_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MEDIA_TYPES = frozenset({MEDIA_TYPE_TAR, MEDIA_TYPE_TAR_GZIP, MEDIA_TYPE_TAR_ZSTD})
# Go's zero time.Time as JSON: what Cog writes for an entry with no import time.
ZERO_TIME = "0001-01-01T00:00:00Z"


class Shape(Enum):
    """Which of Cog's two on-disk layouts a lockfile uses; rendering keeps it."""

    SOURCE = "source"  # v0.19.3: "source": {...} with importedAt inside
    SOURCES = "sources"  # later Cog: "sources": [{...}], importedAt on the entry


class LockFile(NamedTuple):
    """One file of a weight: where it lives in the mount, and which layer holds it.

    A named tuple, immutable like the other records: a lockfile of 100 000 files makes
    as many, and the reader builds each from its fields in one C call."""

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
    """One imported weight.

    ``source`` is the first (for Cog v0.19.3 the only) source and carries the
    entry's import time; current Cog's further sources follow in
    ``more_sources`` (their ``imported_at`` is unused). Split this way so code
    that knows one source keeps working; :attr:`sources` lists them all.
    """

    name: str
    target: str
    source: LockSource
    digest: str  # manifest digest
    set_digest: str
    size: int
    size_compressed: int
    files: PVector[LockFile] = field(default_factory=pvector)
    layers: PVector[LockLayer] = field(default_factory=pvector)
    more_sources: PVector[LockSource] = field(default_factory=pvector)

    @property
    def sources(self) -> tuple[LockSource, ...]:
        """Every source in declared order; a later one wins a path both provide."""
        return (self.source, *self.more_sources)


@dataclass(frozen=True, slots=True)
class Lockfile:
    version: int = VERSION
    envelope_format: str = ""
    weights: PVector[WeightEntry] = field(default_factory=pvector)
    shape: Shape = Shape.SOURCE
