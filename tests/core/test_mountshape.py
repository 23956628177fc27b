"""Which mount directories release may remove: cogw's marked ones and Cog's exact shape."""

from __future__ import annotations

import pytest

from cogw.core.cache.mountshape import EntryKind, MountEntry, MountKind, identify_mount

D, F, X = EntryKind.DIR, EntryKind.FILE, EntryKind.OTHER
COG_SHAPED = (
    MountEntry("alpha", D),
    MountEntry("alpha/config.json", F, blob=True),
    MountEntry("alpha/tok", D),
    MountEntry("alpha/tok/vocab.txt", F, blob=True),
)


def test_a_marked_directory_is_cogws_whatever_it_holds() -> None:
    found = identify_mount(True, (MountEntry("x", X),))
    assert found.kind is MountKind.COGW and found.removable


def test_directories_and_store_blob_links_only_are_cogs() -> None:
    found = identify_mount(False, COG_SHAPED)
    assert found.kind is MountKind.COG and found.removable


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (MountEntry("alpha/notes", F), "alpha/notes is not a link of a store blob"),
        (MountEntry("alpha/link", X), "alpha/link is not a regular file or directory"),
        (MountEntry("model.bin", F, blob=True), "model.bin lies outside any weight directory"),
    ],
)
def test_anything_else_makes_it_unknown_and_names_the_entry(extra: MountEntry, reason: str) -> None:
    found = identify_mount(False, (*COG_SHAPED, extra))
    assert found.kind is MountKind.UNKNOWN and not found.removable
    assert found.reason == reason


@pytest.mark.parametrize("entries", [(), (MountEntry("w", D), MountEntry("w/x", D))])
def test_a_tree_without_weight_files_is_unknown(entries: tuple[MountEntry, ...]) -> None:
    found = identify_mount(False, entries)
    assert (found.kind, found.reason) == (MountKind.UNKNOWN, "it holds no weight files")
