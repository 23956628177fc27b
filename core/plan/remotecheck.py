"""What the registry holds of a lock entry, as values: the blobs to ask about (``Probe``)
and the answers (``RemoteCheck``).

Records only, so the Snapshot can carry them; what they mean is decided in
core/plan/remote.py (status) and core/plan/repush.py (what to push again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pyrsistent import PVector, pvector

from cogw.core.artifact.oci import config_blob
from cogw.core.digest import sha256_of
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
    config: BlobPresence
    layers: PVector[BlobPresence] = field(default_factory=pvector)
    error: str = ""

    @property
    def lost_layers(self) -> PVector[BlobPresence]:
        return pvector(layer for layer in self.layers if not layer.present)

    @property
    def manifest_lost(self) -> bool:
        """The manifest or its config blob is gone: the manifest must be pushed again."""
        return not self.manifest.present or not self.config.present

    @property
    def complete(self) -> bool:
        return not self.error and not self.manifest_lost and not self.lost_layers


@dataclass(frozen=True, slots=True)
class Probe:
    """What to ask the registry about one lock entry: the manifest, config and layer blobs."""

    weight: str
    manifest: tuple[str, int]
    config: tuple[str, int]
    layers: tuple[tuple[str, int], ...]


def probe_for(entry: WeightEntry) -> Probe:
    """The blobs a registry must hold for ``entry`` to be pulled. The config blob is a
    pure function of the entry (``config_blob``), so its digest is known without asking."""
    config = config_blob(entry) if entry.files else b""
    return Probe(
        entry.name,
        (entry.digest, 0),
        (sha256_of(config), len(config)),
        tuple((layer.digest, layer.size) for layer in entry.layers),
    )


def check_from(probe: Probe, present: Mapping[str, bool], error: str = "") -> RemoteCheck:
    """The check for ``probe`` given the registry's answer per digest (absent: not present)."""

    def presence(item: tuple[str, int]) -> BlobPresence:
        return BlobPresence(item[0], item[1], bool(present.get(item[0])) and not error)

    return RemoteCheck(
        probe.weight,
        presence(probe.manifest),
        presence(probe.config),
        pvector(presence(layer) for layer in probe.layers),
        error,
    )
