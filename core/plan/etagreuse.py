"""When an ``http(s)://`` source need not be downloaded: its strong ETag is the one recorded.

An HTTP server's strong ETag names one exact sequence of bytes (RFC 9110 §8.8.1),
so a HEAD that answers the ETag weights.lock recorded as the source's fingerprint
proves the file is the one whose digest the lock holds: the plan can reuse the
recorded inventory and the import has nothing to fetch. A weak ETag (``W/"…"``)
or none proves nothing about bytes; then the only way to learn the digest is to
download the file.
"""

from __future__ import annotations

from pyrsistent import pvector

from cogw.core.artifact.inventory import Inventory, InventoryFile
from cogw.core.lock.lockfile import Lockfile, find_weight

ETAG_PREFIX = "etag:"


def strong_etag(value: str | None) -> str | None:
    """The raw ETag (quotes included) if strong; a weak ``W/`` tag says nothing about bytes.

    >>> strong_etag('"abc"'), strong_etag('W/"abc"'), strong_etag(None), strong_etag("")
    ('"abc"', None, None, None)
    """
    if not value or value.startswith("W/"):
        return None
    return value


def recorded_inventory(lock: Lockfile | None, name: str, uri: str) -> Inventory | None:
    """What weights.lock recorded for weight ``name`` read from ``uri``, as an inventory.

    None when there is no entry, or it was read from another URI (then it says
    nothing about this one)."""
    entry = find_weight(lock, name) if lock is not None else None
    if entry is None or entry.source.uri != uri or entry.more_sources:
        return None  # several sources: the recorded files are the merge, not this source's
    files = pvector(InventoryFile(f.path, f.size, f.digest) for f in entry.files)
    return Inventory(files, entry.source.fingerprint)


def reusable_inventory(
    recorded: Inventory | None, filename: str, head_etag: str | None
) -> Inventory | None:
    """``recorded`` when the HEAD's ETag proves the file unchanged, else None (download it).

    Proof needs a strong ETag equal to the recorded fingerprint, and the recorded
    inventory must be exactly this one file (an entry edited by hand is re-read).
    """
    etag = strong_etag(head_etag)
    if recorded is None or etag is None or recorded.fingerprint != ETAG_PREFIX + etag:
        return None
    if [f.path for f in recorded.files] != [filename]:
        return None
    return recorded
