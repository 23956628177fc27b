"""Which source reads a snapshot shares between weights, and which use the lock's record."""

from __future__ import annotations

import pytest

from cogw.core.plan.sourcereads import shared_read_key, uses_recorded


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        ("file://./weights/many", "file://./weights/many"),
        ("file:///abs/dir", "file:///abs/dir"),
        ("weights/many", "weights/many"),
        ("hf://org/repo", None),
        ("huggingface://org/repo@main", None),
        ("https://host/model.bin", None),
        ("http://host/model.bin", None),
    ],
)
def test_only_a_directory_read_is_shared_and_by_its_exact_uri(uri: str, key: str | None) -> None:
    assert shared_read_key(uri) == key


def test_two_spellings_of_one_directory_are_two_keys() -> None:
    assert shared_read_key("file://./w") != shared_read_key("file://./w/")


@pytest.mark.parametrize(
    ("uri", "uses"),
    [
        ("https://host/m.bin", True),
        ("http://host/m.bin", True),
        ("file://./w", False),
        ("w", False),
        ("hf://org/repo", False),
    ],
)
def test_only_an_http_source_reads_what_the_lock_recorded(uri: str, uses: bool) -> None:
    assert uses_recorded(uri) is uses
