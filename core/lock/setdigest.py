"""The weight set digest: Cog's ``DirHash`` over (path, file digest) pairs.

It identifies *which files with which contents* make up a weight, independent
of how they were packed into layers (the ``layer`` field never enters it) and
of input order. It does not know where the pairs came from: a source
inventory, a lockfile entry or a registry config blob all hash the same way.

The algorithm sorts whole ``"<hex>  <path>"`` lines (so effectively by digest,
then path) -- not by path, whatever Cog's draft spec says -- because that is
what Cog's implementation writes into every lockfile and manifest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from cogw.core.digest import hex_of, sha256_of

if TYPE_CHECKING:
    # lockfile.make_entry computes set digests, so the runtime import would be circular.
    from cogw.core.lock.lockfile import LockFile


def dir_hash(pairs: Iterable[tuple[str, str]]) -> str:
    """``sha256:`` of the sorted ``"<hex>  <path>"`` lines joined by ``"\\n"``.

    ``hex`` is everything after the digest's first colon ('' when it has none).

    >>> dir_hash([])
    'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    >>> dir_hash([("b.txt", "sha256:bbb"), ("a.txt", "sha256:aaa")])
    'sha256:6c46bc683f95fa25454439dd1dce3929f897cd0d4f2e211342576bff38d9569d'
    """
    # Go compares strings byte-wise; sorting the UTF-8 lines is that order exactly.
    lines = sorted(f"{hex_of(digest)}  {path}".encode() for path, digest in pairs)
    return sha256_of(b"\n".join(lines))


def set_digest_of(files: Iterable[LockFile]) -> str:
    """The set digest of a lockfile entry's files (Cog's ``ComputeSetDigest``)."""
    return dir_hash((f.path, f.digest) for f in files)
