"""Saved plans survive the file round trip, and stale ones are refused with the reason."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pmap, pvector
from returns.result import Failure, Success

from cogw.core.codec import plan_from_json, plan_to_json
from cogw.core.plan import Operation, Plan, make_plan
from cogw.core.savedplan import SavedPlan, check_saved_plan, decode_saved_plan, encode_saved_plan
from cogw.core.snapshot import Inputs
from tests.core.builders import d, entry, inventory, packed_entry, snapshot, spec
from tests.strategies import import_weights

ALPHA_FILES_FOR_TESTS = [("a.json", 10), ("m.bin", 99), ("z.bin", 5)]

ALPHA = spec("alpha")
BETA = spec("beta", include=["*.bin"])
ENTRY = entry(ALPHA, {"L1": [("a.json", 10)], "L2": [("m.bin", 99)]})
INPUTS = Inputs(d("lock"), d("config"), pmap({"alpha": "sha256:fp"}))


def plans():
    snap = snapshot(
        [ALPHA, BETA],
        [ENTRY],
        present=[d("a.json")],
        inventories={
            "alpha": inventory([("a.json", 10), ("m.bin", 99)]),
            "beta": inventory(ALPHA_FILES_FOR_TESTS),
        },
    )
    # Gamma moved its target: its import reuses the layers this packer recorded.
    gamma_files = inventory([("g.json", 3), ("g.bin", 70 << 20)])
    reusing = snapshot(
        [spec("gamma", target="/src/moved")],
        [packed_entry(spec("gamma"), gamma_files)],
        inventories={"gamma": gamma_files},
        envelope=d("envelope"),
    )
    return st.sampled_from(
        [
            make_plan(s, op, pull=pull)
            for s in (snap, reusing)
            for op in Operation
            for pull in (False, True)
        ]
    )


@given(plans())
def test_a_plan_survives_the_json_round_trip(plan):
    assert plan_from_json(plan_to_json(plan)) == plan


@given(plans())
def test_a_plan_survives_the_plan_file_round_trip(plan):
    saved = SavedPlan("0.1.0", INPUTS, plan, {"pull": True})
    decoded = decode_saved_plan(encode_saved_plan(saved), "plan.json")
    assert decoded == Success(saved)


@given(st.lists(import_weights(), max_size=3))
def test_import_steps_with_any_layer_plan_survive_the_plan_file_round_trip(steps):
    plan = Plan(Operation.IMPORT, steps=pvector(steps))
    saved = SavedPlan("0.1.0", INPUTS, plan, {})
    assert plan_from_json(plan_to_json(plan)) == plan
    assert decode_saved_plan(encode_saved_plan(saved), "plan.json") == Success(saved)


def test_a_plan_made_from_the_same_inputs_is_accepted():
    plan = make_plan(snapshot([ALPHA], [ENTRY]), Operation.PULL)
    saved = SavedPlan("0.1.0", INPUTS, plan, {})
    assert check_saved_plan(saved, INPUTS, "0.1.0", "cog.yaml", "p.json") == Success(plan)


def stale_reason(current: Inputs, version: str = "0.1.0") -> str:
    plan = make_plan(snapshot([ALPHA], [ENTRY]), Operation.PULL, ["alpha"])
    result = check_saved_plan(
        SavedPlan("0.1.0", INPUTS, plan, {}), current, version, "cog.yaml", "p.json"
    )
    assert isinstance(result, Failure)
    (diag,) = result.failure()
    assert diag.summary == "Saved plan is stale"
    assert diag.hint == "run 'cogw plan pull alpha --out p.json' again, review it, then apply it"
    return diag.detail


def test_a_changed_lockfile_makes_the_plan_stale():
    assert (
        stale_reason(Inputs(d("other"), INPUTS.config, INPUTS.sources))
        == "weights.lock changed since the plan was made"
    )


def test_changed_config_weights_make_the_plan_stale():
    assert "cog.yaml changed" in stale_reason(Inputs(INPUTS.lockfile, d("x"), INPUTS.sources))


def test_a_changed_source_makes_the_plan_stale_and_names_the_weight():
    reason = stale_reason(Inputs(INPUTS.lockfile, INPUTS.config, pmap({"alpha": "sha256:new"})))
    assert reason == 'the source of weight "alpha" changed (sha256:fp → sha256:new)'


def test_another_cogw_version_makes_the_plan_stale():
    assert "made by cogw 0.1.0; this is cogw 9.9" in stale_reason(INPUTS, "9.9")


@given(st.binary(max_size=200))
def test_decoding_arbitrary_bytes_never_raises(data):
    result = decode_saved_plan(data, "p.json")
    assert isinstance(result, Success | Failure)


def test_a_file_that_is_not_a_plan_gets_a_clear_diagnostic():
    result = decode_saved_plan(b'{"format": "something-else"}', "p.json")
    (diag,) = result.failure()
    assert diag.summary == "not a cogw plan file" and diag.subject == "p.json"
