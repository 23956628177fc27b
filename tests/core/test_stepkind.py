"""The step vocabulary table, and results worded from their data."""

from __future__ import annotations

import typing

from pyrsistent import pvector

from cogw.core.diagnostics import Diagnostic
from cogw.core.plan.codec import step_from_json, step_to_json
from cogw.core.plan.outcome import (
    Aborted,
    AlreadyAbsent,
    Mounted,
    Outcome,
    Pushed,
    StepResult,
    StepStatus,
    Stored,
    mounts,
)
from cogw.core.plan.planner import LinkWeight, Operation, PruneLockEntry, Step, make_plan
from cogw.core.plan.render import outcome_json, outcome_lines, plan_lines, result_detail
from cogw.core.plan.stepkind import STEP_KINDS, STEP_TYPES_BY_ACTION, kind_of, types_in_order
from tests.core.builders import entry, snapshot, spec

ALPHA = spec("alpha")
ENTRY = entry(ALPHA, {"L1": [("a.json", 1536)]})


def test_every_step_type_has_exactly_one_kind_with_its_own_action_and_marker():
    assert set(STEP_KINDS) == set(typing.get_args(Step))
    kinds = list(STEP_KINDS.values())
    for attribute in ("action", "done", "marker", "order"):
        values = [getattr(k, attribute) for k in kinds]
        assert len(set(values)) == len(values), attribute
    assert {a: t.__name__ for a, t in STEP_TYPES_BY_ACTION.items()} == {
        "import": "ImportWeight",
        "repush": "RepushWeight",
        "prune": "PruneLockEntry",
        "fetch": "FetchLayer",
        "link": "LinkWeight",
    }


def test_execution_order_is_import_repush_prune_fetch_link():
    order = [STEP_KINDS[t].action for t in types_in_order()]
    assert order == ["import", "repush", "prune", "fetch", "link"]


def test_a_step_line_and_its_json_take_action_and_marker_from_the_table():
    plan = make_plan(snapshot([], [ENTRY]), Operation.PRUNE)
    (step,) = plan.steps
    assert kind_of(step).marker == "-"
    assert "  - prune alpha from weights.lock (removed from cog.yaml)" in plan_lines(plan)
    assert step_to_json(step)["action"] == "prune"
    assert step_from_json(step_to_json(step)) == step


def _result(data, status=StepStatus.DONE):
    return StepResult(PruneLockEntry("alpha", "/src/weights/alpha"), status, data)


def test_result_data_is_worded_by_render():
    assert result_detail(Pushed("r.example/acme@sha256:ab", 3, 1536)) == (
        "r.example/acme@sha256:ab (3 layer(s), 1.5KB)"
    )
    assert result_detail(Stored(1, 2048)) == "stored 1 file (2.0KB)"
    assert result_detail(Stored(3, 0)) == "stored 3 files (0B)"
    assert result_detail(Mounted("/p/.cog/mounts/x/alpha", "/src", 2)) == (
        "2 files in /p/.cog/mounts/x/alpha"
    )
    assert result_detail(AlreadyAbsent()) == "already absent"
    assert result_detail(Aborted(True)) == "prepare aborted; mount removed"
    assert result_detail(Aborted(False)) == "prepare aborted"
    assert result_detail(None) == ""


def test_outcome_lines_and_json_carry_the_worded_detail():
    plan = make_plan(snapshot([], [ENTRY]), Operation.PRUNE)
    skipped = StepResult(plan.steps[0], StepStatus.SKIPPED, AlreadyAbsent())
    outcome = Outcome(plan, pvector([skipped]))
    assert outcome_lines(outcome)[0] == (
        "  · prune alpha from weights.lock (removed from cog.yaml): skipped (already absent)"
    )
    assert outcome_json(outcome)["results"][0]["detail"] == "already absent"


def test_a_failure_with_a_diagnostic_words_no_detail_but_an_aborted_link_does():
    link = LinkWeight("alpha", "/src", pvector())
    failed = StepResult(link, StepStatus.FAILED, diagnostic=Diagnostic("boom"))
    aborted = StepResult(link, StepStatus.FAILED, Aborted(False))
    plan = make_plan(snapshot([], None), Operation.PREPARE)
    lines = outcome_lines(Outcome(plan, pvector([failed, aborted])))
    assert lines[:2] == [
        "  ✗ link alpha → /src (0 files): failed",
        "  ✗ link alpha → /src (0 files): failed: prepare aborted",
    ]


def test_mounts_are_the_done_links_data_in_order():
    a, b = Mounted("/m/x/a", "/a", 1), Mounted("/m/x/b", "/b", 2)
    results = [
        _result(a),
        _result(Aborted(True), StepStatus.FAILED),
        _result(AlreadyAbsent(), StepStatus.SKIPPED),
        _result(b),
    ]
    assert mounts(results) == [a, b]
