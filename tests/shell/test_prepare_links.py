"""The per-file check prepare makes before it links a blob."""

from __future__ import annotations

from pathlib import Path

import pytest

from cogw.shell.prepare import BlobWrittenThrough, _check_blob
from cogw.shell.store import BlobNotFound

DIGEST = "sha256:" + "ab" * 32


def test_a_blob_gone_since_the_plan_is_not_found_in_the_stores_words(tmp_path: Path) -> None:
    with pytest.raises(BlobNotFound) as caught:
        _check_blob(str(tmp_path / "gone"), DIGEST, 3)
    assert str(caught.value) == f"path {DIGEST}: file does not exist"


@pytest.mark.parametrize(("mode", "data"), [(0o444, b"abcd"), (0o644, b"abc")])
def test_a_blob_of_another_size_or_writable_was_written_through(
    tmp_path: Path, mode: int, data: bytes
) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(data)
    blob.chmod(mode)
    with pytest.raises(BlobWrittenThrough):
        _check_blob(str(blob), DIGEST, 3)


def test_a_read_only_blob_of_its_recorded_size_passes(tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(b"abc")
    blob.chmod(0o444)
    _check_blob(str(blob), DIGEST, 3)
