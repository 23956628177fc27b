"""Stub of the C extension cogw/_goflate.c: DEFLATE with the bytes of Go's compress/flate."""

from typing import final

from _typeshed import ReadableBuffer

@final
class Compressor:
    """A raw DEFLATE stream as Go's ``flate.NewWriter(w, level)`` writes it (level -2..9)."""

    def __init__(self, level: int = -1) -> None: ...
    @property
    def level(self) -> int: ...
    def compress(self, data: ReadableBuffer, /) -> bytes:
        """Feed ``data``; the compressed bytes ready so far (often empty)."""
    def flush(self) -> bytes:
        """End the stream as Go's ``Close`` does; the compressor is unusable afterwards."""
