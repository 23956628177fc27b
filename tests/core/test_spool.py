"""Which layers an import keeps between their digest and their push."""

from __future__ import annotations

from cogw.core.artifact.spool import SPOOL_MAX_FILE_BYTES, worth_spooling


def test_only_gzip_layers_of_bounded_size_are_spooled() -> None:
    assert worth_spooling(9, 1) and worth_spooling(1, SPOOL_MAX_FILE_BYTES)
    assert not worth_spooling(None, 1)
    assert not worth_spooling(6, SPOOL_MAX_FILE_BYTES + 1)
