"""Recording an import: entry building and the merge into weights.lock (no I/O)."""

from __future__ import annotations

import dataclasses

import pytest
from pyrsistent import pvector
from returns.result import Failure, Success

from cogw.core.artifact.oci import config_blob, manifest_bytes
from cogw.core.config.weights import ProjectConfig
from cogw.core.digest import sha256_of
from cogw.core.lock.lockfile import (
    MEDIA_TYPE_TAR,
    MEDIA_TYPE_TAR_GZIP,
    Lockfile,
    LockLayer,
    Shape,
    parse_lockfile,
    render_lockfile,
)
from cogw.core.plan.importplan import ImportStatus, ImportWeight
from cogw.core.plan.importrecord import build_entry, keep_imported_at, merge_imports
from cogw.core.plan.planner import Operation, make_plan
from tests.core.builders import d, inventory, packed_entry, snapshot, spec

MIB = 1 << 20
ENVELOPE = d("envelope")
ALPHA, BETA = spec("alpha"), spec("beta")
INV = inventory([("a.json", 10), ("b.json", 20), ("m.safetensors", 100 * MIB)])
THEN, NOW = "2026-01-01T00:00:00Z", "2026-05-01T12:00:00.5Z"
BUNDLE = LockLayer(d("bundle"), MEDIA_TYPE_TAR_GZIP, 130, 30)
TENSOR = LockLayer(d("tensor"), MEDIA_TYPE_TAR, 100 * MIB + 1536, 100 * MIB)


def new_step() -> ImportWeight:
    snap = snapshot([ALPHA], [], inventories={"alpha": INV}, envelope=ENVELOPE)
    (step,) = make_plan(snap, Operation.IMPORT).steps
    assert isinstance(step, ImportWeight)
    return step


def built(step: ImportWeight, layers, imported_at: str = NOW):
    result = build_entry(step, layers, imported_at)
    assert isinstance(result, Success), result
    return result.unwrap()


# --- build_entry ---------------------------------------------------------------------------------


def test_the_entry_assigns_every_file_to_the_layer_packing_made_of_it():
    weight = built(new_step(), [BUNDLE, TENSOR])
    entry = weight.entry
    assert {f.path: f.layer for f in entry.files} == {
        "a.json": BUNDLE.digest,
        "b.json": BUNDLE.digest,
        "m.safetensors": TENSOR.digest,
    }
    assert set(entry.layers) == {BUNDLE, TENSOR}
    assert (entry.size, entry.size_compressed) == (30 + 100 * MIB, 130 + 100 * MIB + 1536)
    assert (entry.name, entry.target, entry.source.uri) == (ALPHA.name, ALPHA.target, ALPHA.uri)
    assert (entry.source.fingerprint, entry.source.imported_at) == (INV.fingerprint, NOW)


def test_the_entry_names_the_manifest_built_from_it():
    weight = built(new_step(), [BUNDLE, TENSOR])
    undigested = dataclasses.replace(weight.entry, digest="")
    assert weight.config == config_blob(undigested)
    assert weight.manifest == manifest_bytes(undigested, weight.config)
    assert weight.entry.digest == sha256_of(weight.manifest)


def test_reused_layers_rebuild_the_recorded_files_and_layers():
    recorded = packed_entry(ALPHA, INV)
    moved = spec("alpha", target="/src/moved")
    snap = snapshot([moved], [recorded], inventories={"alpha": INV}, envelope=ENVELOPE)
    (step,) = make_plan(snap, Operation.IMPORT).steps
    assert isinstance(step, ImportWeight)
    reused = [layer.reuse for layer in step.layers]
    assert all(reused)
    entry = built(step, reused).entry
    assert (entry.files, entry.layers, entry.target) == (
        recorded.files,
        recorded.layers,
        "/src/moved",
    )


def test_a_weight_whose_manifest_cannot_be_built_is_a_diagnostic_naming_every_reason():
    empty = ImportWeight(
        "alpha", ALPHA, ImportStatus.NEW, pvector(), "sha256:fp", pvector(), pvector()
    )
    result = build_entry(empty, [], NOW)
    assert isinstance(result, Failure)
    (diag,) = result.failure()
    assert diag.summary == (
        'weight "alpha": build weight manifest: weight files are required for config blob; '
        "at least one layer is required"
    )


def test_a_layer_count_other_than_planned_is_a_caller_bug():
    with pytest.raises(ValueError, match="1 layers for 2 planned"):
        build_entry(new_step(), [BUNDLE], NOW)


# --- keep_imported_at ----------------------------------------------------------------------------


def test_an_entry_equal_to_the_recorded_one_keeps_the_recorded_time():
    recorded = packed_entry(ALPHA, INV, imported_at=THEN)
    again = packed_entry(ALPHA, INV, imported_at=NOW)
    assert keep_imported_at(again, recorded) == recorded


def test_an_entry_that_differs_in_anything_but_the_time_gets_the_new_time():
    recorded = packed_entry(ALPHA, INV, imported_at=THEN)
    moved = packed_entry(spec("alpha", target="/src/moved"), INV, imported_at=NOW)
    assert keep_imported_at(moved, recorded) == moved
    assert keep_imported_at(moved, None) == moved


# --- merge_imports -------------------------------------------------------------------------------


def lock_bytes(*entries, envelope: str = ENVELOPE) -> bytes:
    return render_lockfile(Lockfile(envelope_format=envelope, weights=pvector(entries)))


def merged(current: bytes | None, entries, envelope: str = ENVELOPE) -> bytes | None:
    result = merge_imports(current, entries, envelope)
    assert isinstance(result, Success), result
    return result.unwrap()


def test_the_first_import_writes_a_lockfile_with_the_entry_and_the_envelope():
    entry = packed_entry(ALPHA, INV, imported_at=NOW)
    assert merged(None, [entry]) == lock_bytes(entry)


def test_an_entry_replaces_its_namesake_in_place_and_keeps_the_others():
    beta = packed_entry(BETA, inventory([("x.bin", 5)]))
    old = packed_entry(ALPHA, inventory([("old.json", 1)]), imported_at=THEN)
    new = packed_entry(ALPHA, INV, imported_at=NOW)
    data = merged(lock_bytes(old, beta, envelope=""), [new])
    assert data == lock_bytes(new, beta)
    assert parse_lockfile(data).unwrap().envelope_format == ENVELOPE


def test_re_recording_an_unchanged_entry_keeps_its_time_and_writes_nothing():
    recorded = packed_entry(ALPHA, INV, imported_at=THEN)
    again = packed_entry(ALPHA, INV, imported_at=NOW)
    assert merged(lock_bytes(recorded), [again]) is None


def test_a_new_envelope_alone_is_a_change_to_write():
    recorded = packed_entry(ALPHA, INV, imported_at=THEN)
    data = merged(lock_bytes(recorded, envelope=d("old")), [recorded])
    assert data == lock_bytes(recorded)


def test_a_lockfile_that_became_invalid_is_refused_with_its_diagnostics():
    result = merge_imports(b"{not json", [packed_entry(ALPHA, INV)], ENVELOPE)
    assert isinstance(result, Failure)
    assert [p.summary for p in result.failure()] == ["invalid JSON"]
    assert result.failure()[0].subject == "weights.lock"


def test_with_the_config_the_merge_drops_entries_it_no_longer_declares():
    """As Cog's import prunes: a renamed weight's old entry goes in the same write."""
    old_name = packed_entry(spec("old", target="/src/alpha"), INV, imported_at=THEN)
    beta = packed_entry(BETA, inventory([("x.bin", 5)]))
    new = packed_entry(ALPHA, INV, imported_at=NOW)
    config = ProjectConfig(image="r/x", weights=pvector([ALPHA, BETA]), repository="r/x")
    result = merge_imports(lock_bytes(old_name, beta), [new], ENVELOPE, config=config)
    assert isinstance(result, Success), result
    assert result.unwrap() == lock_bytes(beta, new)


def test_a_lockfile_with_two_entries_for_one_target_is_read_and_repaired():
    first = packed_entry(spec("old", target="/src/w"), INV, imported_at=THEN)
    second = packed_entry(spec("new", target="/src/w"), INV, imported_at=THEN)
    stuck = lock_bytes(first, second)
    assert isinstance(parse_lockfile(stuck), Failure)  # what the other commands refuse
    declared = spec("new", target="/src/w")
    config = ProjectConfig(image="r/x", weights=pvector([declared]), repository="r/x")
    again = packed_entry(declared, INV, imported_at=NOW)
    result = merge_imports(stuck, [again], ENVELOPE, config=config)
    assert isinstance(result, Success), result
    assert result.unwrap() == lock_bytes(second)


def test_a_new_lockfile_takes_the_shape_of_the_config():
    entry = packed_entry(ALPHA, INV, imported_at=NOW)
    model = ProjectConfig(weights=pvector([ALPHA]), model="r/x", repository="r/x")
    image = ProjectConfig(image="r/x", weights=pvector([ALPHA]), repository="r/x")
    current = merge_imports(None, [entry], ENVELOPE, config=model).unwrap()
    old = merge_imports(None, [entry], ENVELOPE, config=image).unwrap()
    assert current is not None and old is not None
    assert parse_lockfile(current).unwrap().shape is Shape.SOURCES
    assert parse_lockfile(old).unwrap().shape is Shape.SOURCE
