"""Planner tests: a hand-built Snapshot in, the expected Plan out (no I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cogw.core.diagnostics import Diagnostic
from cogw.core.plan.planner import (
    FetchLayer,
    ImportStatus,
    ImportWeight,
    LinkWeight,
    Operation,
    PruneLockEntry,
    make_plan,
)
from tests.core.builders import d, entry, inventory, snapshot, spec

ALPHA = spec("alpha")
BETA = spec("beta")
ALPHA_ENTRY = entry(ALPHA, {"L1": [("a.json", 10), ("b.json", 20)], "L2": [("model.bin", 100)]})
BETA_ENTRY = entry(BETA, {"L3": [("x.bin", 5)]})


def all_digests(*entries):
    return [f.digest for e in entries for f in e.files]


def test_pull_of_a_fully_cached_weight_has_no_steps_and_needs_no_registry():
    snap = snapshot([ALPHA], [ALPHA_ENTRY], present=all_digests(ALPHA_ENTRY))
    plan = make_plan(snap, Operation.PULL)
    assert plan.is_empty
    assert list(plan.notes) == ["alpha: cached (3/3 files)"]


def test_pull_fetches_only_the_layers_holding_missing_files():
    present = [d("a.json"), d("b.json")]
    plan = make_plan(snapshot([ALPHA], [ALPHA_ENTRY], present=present), Operation.PULL)
    assert [type(s) for s in plan.steps] == [FetchLayer]
    step = plan.steps[0]
    assert step.layer.digest == d("L2")
    assert list(step.missing) == ["model.bin"]
    assert step.missing_bytes == 100
    assert step.manifest == ALPHA_ENTRY.digest


def test_pull_groups_several_missing_files_of_one_layer_into_one_fetch():
    plan = make_plan(snapshot([ALPHA], [ALPHA_ENTRY], present=[d("model.bin")]), Operation.PULL)
    assert len(plan.steps) == 1
    assert sorted(plan.steps[0].missing) == ["a.json", "b.json"]


def test_pull_reports_every_unknown_name_in_one_problem():
    plan = make_plan(snapshot([ALPHA], [ALPHA_ENTRY]), Operation.PULL, ["nope", "alpha", "typo"])
    assert len(plan.problems) == 1
    assert '"nope"' in plan.problems[0].summary and '"typo"' in plan.problems[0].summary
    assert not plan.applyable


def test_pull_of_a_declared_but_unimported_weight_says_not_imported_not_unknown():
    plan = make_plan(snapshot([ALPHA, BETA], [ALPHA_ENTRY]), Operation.PULL, ["beta"])
    assert [p.summary for p in plan.problems] == ['weight "beta" is not imported yet']
    assert "cogw import beta" in plan.problems[0].hint


def test_pull_deduplicates_repeated_names():
    plan = make_plan(snapshot([ALPHA], [ALPHA_ENTRY]), Operation.PULL, ["alpha", "alpha"])
    assert list(plan.names) == ["alpha"]
    assert len(plan.steps) == 2


def test_pull_skips_orphans_and_pending_weights_with_notes():
    snap = snapshot(
        [BETA, spec("gamma")], [ALPHA_ENTRY, BETA_ENTRY], present=all_digests(BETA_ENTRY)
    )
    plan = make_plan(snap, Operation.PULL)
    assert plan.is_empty
    assert any("alpha: removed from cog.yaml" in n for n in plan.notes)
    assert any("gamma: not imported yet" in n for n in plan.notes)


def test_prepare_without_cached_files_is_a_problem_that_names_cogw_pull():
    plan = make_plan(snapshot([ALPHA], [ALPHA_ENTRY], present=[d("a.json")]), Operation.PREPARE)
    assert len(plan.problems) == 1
    assert "not fully cached" in plan.problems[0].summary
    assert "cogw pull alpha" in plan.problems[0].hint


def test_prepare_with_pull_fetches_first_then_links():
    plan = make_plan(snapshot([ALPHA], [ALPHA_ENTRY]), Operation.PREPARE, pull=True)
    assert plan.applyable
    assert [type(s) for s in plan.steps] == [FetchLayer, FetchLayer, LinkWeight]


def test_prepare_links_every_declared_weight_in_lockfile_order():
    snap = snapshot(
        [BETA, ALPHA], [ALPHA_ENTRY, BETA_ENTRY], present=all_digests(ALPHA_ENTRY, BETA_ENTRY)
    )
    plan = make_plan(snap, Operation.PREPARE)
    assert [(s.weight, s.target) for s in plan.steps] == [
        ("alpha", "/src/weights/alpha"),
        ("beta", "/src/weights/beta"),
    ]


def test_prune_removes_only_entries_cog_yaml_no_longer_declares():
    plan = make_plan(snapshot([BETA], [ALPHA_ENTRY, BETA_ENTRY]), Operation.PRUNE)
    assert list(plan.steps) == [PruneLockEntry("alpha", "/src/weights/alpha")]


def test_prune_finds_orphans_when_cog_yaml_declares_no_weights_at_all():
    plan = make_plan(snapshot([], [ALPHA_ENTRY]), Operation.PRUNE)
    assert [s.weight for s in plan.steps] == ["alpha"]


def test_prune_with_nothing_orphaned_is_empty_so_the_lockfile_is_not_rewritten():
    assert make_plan(snapshot([ALPHA], [ALPHA_ENTRY]), Operation.PRUNE).is_empty


def test_prune_of_a_declared_weight_is_a_problem():
    plan = make_plan(snapshot([ALPHA], [ALPHA_ENTRY]), Operation.PRUNE, ["alpha"])
    assert plan.problems and "not orphaned" in plan.problems[0].summary


ALPHA_FILES = [("a.json", 10), ("b.json", 20), ("model.bin", 100)]


def test_import_of_an_unchanged_weight_has_no_step():
    snap = snapshot([ALPHA], [ALPHA_ENTRY], inventories={"alpha": inventory(ALPHA_FILES)})
    plan = make_plan(snap, Operation.IMPORT)
    assert plan.is_empty
    assert list(plan.notes) == ["alpha: unchanged"]


def test_import_of_a_new_weight_counts_files_and_bytes_to_ingest():
    snap = snapshot(
        [ALPHA], [], present=[d("a.json")], inventories={"alpha": inventory(ALPHA_FILES)}
    )
    (step,) = make_plan(snap, Operation.IMPORT).steps
    assert isinstance(step, ImportWeight)
    assert step.status is ImportStatus.NEW
    assert (step.added, step.removed, step.changed) == (3, 0, 0)
    assert step.total_bytes == 130 and step.bytes_to_ingest == 120


def test_import_reports_config_changes_in_cogs_words():
    moved = spec("alpha", target="/src/new", include=["*.json"])
    snap = snapshot([moved], [ALPHA_ENTRY], inventories={"alpha": inventory(ALPHA_FILES)})
    (step,) = make_plan(snap, Operation.IMPORT).steps
    assert step.status is ImportStatus.CONFIG_CHANGED
    assert list(step.changes) == [
        'target: "/src/weights/alpha" → "/src/new"',
        "include: [] → [*.json]",
    ]
    assert [f.path for f in step.files] == ["a.json", "b.json"]
    assert step.removed == 1


def test_import_sees_a_changed_source_through_its_fingerprint():
    edited = inventory(ALPHA_FILES, edited=["b.json"])
    snap = snapshot([ALPHA], [ALPHA_ENTRY], inventories={"alpha": edited})
    (step,) = make_plan(snap, Operation.IMPORT).steps
    assert step.status is ImportStatus.SOURCE_CHANGED
    assert step.changes[0].startswith(f"fingerprint: {ALPHA_ENTRY.source.fingerprint} → ")
    assert (step.added, step.removed, step.changed) == (0, 0, 1)


def test_import_turns_a_source_error_into_a_problem():
    from pyrsistent import pmap

    snap = snapshot([ALPHA], [], inventories={})
    snap = type(snap)(
        **{
            **{f: getattr(snap, f) for f in snap.__slots__},
            "source_errors": pmap({"alpha": Diagnostic("weight source not found")}),
        }
    )
    plan = make_plan(snap, Operation.IMPORT)
    assert [p.summary for p in plan.problems] == ["weight source not found"]


def test_import_filter_that_selects_nothing_is_a_problem_naming_the_weight():
    only_gguf = spec("alpha", include=["*.gguf"])
    snap = snapshot([only_gguf], [], inventories={"alpha": inventory(ALPHA_FILES)})
    plan = make_plan(snap, Operation.IMPORT)
    assert (
        plan.problems and "matched zero files" in plan.problems[0].summary + plan.problems[0].detail
    )
    assert plan.problems[0].subject == 'cog.yaml: weight "alpha"'


def test_sync_imports_changes_prunes_orphans_and_pulls_missing_files():
    gamma = spec("gamma")
    snap = snapshot(
        [ALPHA, gamma],
        [ALPHA_ENTRY, BETA_ENTRY],
        present=[d("a.json"), d("b.json")],
        inventories={"alpha": inventory(ALPHA_FILES), "gamma": inventory([("g.bin", 1)])},
    )
    plan = make_plan(snap, Operation.SYNC)
    kinds = [(type(s).__name__, s.weight) for s in plan.steps]
    assert kinds == [("ImportWeight", "gamma"), ("PruneLockEntry", "beta"), ("FetchLayer", "alpha")]


@given(
    st.permutations([ALPHA_ENTRY, BETA_ENTRY]),
    st.sets(st.sampled_from(all_digests(ALPHA_ENTRY, BETA_ENTRY))),
)
def test_make_plan_is_deterministic(entries, present):
    snap = snapshot([ALPHA, BETA], entries, present=sorted(present))
    for op in (Operation.PULL, Operation.PREPARE, Operation.PRUNE):
        assert make_plan(snap, op) == make_plan(snap, op)


@pytest.mark.parametrize("op", list(Operation), ids=[o.value for o in Operation])
def test_an_empty_project_plans_nothing_without_crashing(op):
    plan = make_plan(snapshot([], None), op)
    assert plan.is_empty


def test_import_prunes_orphans_as_cog_does_even_when_nothing_is_imported():
    snap = snapshot(
        [ALPHA],
        [ALPHA_ENTRY, BETA_ENTRY],
        present=[d("a.json"), d("b.json")],
        inventories={"alpha": inventory(ALPHA_FILES)},
    )
    plan = make_plan(snap, Operation.IMPORT)
    assert [(type(s).__name__, s.weight) for s in plan.steps] == [("PruneLockEntry", "beta")]
    partial = make_plan(snap, Operation.IMPORT, ["alpha"])
    assert [(type(s).__name__, s.weight) for s in partial.steps] == [("PruneLockEntry", "beta")]


def test_an_unknown_name_gets_the_closest_declared_name_as_a_hint():
    plan = make_plan(snapshot([ALPHA, BETA], [ALPHA_ENTRY]), Operation.PULL, ["alpah"])
    assert plan.problems[0].hint == 'did you mean "alpha"?'
    far = make_plan(snapshot([ALPHA], [ALPHA_ENTRY]), Operation.PULL, ["zzzz"])
    assert "did you mean" not in far.problems[0].hint


def test_import_of_an_undeclared_name_suggests_a_declared_one():
    inv = inventory([("a.bin", 1)])
    snap = snapshot([ALPHA], inventories={"alpha": inv})
    plan = make_plan(snap, Operation.IMPORT, ["alhpa"])
    assert plan.problems[0].hint == 'did you mean "alpha"?'


@pytest.mark.parametrize("image", ["127.0.0.1:5000/acme/model:v1", "acme/model@sha256:" + "a" * 64])
def test_a_tag_or_digest_in_image_is_a_problem_of_a_plan_that_needs_the_registry(image):
    inv = inventory([("a.bin", 1)])
    plan = make_plan(snapshot([ALPHA], inventories={"alpha": inv}, image=image), Operation.IMPORT)
    assert plan.steps and not plan.applyable
    (problem,) = plan.problems
    assert "includes a tag or digest" in problem.summary and "image" in problem.subject
    assert "provide only the repository" in problem.hint


def test_a_tag_in_image_does_not_block_a_plan_that_needs_no_registry():
    snap = snapshot([ALPHA], [ALPHA_ENTRY], present=all_digests(ALPHA_ENTRY), image="a/b:v1")
    assert make_plan(snap, Operation.PULL).problems == ()


def test_prepare_in_hardlink_mode_across_filesystems_is_a_problem_before_any_mount():
    from dataclasses import replace

    base = snapshot([ALPHA], [ALPHA_ENTRY], present=all_digests(ALPHA_ENTRY))
    apart = replace(base, store_dir="/mnt/cache/weights", store_shares_device=False)
    (problem,) = make_plan(apart, Operation.PREPARE).problems
    assert "different filesystems" in problem.summary
    assert "/mnt/cache/weights" in problem.detail and "/proj" in problem.detail
    assert "--link-mode copy" in problem.hint and "--cache-dir" in problem.hint
    assert "COG_CACHE_DIR" in problem.hint
    assert make_plan(apart, Operation.PREPARE, link_mode="copy").problems == ()
    (reflinks,) = make_plan(apart, Operation.PREPARE, link_mode="reflink").problems
    assert "reflinks cannot cross" in reflinks.summary and "--link-mode copy" in reflinks.hint
    unknown = replace(base, store_shares_device=None)
    assert make_plan(unknown, Operation.PREPARE).problems == ()


def test_sync_gives_one_note_per_unchanged_cached_weight():
    inv = inventory([("a.json", 10), ("b.json", 20), ("model.bin", 100)])
    from tests.core.builders import packed_entry

    locked = packed_entry(ALPHA, inv)
    snap = snapshot([ALPHA], [locked], present=all_digests(locked), inventories={"alpha": inv})
    plan = make_plan(snap, Operation.SYNC)
    assert plan.is_empty
    assert list(plan.notes) == ["alpha: unchanged, cached (3/3 files)"]


def test_plan_text_shows_fingerprints_as_short_digests_and_json_keeps_them_whole():
    import re

    from cogw.core.plan.render import plan_json, plan_lines

    edited = inventory(ALPHA_FILES, edited=["b.json"])
    plan = make_plan(
        snapshot([ALPHA], [ALPHA_ENTRY], inventories={"alpha": edited}), Operation.IMPORT
    )
    text = "\n".join(plan_lines(plan))
    old = ALPHA_ENTRY.source.fingerprint
    assert f"changed: fingerprint: {old[:19]} → sha256:" in text
    assert not re.search(r"[0-9a-f]{64}", text)
    assert plan_json(plan)["steps"][0]["changes"][0].startswith(f"fingerprint: {old} → ")
