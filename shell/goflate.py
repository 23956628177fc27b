"""The raw DEFLATE compressor for gzip layers: Go's compress/flate bytes when cogw's C
extension (``cogw/_goflate.c``, built by hatch_build.py) is importable, zlib's otherwise.

With the extension, a gzip layer is byte-identical to the one Cog packs, so its digest is
Cog's; ``compressor_identity`` names which one runs, and the envelope format follows from
it (``cogw.core.artifact.packing.envelope_extras``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Protocol

from cogw.core.artifact.packing import GO_FLATE


class Deflater(Protocol):
    """What gzip framing needs: zlib's ``compressobj`` interface."""

    def compress(self, data: bytes, /) -> bytes: ...
    def flush(self) -> bytes: ...


def _go_compressor() -> Callable[[int], Deflater] | None:
    try:
        from cogw._goflate import Compressor
    except ImportError:  # built without a C compiler
        return None
    return Compressor


_GO = _go_compressor()


def go_flate_available() -> bool:
    return _GO is not None


def compressor_identity() -> str:
    """``GO_FLATE`` with the extension, else the runtime zlib, e.g. "zlib-1.2.13"."""
    return GO_FLATE if _GO is not None else "zlib-" + zlib.ZLIB_RUNTIME_VERSION


def go_deflater(level: int) -> Deflater:
    """Go's ``flate.NewWriter(w, level)`` (level -2..9); ImportError without the extension."""
    if _GO is None:
        raise ImportError("cogw._goflate is not built (no C compiler at install time)")
    return _GO(level)


def raw_deflater(level: int) -> Deflater:
    """The compressor ``compressor_identity`` names, for a raw DEFLATE stream at ``level``."""
    if _GO is not None:
        return _GO(level)
    return zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
