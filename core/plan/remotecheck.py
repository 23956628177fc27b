"""What the registry holds of a lock entry, as values: the blobs to ask about (``Probe``)
and the answers (``RemoteCheck``).

Records only, so the Snapshot can carry them; what they mean is decided in
core/plan/remote.py (status) and core/plan/repush.py (what to push again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pyrsistent import PVector, pvector

from cogw.core.lock.lockfile import WeightEntry


@dataclass(frozen=True, slots=True)
class BlobPresence:
    """One blob the registry should hold for a weight, and whether it does."""

    digest: str
    size: int
    present: bool


@dataclass(frozen=True, slots=True)
class RemoteCheck:
    """What the registry answered for one lock entry. ``error`` is set when it could not
    be asked (then nothing is known to be present)."""

    weight: str
    manifest: BlobPresence
    layers: PVector[BlobPresence] = field(default_factory=pvector)
    error: str = ""

    @property
    def lost_layers(self) -> PVector[BlobPresence]:
        return pvector(layer for layer in self.layers if not layer.present)

    @property
    def manifest_lost(self) -> bool:
        """The manifest is gone: it must be pushed again (with its config blob)."""
        return not self.manifest.present

    @property
    def complete(self) -> bool:
        return not self.error and not self.manifest_lost and not self.lost_layers


@dataclass(frozen=True, slots=True)
class Probe:
    """What to ask the registry about one lock entry: the manifest and the layer blobs."""

    weight: str
    manifest: tuple[str, int]
    layers: tuple[tuple[str, int], ...]


def probe_for(entry: WeightEntry) -> Probe:
    """The blobs a registry must hold for ``entry`` to be pulled: its manifest (by the
    recorded digest) and every layer. The config blob is not asked about: a pull does not
    read it, and the manifest that references it keeps it from garbage collection."""
    return Probe(
        entry.name,
        (entry.digest, 0),
        tuple((layer.digest, layer.size) for layer in entry.layers),
    )


def check_from(probe: Probe, present: Mapping[str, bool], error: str = "") -> RemoteCheck:
    """The check for ``probe`` given the registry's answer per digest (absent: not present)."""

    def presence(item: tuple[str, int]) -> BlobPresence:
        return BlobPresence(item[0], item[1], bool(present.get(item[0])) and not error)

    return RemoteCheck(
        probe.weight,
        presence(probe.manifest),
        pvector(presence(layer) for layer in probe.layers),
        error,
    )
