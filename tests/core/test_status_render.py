"""Status rows and the text/JSON renderings users read."""

from __future__ import annotations

import pytest
from pyrsistent import pvector

from cogw.core.plan.outcome import Outcome, StepResult, StepStatus
from cogw.core.plan.planner import Operation, make_plan
from cogw.core.plan.render import (
    format_size,
    outcome_lines,
    plan_lines,
    status_json,
    status_lines,
    tabulate,
)
from cogw.core.plan.status import WeightStatus, all_ready, make_status
from tests.core.builders import d, entry, snapshot, spec

ALPHA = spec("alpha")
ENTRY = entry(ALPHA, {"L1": [("a.json", 1536)]})


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0B"),
        (512, "512B"),
        (1024, "1.0KB"),
        (1536, "1.5KB"),
        (1 << 30, "1.0GB"),
        (5_000_000_000, "4.7GB"),
        (1048575, "1024.0KB"),
    ],
)
def test_format_size_matches_cog(n, text):
    assert format_size(n) == text


def status_of(snap):
    return {r.name: r.status for r in make_status(snap)}


def test_a_weight_with_every_file_cached_is_ready():
    assert status_of(snapshot([ALPHA], [ENTRY], present=[d("a.json")])) == {
        "alpha": WeightStatus.READY
    }


def test_a_weight_missing_files_locally_says_so_and_names_cogw_pull():
    (row,) = make_status(snapshot([ALPHA], [ENTRY]))
    assert row.status is WeightStatus.MISSING_FILES
    assert (row.missing_files, row.missing_bytes, row.next_command) == (1, 1536, "cogw pull")


def test_status_covers_pending_stale_and_orphaned_weights_in_order():
    moved = spec("alpha", target="/elsewhere")
    snap = snapshot([moved, spec("beta")], [ENTRY, entry(spec("gamma"), {"L9": [("g", 1)]})])
    rows = make_status(snap)
    assert [(r.name, r.status.value) for r in rows] == [
        ("alpha", "stale"),
        ("beta", "pending"),
        ("gamma", "orphaned"),
    ]
    assert rows[0].details == "target: /src/weights/alpha → /elsewhere"
    assert not all_ready(rows)


def test_no_weights_at_all_counts_as_ready():
    assert all_ready(make_status(snapshot([], None)))


def test_status_table_is_aligned_like_gos_tabwriter():
    assert tabulate([["NAME", "X"], ["alpha", "y"]]) == ["NAME   X", "alpha  y"]
    lines = status_lines(make_status(snapshot([ALPHA], [ENTRY], present=[d("a.json")])))
    assert lines[0].split() == ["NAME", "TARGET", "STATUS", "SIZE", "FILES", "DIGEST", "NEXT"]
    assert lines[1].split()[:5] == ["alpha", "/src/weights/alpha", "ready", "1.5KB", "1"]


def test_status_json_carries_the_lock_entry_facts():
    (item,) = status_json(make_status(snapshot([ALPHA], [ENTRY])))["weights"]
    assert item["status"] == "missing-files" and item["missingFiles"] == 1
    assert item["digest"] == ENTRY.digest and item["next"] == "cogw pull"


def test_plan_text_says_would_and_apply_text_says_did():
    plan = make_plan(snapshot([ALPHA], [ENTRY]), Operation.PULL)
    text = "\n".join(plan_lines(plan))
    assert "+ fetch alpha layer" in text
    assert text.endswith("Plan: 1 layer to fetch (1.5KB).")
    outcome = Outcome(plan, pvector([StepResult(plan.steps[0], StepStatus.DONE)]))
    assert outcome_lines(outcome)[-1] == "Applied: 1 layer fetched (1.5KB)."


def test_an_empty_plan_says_nothing_to_do():
    plan = make_plan(snapshot([ALPHA], [ENTRY], present=[d("a.json")]), Operation.PULL)
    assert plan_lines(plan)[-1] == "Nothing to do."


def test_a_failed_step_makes_the_outcome_exit_1_and_names_the_weight():
    from cogw.core.diagnostics import Diagnostic

    plan = make_plan(snapshot([ALPHA], [ENTRY]), Operation.PULL)
    outcome = Outcome(
        plan, pvector([StepResult(plan.steps[0], StepStatus.FAILED, diagnostic=Diagnostic("boom"))])
    )
    assert outcome.exit_code == 1
    assert outcome_lines(outcome)[-1] == "Failed: 1 step (alpha); 0 succeeded."


def test_an_outcome_that_did_not_converge_exits_1():
    plan = make_plan(snapshot([ALPHA], [ENTRY]), Operation.PULL)
    done = pvector([StepResult(plan.steps[0], StepStatus.DONE)])
    assert Outcome(plan, done, remaining=plan).exit_code == 1
    assert (
        Outcome(plan, done, remaining=make_plan(snapshot([], None), Operation.PULL)).exit_code == 0
    )


def test_a_plan_with_problems_never_says_nothing_to_do():
    plan = make_plan(snapshot([ALPHA], [ENTRY]), Operation.PULL, ["nope"])
    assert plan_lines(plan)[-1] == "Plan cannot be applied: 1 problem."
    with_steps = make_plan(snapshot([ALPHA], [ENTRY]), Operation.PULL, ["alpha", "nope"])
    assert plan_lines(with_steps)[-1] == (
        "Plan: 1 layer to fetch (1.5KB); cannot be applied: 1 problem."
    )


def test_outcome_json_remaining_is_always_a_plan_object():
    from cogw.core.plan.render import outcome_json

    plan = make_plan(snapshot([ALPHA], [ENTRY]), Operation.PULL)
    done = [StepResult(plan.steps[0], StepStatus.DONE)]
    not_replanned = outcome_json(Outcome(plan, pvector(done)))
    left = make_plan(snapshot([ALPHA], [ENTRY]), Operation.PULL)
    replanned = outcome_json(Outcome(plan, pvector(done), left))
    assert type(not_replanned["remaining"]) is type(replanned["remaining"]) is dict
    assert (
        not_replanned["remaining"]["steps"] == []
        and not_replanned["remaining"]["operation"] == "pull"
    )
    assert len(replanned["remaining"]["steps"]) == 1
