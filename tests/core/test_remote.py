"""The registry's answers (RemoteCheck) and what they decide: status --remote and re-pushes."""

from __future__ import annotations

from dataclasses import replace

from pyrsistent import pmap, pvector

from cogw.core.lock.lockfile import MEDIA_TYPE_TAR, MEDIA_TYPE_TAR_GZIP, LockSource
from cogw.core.plan.codec import plan_from_json, plan_to_json
from cogw.core.plan.planner import ImportWeight, Operation, make_plan
from cogw.core.plan.remote import RemoteState, remote_state, rows_to_check, with_remote
from cogw.core.plan.remotecheck import RemoteCheck, check_from, probe_for
from cogw.core.plan.remoteview import remote_status_json, remote_status_lines
from cogw.core.plan.render import plan_lines, plan_summary
from cogw.core.plan.repush import Origin, RepushWeight, repush_weight
from cogw.core.plan.savedplan import SavedPlan, decode_saved_plan, encode_saved_plan
from cogw.core.plan.status import WeightStatus, make_status
from tests.core.builders import inventory, packed_entry, snapshot, spec

MIB = 1 << 20
ALPHA = spec("alpha")
FILES = [("a.json", 100), ("b.txt", 200), ("model.safetensors", 70 * MIB)]
INV = inventory(FILES)
ENTRY = packed_entry(ALPHA, INV)
SMALL, LARGE = ENTRY.layers  # the bundle of small files, the large file's own layer


def _check(lost: set[str] = frozenset(), error: str = "") -> RemoteCheck:
    """The registry's answer for ENTRY: every blob present except those in ``lost``."""
    probe = probe_for(ENTRY)
    digests = [probe.manifest[0], *(d for d, _ in probe.layers)]
    return check_from(probe, {d: d not in lost for d in digests}, error)


def _import_snapshot(check: RemoteCheck | None, present=None, inventories=None):
    snap = snapshot(
        [ALPHA],
        [ENTRY],
        present=present if present is not None else [f.digest for f in INV.files],
        inventories=inventories if inventories is not None else {"alpha": INV},
    )
    return replace(snap, remote=pmap({"alpha": check} if check is not None else {}))


def test_the_probe_asks_for_the_manifest_and_every_layer():
    probe = probe_for(ENTRY)
    assert probe.manifest == (ENTRY.digest, 0)
    assert probe.layers == ((SMALL.digest, SMALL.size), (LARGE.digest, LARGE.size))


def test_all_present_is_ready_and_any_lost_blob_is_incomplete():
    assert remote_state(_check()) is RemoteState.READY
    assert remote_state(_check({LARGE.digest})) is RemoteState.INCOMPLETE
    # Cog asks only about layers; a lost manifest breaks a pull just as well.
    assert remote_state(_check({ENTRY.digest})) is RemoteState.INCOMPLETE


def test_a_registry_error_is_soft_incomplete_with_nothing_known_present():
    check = _check(error="cannot reach r.example")
    assert remote_state(check) is RemoteState.INCOMPLETE
    assert not any(layer.present for layer in check.layers)


def test_status_folds_the_registry_in_only_where_config_and_lock_agree():
    snap = _import_snapshot(None)
    rows = list(make_status(snap))
    assert [r.status for r in rows] == [WeightStatus.READY]
    assert [e.name for e in rows_to_check(rows)] == ["alpha"]
    folded = with_remote(rows, {"alpha": _check({ENTRY.digest, LARGE.digest})})
    assert folded[0].status is WeightStatus.INCOMPLETE
    assert folded[0].next_command == "cogw import"
    assert folded[0].details.startswith("registry lost manifest, 1 layer")
    assert with_remote(rows, {"alpha": _check()}) == rows
    stale = [replace(rows[0], status=WeightStatus.STALE)]
    assert with_remote(stale, {"alpha": _check({LARGE.digest})}) == stale


def test_missing_files_stay_missing_files_when_the_registry_is_complete():
    rows = list(make_status(_import_snapshot(None, present=[])))
    assert rows[0].status is WeightStatus.MISSING_FILES
    assert with_remote(rows, {"alpha": _check()})[0].status is WeightStatus.MISSING_FILES
    lost = with_remote(rows, {"alpha": _check({SMALL.digest})})[0]
    assert (lost.status, lost.missing_files) == (WeightStatus.INCOMPLETE, 0)


def test_status_json_and_verbose_text_carry_each_layer():
    checks = {"alpha": _check({LARGE.digest})}
    rows = with_remote(make_status(_import_snapshot(None)), checks)
    (item,) = remote_status_json(rows, checks)["weights"]
    assert item["status"] == "incomplete"
    assert item["registry"] == "incomplete"
    assert item["manifest"] == {"digest": ENTRY.digest, "status": "ready", "present": True}
    assert [(x["digest"], x["size"], x["present"]) for x in item["layers"]] == [
        (SMALL.digest, SMALL.size, True),
        (LARGE.digest, LARGE.size, False),
    ]
    text = remote_status_lines(rows, checks, "r.example/acme", verbose=True)
    assert "registry r.example/acme:" in text
    assert any("└─ layer" in line and "missing" in line for line in text)
    assert "registry r.example/acme:" not in remote_status_lines(rows, checks, "r", False)


def test_an_unchanged_weight_whose_manifest_was_lost_is_pushed_again_without_layers():
    plan = make_plan(_import_snapshot(_check({ENTRY.digest})), Operation.IMPORT)
    (step,) = plan.steps
    assert isinstance(step, RepushWeight)
    assert (step.push_manifest, step.layers, step.lost) == (True, pvector(), "manifest")
    assert "alpha: unchanged" not in plan.notes
    assert plan.applyable
    assert "  ^ repush alpha → /src/weights/alpha (registry lost manifest)" in plan_lines(plan)
    assert plan_summary(plan) == "Plan: 1 weight to repush."


def test_a_lost_layer_is_packed_again_from_the_store_with_its_recorded_plan():
    plan = make_plan(_import_snapshot(_check({SMALL.digest})), Operation.IMPORT)
    (step,) = plan.steps
    assert not step.push_manifest
    (layer,) = step.layers
    assert layer.layer == SMALL
    assert [f.path for f in layer.files] == ["a.json", "b.txt"]
    assert (layer.gzip_level, layer.origin) == (9, Origin.STORE)
    assert layer.plan.reuse == SMALL and layer.plan.media_type == MEDIA_TYPE_TAR_GZIP
    assert step.uri == ""


def test_files_the_store_lacks_come_from_the_source_while_it_still_matches():
    plan = make_plan(_import_snapshot(_check({LARGE.digest}), present=[]), Operation.IMPORT)
    (step,) = plan.steps
    (layer,) = step.layers
    assert (layer.origin, layer.gzip_level, layer.layer.media_type) == (
        Origin.SOURCE,
        None,
        MEDIA_TYPE_TAR,
    )
    assert (step.uri, step.fingerprint) == (ALPHA.uri, INV.fingerprint)
    assert any("from the source file://./weights/alpha" in line for line in plan_lines(plan))


def test_a_lost_layer_nothing_can_give_again_is_a_problem_with_a_hint():
    several = replace(ENTRY, more_sources=pvector([LockSource("file://./more", "sha256:x")]))
    for entry in (ENTRY, several):
        # No inventory, or one that no longer holds the files, and a store without them.
        found = repush_weight(_import_snapshot(None, [], {}), entry, _check({LARGE.digest}), False)
        assert isinstance(found, list)
        (problem,) = found
        assert "cannot push layer" in problem.summary
        assert "the source cannot give them" in problem.summary
        assert "cogw pull --from oci:DIR alpha" in problem.hint


def test_a_complete_registry_or_an_unasked_one_plans_nothing_and_an_error_is_a_note():
    assert make_plan(_import_snapshot(_check()), Operation.IMPORT).steps == pvector()
    assert make_plan(_import_snapshot(None), Operation.IMPORT).notes == pvector(
        ["alpha: unchanged"]
    )
    plan = make_plan(_import_snapshot(_check(error="HTTP 503")), Operation.IMPORT)
    assert plan.steps == pvector()
    assert "alpha: registry not checked (HTTP 503)" in plan.notes


def test_force_pushes_every_layer_and_the_manifest_of_a_complete_weight():
    plan = make_plan(_import_snapshot(_check()), Operation.IMPORT, force=True)
    (step,) = plan.steps
    assert (step.forced, step.push_manifest, step.lost) == (True, True, "")
    assert [layer.layer for layer in step.layers] == [SMALL, LARGE]
    assert "  ^ repush alpha → /src/weights/alpha (--force)" in plan_lines(plan)


def test_a_weight_being_imported_is_not_pushed_again_separately():
    edited = inventory(FILES, edited=["a.json"])
    snap = _import_snapshot(_check({ENTRY.digest}), inventories={"alpha": edited})
    plan = make_plan(snap, Operation.IMPORT, force=True)
    assert [type(s) for s in plan.steps] == [ImportWeight]


def test_repush_steps_round_trip_through_json_and_saved_plans():
    plan = make_plan(_import_snapshot(_check({ENTRY.digest, LARGE.digest}), present=[]), "import")
    assert plan_from_json(plan_to_json(plan)) == plan
    snap = _import_snapshot(None)
    data = encode_saved_plan(SavedPlan("0.1.0", snap.inputs, plan, {}))
    assert decode_saved_plan(data, "p.plan").unwrap().plan == plan


def test_the_gate_fails_on_what_the_registry_lost_and_on_a_registry_it_cannot_ask() -> None:
    from cogw.core.plan.check import check_project, remote_finding, verdict

    assert remote_finding(_check()) is None
    lost = remote_finding(_check({LARGE.digest}))
    assert lost is not None and (lost.weight, lost.kind) == ("alpha", "incomplete")
    unreachable = remote_finding(_check(error="connection refused"))
    assert unreachable is not None and unreachable.kind == "unreachable"
    assert "connection refused" in unreachable.detail

    result = check_project([], remote=[lost])
    (problem,) = result.problems
    assert problem.kind == "registry-incomplete"
    assert problem.line().startswith("alpha: registry: registry lost 1 layer")
    assert problem.line().endswith("run 'cogw import alpha'")
    assert verdict(result).endswith("between cog.yaml, weights.lock and registry")
    assert check_project([], remote=[]).ok
