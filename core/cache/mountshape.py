"""Whose mount directory is this: cogw's, Cog's, or nobody's that release may touch.

``release`` deletes a directory under ``.cog/mounts`` only when it can say who made it.
cogw marks its mounts (``.cogw-mount``). Cog's mounts carry no marker, but their shape is
exact: ``<16 hex>/<weight name>/<file path>``, nothing but directories and hardlinks of
store blobs (Cog's ``Prepare`` links every file from the store and has no fallback).
Removing such a tree loses no byte: every file it holds is still in the store. Anything
else (a symlink, a device, a file that is not a store blob, an empty tree) is unknown
and left alone.

>>> f = MountEntry("w/a.bin", EntryKind.FILE, blob=True)
>>> identify_mount(False, (MountEntry("w", EntryKind.DIR), f)).kind
<MountKind.COG: 'cog'>
>>> identify_mount(False, (MountEntry("notes.txt", EntryKind.FILE, blob=False),)).reason
'notes.txt is not a link of a store blob'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum


class EntryKind(Enum):
    DIR = "dir"
    FILE = "file"
    OTHER = "other"  # a symlink, device, fifo or socket


class MountKind(Enum):
    COGW = "cogw"
    COG = "cog"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class MountEntry:
    """One entry below a mount directory; ``blob``: a regular file sharing a store blob's inode."""

    path: str
    kind: EntryKind
    blob: bool = False


@dataclass(frozen=True, slots=True)
class MountIdentity:
    kind: MountKind
    reason: str = ""

    @property
    def removable(self) -> bool:
        return self.kind is not MountKind.UNKNOWN


def _foreign(entry: MountEntry) -> str | None:
    if entry.kind is EntryKind.OTHER:
        return f"{entry.path} is not a regular file or directory"
    if entry.kind is EntryKind.FILE and not entry.blob:
        return f"{entry.path} is not a link of a store blob"
    if entry.kind is EntryKind.FILE and "/" not in entry.path:
        return f"{entry.path} lies outside any weight directory"
    return None


def identify_mount(marked: bool, entries: Sequence[MountEntry]) -> MountIdentity:
    """cogw's when marked; Cog's when it holds store-blob links and nothing else."""
    if marked:
        return MountIdentity(MountKind.COGW)
    for entry in entries:
        reason = _foreign(entry)
        if reason is not None:
            return MountIdentity(MountKind.UNKNOWN, reason)
    if not any(e.kind is EntryKind.FILE for e in entries):
        return MountIdentity(MountKind.UNKNOWN, "it holds no weight files")
    return MountIdentity(MountKind.COG)


def unknown_mount_message(path: str, reason: str) -> str:
    return (
        f"{path} was not made by cogw or Cog ({reason}); it is left alone. "
        "Remove it by hand if it is yours to remove"
    )
