"""Importing a weight of several sources (current Cog): resolve, plan, record, save (no I/O)."""

from __future__ import annotations

import dataclasses

from pyrsistent import pmap, pvector
from returns.result import Success

from cogw.core.artifact.inventory import Inventory, InventoryFile
from cogw.core.config.weights import SourceSpec, WeightSpec
from cogw.core.lock.lockfile import (
    MEDIA_TYPE_TAR_GZIP,
    Lockfile,
    LockLayer,
    LockSource,
    Shape,
    render_lockfile,
)
from cogw.core.plan.codec import _import_weight as import_from_json
from cogw.core.plan.codec import step_to_json
from cogw.core.plan.importplan import ImportStatus, ImportWeight
from cogw.core.plan.importrecord import build_entry
from cogw.core.plan.importsources import resolve_sources
from cogw.core.plan.planner import Operation, make_plan
from cogw.core.plan.render import plan_lines
from cogw.core.plan.status import make_status
from cogw.core.plan.statusview import status_json
from tests.core.builders import d, snapshot

BASE = SourceSpec("hf://acme/base", pvector(), pvector(["*.md"]))
PATCH = SourceSpec("file://./patch", pvector(["*.json"]), pvector())
TWO = WeightSpec("llm", "/src/weights/llm", BASE.uri, BASE.include, BASE.exclude, pvector([PATCH]))


def inv(fingerprint: str, files: dict[str, str]) -> Inventory:
    listed = [InventoryFile(p, len(c), d(c)) for p, c in sorted(files.items())]
    return Inventory(pvector(listed), fingerprint)


BASE_INV = inv(
    "commit:" + "a" * 40,
    {"config.json": "base-config", "model.bin": "weights", "README.md": "readme"},
)
PATCH_INV = inv(
    "sha256:" + "b" * 64, {"config.json": "patched", "extra.json": "extra", "x.txt": "x"}
)


def two_source_snapshot(entries=None, base=BASE_INV, patch=PATCH_INV):
    snap = snapshot([TWO], entries, inventories={"llm": base})
    return dataclasses.replace(snap, more_inventories=pmap({"llm": pvector([patch])}))


def the_step(snap) -> ImportWeight:
    (step,) = make_plan(snap, Operation.IMPORT).steps
    assert isinstance(step, ImportWeight)
    return step


# --- resolve_sources -------------------------------------------------------------------------


def test_each_source_is_filtered_on_its_own_and_the_last_source_wins_a_path():
    resolved = resolve_sources(TWO, [BASE_INV, PATCH_INV], "cog.yaml")
    assert not isinstance(resolved, Exception) and hasattr(resolved, "files")
    by_path = {f.path: (f.digest, o) for f, o in zip(resolved.files, resolved.owners, strict=True)}
    assert by_path == {
        "config.json": (d("patched"), 1),  # the patch's filter keeps it and it wins
        "extra.json": (d("extra"), 1),
        "model.bin": (d("weights"), 0),
    }  # README.md excluded by the base's filter, x.txt not included by the patch's
    assert resolved.fingerprints == (BASE_INV.fingerprint, PATCH_INV.fingerprint)
    assert list(resolved.overrides) == [
        'weight "llm": source[1] (file://./patch) overrides config.json'
    ]
    assert list(resolved.counts) == [
        "source[0] (hf://acme/base): 2 added, 0 overriding, 1 overridden by later sources",
        "source[1] (file://./patch): 1 added, 1 overriding, 0 overridden by later sources",
    ]


def test_a_source_whose_filters_keep_nothing_fails_the_weight_and_says_which_source():
    nothing = inv("sha256:" + "c" * 64, {"notes.txt": "n"})
    diag = resolve_sources(TWO, [BASE_INV, nothing], "cog.yaml")
    assert diag.summary.startswith("source[1] (file://./patch): ")
    assert diag.subject == 'cog.yaml: weight "llm"'


def test_one_source_is_resolved_as_before_without_owners_or_notes():
    one = WeightSpec("w", "/src/w", "file://./w")
    resolved = resolve_sources(one, [PATCH_INV], "cog.yaml")
    assert list(resolved.files) == list(PATCH_INV.files)
    assert (resolved.owners, resolved.counts, resolved.overrides) == (
        pvector(),
        pvector(),
        pvector(),
    )


# --- planning --------------------------------------------------------------------------------


def test_a_new_weight_of_two_sources_plans_the_merged_files_and_says_what_each_source_gives():
    step = the_step(two_source_snapshot())
    assert step.status is ImportStatus.NEW
    assert [f.path for f in step.files] == ["config.json", "extra.json", "model.bin"]
    assert list(step.owners) == [1, 1, 0]
    assert step.fingerprints == (BASE_INV.fingerprint, PATCH_INV.fingerprint)
    text = "\n".join(plan_lines(make_plan(two_source_snapshot(), Operation.IMPORT)))
    assert "llm hf://acme/base (+1 more) → /src/weights/llm (new)" in text
    assert "source[1] (file://./patch): 1 added, 1 overriding" in text


def _recorded(step: ImportWeight):
    layers = [
        LockLayer(d(f"layer{i}"), MEDIA_TYPE_TAR_GZIP, 100 + i, layer.file_bytes)
        for i, layer in enumerate(step.layers)
    ]
    result = build_entry(step, layers, "2026-06-01T00:00:00Z")
    assert isinstance(result, Success), result
    return result.unwrap().entry


def test_the_entry_records_every_source_with_its_own_fingerprint_in_order():
    entry = _recorded(the_step(two_source_snapshot()))
    assert [(s.uri, s.fingerprint, list(s.include), list(s.exclude)) for s in entry.sources] == [
        (BASE.uri, BASE_INV.fingerprint, [], ["*.md"]),
        (PATCH.uri, PATCH_INV.fingerprint, ["*.json"], []),
    ]
    lock = Lockfile(weights=pvector([entry]), shape=Shape.SOURCES)
    assert b'"sources": [' in render_lockfile(lock)


def test_nothing_moved_means_unchanged_and_a_moved_second_source_is_named_by_index():
    entry = _recorded(the_step(two_source_snapshot()))
    assert make_plan(two_source_snapshot([entry]), Operation.IMPORT).is_empty
    moved = dataclasses.replace(PATCH_INV, fingerprint="sha256:" + "d" * 64)
    step = the_step(two_source_snapshot([entry], patch=moved))
    assert step.status is ImportStatus.SOURCE_CHANGED
    assert list(step.changes) == [
        f"source[1] fingerprint: {PATCH_INV.fingerprint} → {moved.fingerprint}"
    ]


def test_a_different_override_is_a_file_change_even_with_the_same_fingerprints():
    entry = _recorded(the_step(two_source_snapshot()))
    # The same fingerprints, but the patch no longer holds config.json: the base's wins.
    shrunk = inv(PATCH_INV.fingerprint, {"extra.json": "extra"})
    step = the_step(two_source_snapshot([entry], patch=shrunk))
    assert step.status is ImportStatus.SOURCE_CHANGED
    assert {f.path: o for f, o in zip(step.files, step.owners, strict=True)}["config.json"] == 0


def test_a_saved_plan_keeps_every_source_fingerprint_and_owner():
    step = the_step(two_source_snapshot())
    data = step_to_json(step)
    assert import_from_json(data) == step
    broken = {**data, "owners": [0]}
    try:
        import_from_json(broken)
    except ValueError as exc:
        assert "sources, fingerprints and owners disagree" in str(exc)
    else:
        raise AssertionError("a plan whose owners do not cover the files must be refused")


def test_status_shows_the_first_source_with_cogs_more_count_and_lists_them_all():
    entry = _recorded(the_step(two_source_snapshot()))
    snap = two_source_snapshot([entry])
    (row,) = status_json(make_status(snap))["weights"]
    assert row["source"]["uri"] == "hf://acme/base (+1 more)"
    assert [s["uri"] for s in row["sources"]] == [BASE.uri, PATCH.uri]


def test_the_lock_source_of_a_later_source_carries_no_import_time():
    entry = _recorded(the_step(two_source_snapshot()))
    assert entry.more_sources == pvector(
        [LockSource(PATCH.uri, PATCH_INV.fingerprint, PATCH.include, PATCH.exclude)]
    )


# --- pushing a lost layer again from the sources ----------------------------------------------


def test_a_lost_layer_is_read_again_from_the_source_that_won_each_path():
    from cogw.core.plan.repush import source_owners

    entry = _recorded(the_step(two_source_snapshot()))
    files = [InventoryFile(f.path, f.size, f.digest) for f in entry.files]
    owners = source_owners(two_source_snapshot([entry]), entry, files)
    assert owners == {"config.json": 1, "extra.json": 1, "model.bin": 0}
    moved = dataclasses.replace(BASE_INV, fingerprint="commit:" + "e" * 40)
    assert source_owners(two_source_snapshot([entry], base=moved), entry, files) is None
    shrunk = inv(PATCH_INV.fingerprint, {"extra.json": "extra"})  # config.json gone from it
    assert source_owners(two_source_snapshot([entry], patch=shrunk), entry, files) is None
