"""Which layers an import keeps a copy of between digesting and pushing.

A layer's digest must be known before it is pushed (the registry checks it, and a
blob the registry already holds is not sent), so an import builds each new layer
twice: once to digest it, once to send it. For a gzip layer the second build is a
second deflate of every byte, often the longest step of the import. Keeping the
first build's bytes in a temp file and sending those spares it; an uncompressed
layer costs only reads to build again, and a copy of it would only take disk.
"""

from __future__ import annotations

#: No layer larger than this (compressed bytes are at most about its file bytes) is
#: copied: a temp file of a many-GB layer could fill the disk the store needs.
SPOOL_MAX_FILE_BYTES = 512 << 20


def worth_spooling(gzip_level: int | None, file_bytes: int) -> bool:
    """Whether to keep the built bytes of a layer for its push.

    >>> worth_spooling(9, 100 << 20), worth_spooling(None, 100 << 20)
    (True, False)
    >>> worth_spooling(6, 4 << 30)
    False
    """
    return gzip_level is not None and file_bytes <= SPOOL_MAX_FILE_BYTES
