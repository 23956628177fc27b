"""A source's files against weights.lock: the diff, its words, status rows and the CI gate."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pvector

from cogw.core.artifact.inventory import Inventory, InventoryFile
from cogw.core.diagnostics import Diagnostic
from cogw.core.plan.check import RemoteFinding, check_json, check_lines, check_project, verdict
from cogw.core.plan.codec import step_from_json, step_to_json
from cogw.core.plan.drift import check_drift
from cogw.core.plan.importplan import plan_imports
from cogw.core.plan.planner import Operation, make_plan
from cogw.core.plan.render import plan_lines
from cogw.core.plan.sourcediff import (
    FileChange,
    SourceDiff,
    change_lines,
    diff_files,
    diff_from_json,
    diff_json,
    diff_summary,
    first_few,
    short_hex,
)
from cogw.core.plan.sourcestatus import (
    SourceSeen,
    compare_source,
    fold_sources,
    source_problems,
    verbose_lines,
    with_sources_json,
)
from cogw.core.plan.status import WeightStatus, make_status
from cogw.core.plan.statusview import status_json, status_lines
from tests.core.builders import d, entry, inventory, packed_entry, snapshot, spec

FILES = [("config.json", 10), ("model.safetensors", 1000), ("tokenizer.json", 20)]
ALPHA = spec("alpha")
INV = inventory(FILES)
ENTRY = packed_entry(ALPHA, INV)


def edited(*, change=(), add=(), remove=()) -> Inventory:
    files = [(p, n) for p, n in FILES if p not in remove] + list(add)
    return inventory(files, edited=change)


# --- the diff ------------------------------------------------------------------------------------


def test_a_file_is_changed_when_its_digest_or_its_size_differs_and_groups_are_in_path_order():
    locked = [
        InventoryFile("b", 1, d("b")),
        InventoryFile("a", 1, d("a")),
        InventoryFile("z", 1, d("z")),
    ]
    now = [
        InventoryFile("a", 2, d("a")),  # same digest, other size
        InventoryFile("b", 1, d("b'")),
        InventoryFile("y", 1, d("y")),
        InventoryFile("c", 1, d("c")),
    ]
    diff = diff_files(locked, now)
    assert [c.path for c in diff.changed] == ["a", "b"]
    assert diff.added == pvector([FileChange("c", "", d("c")), FileChange("y", "", d("y"))])
    assert diff.removed == pvector([FileChange("z", d("z"), "")])
    assert diff.paths == ["a", "b", "c", "y", "z"]


def test_the_same_files_make_an_empty_diff():
    assert diff_files(ENTRY.files, INV.files).is_empty


@given(
    st.dictionaries(st.sampled_from("abcdef"), st.sampled_from("xyz")),
    st.dictionaries(st.sampled_from("abcdef"), st.sampled_from("xyz")),
)
def test_every_path_of_either_side_that_differs_is_named_exactly_once(old, new):
    diff = diff_files(
        [InventoryFile(p, 1, d(v)) for p, v in old.items()],
        [InventoryFile(p, 1, d(v)) for p, v in new.items()],
    )
    differing = {p for p in old.keys() | new.keys() if old.get(p) != new.get(p)}
    assert sorted(diff.paths) == sorted(differing)
    assert diff_from_json(diff_json(diff, shorten=False)) == diff


def test_summaries_name_the_first_few_files_then_count_the_rest():
    assert first_few(["a", "b", "c", "d", "e"]) == "a, b (+3 more)"
    assert first_few(["a", "b"]) == "a, b"
    diff = SourceDiff(
        changed=pvector([FileChange(p, d(p), d(p + "'")) for p in ("config.json", "m1", "m2")]),
        removed=pvector([FileChange("old.txt", d("old.txt"), "")]),
    )
    assert diff_summary(diff) == "changed: config.json, m1 (+1 more); removed: old.txt"


def test_change_lines_show_short_digests_and_an_unknown_new_digest_as_a_question_mark():
    old, new = d("model"), d("model'")
    diff = SourceDiff(
        changed=pvector([FileChange("model.safetensors", old, new), FileChange("x.bin", old, "")]),
        added=pvector([FileChange("new.bin", "", new)]),
    )
    assert change_lines(diff) == [
        f"~ model.safetensors {old[7:15]}… → {new[7:15]}…",
        f"~ x.bin {old[7:15]}… → ?",
        f"+ new.bin {new[7:15]}…",
    ]
    assert change_lines(diff, limit=1) == [change_lines(diff)[0], "(+2 more)"]
    assert short_hex(old) == old[7:15] + "…"
    assert diff_json(diff)["changed"][1] == {"path": "x.bin", "old": old[7:15] + "…", "new": None}


# --- status rows ---------------------------------------------------------------------------------


def ready_rows():
    return make_status(snapshot([ALPHA], [ENTRY], present=[f.digest for f in ENTRY.files]))


def test_an_edited_added_and_removed_file_make_a_ready_weight_source_changed():
    now = edited(change=["config.json"], add=[("extra.bin", 5)], remove=["tokenizer.json"])
    finding = compare_source(ALPHA, ENTRY, SourceSeen(now.fingerprint, now))
    (row,) = fold_sources(ready_rows(), {"alpha": finding})
    assert row.status is WeightStatus.SOURCE_CHANGED
    assert row.next_command == "cogw import"
    assert row.details == "changed: config.json; added: extra.bin; removed: tokenizer.json"
    assert (
        "  alpha: changed: config.json; added: extra.bin; removed: tokenizer.json"
        in status_lines([row])
    )


def test_an_unchanged_source_leaves_the_row_as_it_was():
    finding = compare_source(ALPHA, ENTRY, SourceSeen(INV.fingerprint, INV))
    assert not finding.changed
    assert fold_sources(ready_rows(), {"alpha": finding}) == ready_rows()


def test_a_remote_source_whose_version_is_the_locked_one_is_unchanged_without_its_files():
    assert not compare_source(ALPHA, ENTRY, SourceSeen(INV.fingerprint)).changed


def test_a_remote_source_whose_version_moved_marks_its_files_changed_to_unknown_content():
    finding = compare_source(ALPHA, ENTRY, SourceSeen('etag:"v2"'))
    assert finding.changed
    assert [c.new for c in finding.diff.changed] == ["", "", ""]
    assert "→ ?" in verbose_lines({"alpha": finding})[1]


def test_a_moved_fingerprint_with_the_same_included_files_is_still_a_change_as_import_sees_it():
    only_excluded = Inventory(INV.files, d("another-dirhash"))
    finding = compare_source(ALPHA, ENTRY, SourceSeen(only_excluded.fingerprint, only_excluded))
    (row,) = fold_sources(ready_rows(), {"alpha": finding})
    assert row.status is WeightStatus.SOURCE_CHANGED
    assert row.details.startswith("source version moved (sha256:")
    assert row.details.endswith("no included file changed")


def test_filters_apply_before_comparing():
    filtered = spec("alpha", include=["*.json"])
    kept = [f for f in INV.files if f.path.endswith(".json")]
    locked = packed_entry(filtered, Inventory(pvector(kept), INV.fingerprint))
    now = edited(change=["model.safetensors"])  # excluded by the filter
    finding = compare_source(
        filtered, locked, SourceSeen(INV.fingerprint, Inventory(now.files, INV.fingerprint))
    )
    assert not finding.changed


def test_stale_pending_and_orphaned_rows_are_not_folded():
    moved = spec("alpha", target="/elsewhere")
    rows = make_status(snapshot([moved], [ENTRY]))
    now = edited(change=["config.json"])
    assert (
        fold_sources(
            rows, {"alpha": compare_source(moved, ENTRY, SourceSeen(now.fingerprint, now))}
        )
        == rows
    )


def test_an_unreadable_source_is_a_problem_not_a_change():
    diag = Diagnostic("not found: http://x/m.bin (HTTP 404)", hint="fix the weight's source")
    finding = compare_source(ALPHA, ENTRY, diag)
    assert not finding.changed
    assert source_problems({"alpha": finding}) == (diag,)


def test_status_json_with_sources_carries_full_lists_and_short_digests():
    now = edited(change=["config.json"], add=[("extra.bin", 5)])
    findings = {"alpha": compare_source(ALPHA, ENTRY, SourceSeen(now.fingerprint, now))}
    value = with_sources_json(status_json(fold_sources(ready_rows(), findings)), findings)
    (weight,) = value["weights"]
    assert value["sourcesChecked"] is True and value["ready"] is False
    assert weight["status"] == "source-changed"
    check = weight["sourceCheck"]
    assert check["moved"] is True
    assert check["lockedFingerprint"] == INV.fingerprint
    assert check["fingerprint"] == now.fingerprint
    assert check["added"] == [{"path": "extra.bin", "new": d("extra.bin")[7:15] + "…"}]
    assert [c["path"] for c in check["changed"]] == ["config.json"]
    assert check["removed"] == []


# --- plan import ---------------------------------------------------------------------------------


def test_plan_import_names_the_changed_files_with_short_digests_and_counts_the_rest():
    many = [(f"shard-{i}.bin", 10) for i in range(8)]
    inv = inventory(many)
    locked = packed_entry(ALPHA, inv)
    now = inventory(many, edited=[p for p, _ in many])
    plan = make_plan(snapshot([ALPHA], [locked], inventories={"alpha": now}), Operation.IMPORT, [])
    lines = plan_lines(plan)
    old, new = d("shard-0.bin"), d("shard-0.bin'")
    assert f"      ~ shard-0.bin {old[7:15]}… → {new[7:15]}…" in lines
    assert "      (+3 more)" in lines
    (step,) = plan.steps
    assert step_from_json(step_to_json(step)) == step
    assert [c["path"] for c in step_to_json(step)["fileChanges"]["changed"]] == [p for p, _ in many]


def test_a_new_weight_lists_no_file_changes():
    steps, _, _ = plan_imports(snapshot([ALPHA], None, inventories={"alpha": INV}), [], [])
    assert steps[0].file_changes.is_empty


# --- the CI gate ---------------------------------------------------------------------------------


def test_check_passes_when_everything_agrees_and_says_what_it_compared():
    result = check_project(check_drift(snapshot([ALPHA], [ENTRY]).lock, [ALPHA]), {})
    assert result.ok
    assert verdict(result) == "ok: cog.yaml, weights.lock and sources agree"
    assert check_json(result) == {
        "ok": True,
        "compared": ["cog.yaml", "weights.lock", "sources"],
        "problems": [],
    }


def test_check_fails_with_one_line_per_disagreement_and_a_hint():
    beta, gamma = spec("beta"), spec("gamma")
    snap = snapshot([ALPHA, beta], [ENTRY, entry(gamma, {"L": [("g", 1)]})])
    now = edited(change=["config.json", "model.safetensors"], add=[("extra.bin", 5)])
    findings = {"alpha": compare_source(ALPHA, ENTRY, SourceSeen(now.fingerprint, now))}
    result = check_project(check_drift(snap.lock, snap.config.weights), findings)
    assert check_lines(result) == [
        "beta: declared in cog.yaml, not in weights.lock; run 'cogw import beta'",
        "gamma: in weights.lock, no longer in cog.yaml; run 'cogw apply prune'",
        "alpha: source changed: config.json, model.safetensors (+1 more); run 'cogw import alpha'",
    ]
    assert [p["kind"] for p in check_json(result)["problems"]] == [
        "pending",
        "orphaned",
        "source-changed",
    ]
    assert verdict(result).startswith("check failed: 3 disagreements")


def test_check_words_config_drift_and_an_unreadable_source():
    moved = spec("alpha", target="/elsewhere")
    drift = check_drift(snapshot([moved], [ENTRY]).lock, [moved])
    diag = Diagnostic("not found (HTTP 404)", hint="fix the URL")
    beta = compare_source(spec("beta"), ENTRY, diag)
    lines = check_lines(check_project(drift, {"beta": beta}))
    assert lines[0].startswith("alpha: cog.yaml changed since the import (target:")
    assert lines[1] == "beta: source cannot be read: not found (HTTP 404); fix the URL"


def test_remote_findings_are_one_more_kind_of_disagreement():
    result = check_project([], None, [RemoteFinding("alpha", "missing", "manifest not found")])
    assert check_json(result)["problems"] == [
        {
            "weight": "alpha",
            "kind": "registry-missing",
            "message": "registry: manifest not found",
            "hint": "run 'cogw import alpha'",
        }
    ]
    assert verdict(result).endswith("between cog.yaml, weights.lock and registry")
