"""Snapshot: everything the shell observed, as one immutable value.

The planner decides from a Snapshot alone, so the same Snapshot always yields
the same Plan, and a plan can be tested with a hand-built Snapshot and no I/O.
The shell (``cogw.shell.gather``) reads; it never decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from pyrsistent import PMap, PVector, pmap

from cogw.core.artifact.inventory import Inventory
from cogw.core.config.weights import ProjectConfig
from cogw.core.diagnostics import Diagnostic
from cogw.core.digest import sha256_of
from cogw.core.lock.lockfile import Lockfile
from cogw.core.plan.remotecheck import RemoteCheck


@dataclass(frozen=True, slots=True)
class Inputs:
    """Digests of what a plan was computed from; a saved plan is stale when they differ.

    Store contents are deliberately absent: every step is idempotent, so a store
    that gained or lost blobs since planning is tolerated, as in Terraform's
    refresh-free apply of a saved plan.
    """

    lockfile: str  # sha256 of weights.lock bytes, "" when the file is absent
    config: str  # sha256 of the normalised weights section
    # weight name -> fingerprint (several sources: theirs, space-separated, in order)
    sources: PMap[str, str] = field(default_factory=pmap)


@dataclass(frozen=True, slots=True)
class Snapshot:
    project_dir: str
    config_name: str
    config: ProjectConfig
    lock: Lockfile | None  # None when weights.lock does not exist
    inputs: Inputs
    # Digests known to be present in the local store. Gather checks only the
    # digests the lockfile and gathered inventories name, never the whole store.
    present: frozenset[str] = frozenset()
    # Filled only for operations that import: the full (unfiltered) inventory of
    # each selected weight's source, or why it could not be read.
    inventories: PMap[str, Inventory] = field(default_factory=pmap)
    source_errors: PMap[str, Diagnostic] = field(default_factory=pmap)
    # A weight of several sources (current Cog): the inventories of its sources after
    # the first, in declared order (the first is in ``inventories``).
    more_inventories: PMap[str, PVector[Inventory]] = field(default_factory=pmap)
    envelope_format: str = ""  # the envelope digest this cogw build would stamp
    # Gathered for prepare: the store's directory and whether it shares a filesystem
    # with the project's mount directory (None: not asked), so hardlink mode fails early.
    store_dir: str = ""
    store_shares_device: bool | None = None
    # Gathered for import: what the registry holds of each recorded weight (HEAD on
    # its manifest, config and layer blobs), so a lost one is pushed again.
    remote: PMap[str, RemoteCheck] = field(default_factory=pmap)


def config_digest(config: ProjectConfig) -> str:
    """Digest of the normalised intent (repository + weights), so reformatting cog.yaml
    or editing unrelated keys does not make a saved plan stale."""
    value = {
        "image": config.image,
        "model": config.model,
        "repository": config.repository,
        "weights": [
            {
                "name": s.name,
                "target": s.target,
                "uri": s.uri,
                "include": list(s.include),
                "exclude": list(s.exclude),
                # Only present for several sources, so one-source digests stay as they were.
                **(
                    {"more": [[m.uri, list(m.include), list(m.exclude)] for m in s.more_sources]}
                    if s.more_sources
                    else {}
                ),
            }
            for s in config.weights
        ],
    }
    return sha256_of(orjson.dumps(value))


def make_inputs(
    lock_bytes: bytes | None,
    config: ProjectConfig,
    inventories: PMap[str, Inventory],
    more_inventories: PMap[str, PVector[Inventory]] | None = None,
) -> Inputs:
    more = more_inventories or pmap()

    def fingerprints(name: str, first: Inventory) -> str:
        return " ".join(inv.fingerprint for inv in (first, *more.get(name, ())))

    return Inputs(
        lockfile=sha256_of(lock_bytes) if lock_bytes is not None else "",
        config=config_digest(config),
        sources=pmap({name: fingerprints(name, inv) for name, inv in inventories.items()}),
    )
