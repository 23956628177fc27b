"""The registry as truth: what it holds of each locked weight, and what that means.

The shell asks the registry (HEAD on the manifest and every layer blob
of a lock entry, ``cogw.shell.remote_check``) and hands the answers over as a
``RemoteCheck`` per weight; everything decided from them is here. As Cog's
``weights status`` (pkg/model/weights_status.go): a weight whose layers are all present
is ``ready``, else ``incomplete``, and a registry error is soft (the weight is
incomplete, its layers unknown). cogw also asks about the manifest, because a pull
needs it first and Cog's check does not notice it is gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from enum import StrEnum

from cogw.core.digest import format_digest_short
from cogw.core.lock.lockfile import WeightEntry
from cogw.core.plan.remotecheck import BlobPresence as BlobPresence  # re-exported
from cogw.core.plan.remotecheck import RemoteCheck
from cogw.core.plan.status import StatusRow, WeightStatus


class RemoteState(StrEnum):
    READY = "ready"
    INCOMPLETE = "incomplete"


def remote_state(check: RemoteCheck) -> RemoteState:
    return RemoteState.READY if check.complete else RemoteState.INCOMPLETE


def lost_words(check: RemoteCheck) -> str:
    """What the registry lost, in a few words.

    >>> from pyrsistent import pvector
    >>> m = BlobPresence("sha256:" + "a" * 64, 0, False)
    >>> layers = pvector([BlobPresence("sha256:" + "b" * 64, 9, False)] * 2)
    >>> lost_words(RemoteCheck("w", m, layers))
    'manifest, 2 layers'
    >>> lost_words(RemoteCheck("w", replace(m, present=True), layers[:1]))
    '1 layer'
    """
    parts = []
    if not check.manifest.present:
        parts.append("manifest")
    n = len(check.lost_layers)
    if n:
        parts.append(f"{n} layer{'' if n == 1 else 's'}")
    return ", ".join(parts)


def remote_details(check: RemoteCheck) -> str:
    """The status line's detail for an incomplete weight."""
    if check.error:
        return f"registry not checked: {check.error}"
    return (
        f"registry lost {lost_words(check)} (manifest {format_digest_short(check.manifest.digest)})"
    )


# Local states that say cog.yaml and weights.lock agree: only these are asked about.
CHECKED = (WeightStatus.READY, WeightStatus.MISSING_FILES)


def rows_to_check(rows: Sequence[StatusRow]) -> list[WeightEntry]:
    """The lock entries whose registry presence decides their status (as Cog: config and
    lockfile match; stale, pending and orphaned weights need an import either way)."""
    return [r.entry for r in rows if r.status in CHECKED and r.entry is not None]


def with_remote(rows: Sequence[StatusRow], checks: Mapping[str, RemoteCheck]) -> list[StatusRow]:
    """Status rows with the registry's answer folded in: a weight the registry cannot serve
    whole is ``incomplete`` (run 'cogw import'), whatever the local store holds, since a
    pull would fail; a complete one keeps its local status (ready or missing-files)."""
    out = []
    for row in rows:
        check = checks.get(row.name)
        if check is not None and row.status in CHECKED and not check.complete:
            row = replace(
                row,
                status=WeightStatus.INCOMPLETE,
                missing_files=0,
                missing_bytes=0,
                details=remote_details(check),
            )
        out.append(row)
    return out


# The OCI distribution error codes of a registry that lacks what was asked for.
LOST_CODES = frozenset({"MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NAME_UNKNOWN"})


def lost_on_pull(registry: str, weight: str, what: str, digest: str, code: str) -> str:
    """The one line a pull prints when the registry lacks a blob weights.lock records;
    ``code`` is the registry's (MANIFEST_UNKNOWN, BLOB_UNKNOWN, HTTP 404).

    >>> lost_on_pull("r.io", "m", "manifest", "sha256:" + "a" * 64, "MANIFEST_UNKNOWN")
    ... # doctest: +ELLIPSIS
    'r.io lacks the manifest sha256:aaaaaaaaaaaa of weight "m" (MANIFEST_UNKNOWN): run ...'
    """
    return (
        f'{registry} lacks the {what} {format_digest_short(digest)} of weight "{weight}" '
        f"({code}): run 'cogw import {weight}' to push it again, "
        "'cogw status --remote' to see what else is missing"
    )
