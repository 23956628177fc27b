"""Whether an http(s) source must be downloaded: only a matching strong ETag spares it."""

from __future__ import annotations

from pyrsistent import pvector

from cogw.core.artifact.inventory import Inventory, InventoryFile
from cogw.core.lock.lockfile import Lockfile
from cogw.core.plan.etagreuse import recorded_inventory, reusable_inventory, strong_etag
from tests.core.builders import d, entry, spec

URI = "https://example.com/files/model.bin"


def _lock(fingerprint: str, uri: str = URI, paths: tuple[str, ...] = ("model.bin",)) -> Lockfile:
    s = spec("remote", uri=uri)
    return Lockfile(weights=pvector([entry(s, {"l": [(p, 10) for p in paths]}, fingerprint)]))


def test_the_recorded_inventory_is_the_entrys_files_and_fingerprint():
    recorded = recorded_inventory(_lock('etag:"v1"'), "remote", URI)
    assert recorded == Inventory(
        pvector([InventoryFile("model.bin", 10, d("model.bin"))]), 'etag:"v1"'
    )


def test_nothing_is_recorded_without_an_entry_or_for_another_uri():
    assert recorded_inventory(None, "remote", URI) is None
    assert recorded_inventory(_lock('etag:"v1"'), "other", URI) is None
    assert recorded_inventory(_lock('etag:"v1"', uri=URI + "2"), "remote", URI) is None


def test_an_unchanged_strong_etag_reuses_the_recorded_inventory():
    recorded = recorded_inventory(_lock('etag:"v1"'), "remote", URI)
    assert reusable_inventory(recorded, "model.bin", '"v1"') is recorded


def test_a_changed_weak_or_missing_etag_means_downloading():
    recorded = recorded_inventory(_lock('etag:"v1"'), "remote", URI)
    assert reusable_inventory(recorded, "model.bin", '"v2"') is None
    assert reusable_inventory(recorded, "model.bin", 'W/"v1"') is None
    assert reusable_inventory(recorded, "model.bin", None) is None
    assert reusable_inventory(None, "model.bin", '"v1"') is None


def test_a_content_fingerprint_or_an_edited_file_set_means_downloading():
    by_content = recorded_inventory(_lock(d("body")), "remote", URI)
    assert reusable_inventory(by_content, "model.bin", d("body").removeprefix("sha256:")) is None
    two = recorded_inventory(_lock('etag:"v1"', paths=("a.bin", "model.bin")), "remote", URI)
    assert reusable_inventory(two, "model.bin", '"v1"') is None
    renamed = recorded_inventory(_lock('etag:"v1"', paths=("old.bin",)), "remote", URI)
    assert reusable_inventory(renamed, "model.bin", '"v1"') is None


def test_only_strong_etags_count():
    assert strong_etag('"x"') == '"x"'
    assert strong_etag('W/"x"') is None
    assert strong_etag(None) is None
