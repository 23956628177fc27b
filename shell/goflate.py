"""Go's compress/flate bytes from cogw's C extension (``cogw/_goflate.c``, built by
hatch_build.py), when it is importable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


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


def go_deflater(level: int) -> Deflater:
    """Go's ``flate.NewWriter(w, level)`` (level -2..9); ImportError without the extension."""
    if _GO is None:
        raise ImportError("cogw._goflate is not built (no C compiler at install time)")
    return _GO(level)
