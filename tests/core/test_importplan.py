"""Import planning: a Snapshot in, ImportWeight steps with their layer plan out (no I/O)."""

from __future__ import annotations

import dataclasses

from returns.result import Failure

from cogw.core.codec import plan_from_json, plan_to_json
from cogw.core.importplan import ImportStatus, ImportWeight, without_reuse
from cogw.core.packing import LayerPlan, plan_layers
from cogw.core.plan import Operation, make_plan
from cogw.core.render import plan_lines
from cogw.core.savedplan import SavedPlan, decode_saved_plan, encode_saved_plan
from cogw.core.snapshot import Inputs
from tests.core.builders import d, inventory, packed_entry, snapshot, spec

MIB = 1 << 20
ENVELOPE = d("envelope")
ALPHA = spec("alpha")
MOVED = spec("alpha", target="/src/moved")
FILES = [("a.json", 10), ("b.json", 20), ("m.safetensors", 100 * MIB)]
INV = inventory(FILES)
RECORDED = packed_entry(ALPHA, INV)


def import_step(spec_now=MOVED, inv=INV, envelope=ENVELOPE, lock_envelope=None) -> ImportWeight:
    snap = snapshot(
        [spec_now],
        [RECORDED],
        inventories={"alpha": inv},
        envelope=envelope,
        lock_envelope=lock_envelope,
    )
    (step,) = make_plan(snap, Operation.IMPORT).steps
    assert isinstance(step, ImportWeight)
    return step


def recorded_layer(plan: LayerPlan):
    digest = d("layer:" + ",".join(f.path for f in plan.files))
    return next(layer for layer in RECORDED.layers if layer.digest == digest)


def test_a_moved_target_with_the_same_files_reuses_every_recorded_layer():
    step = import_step()
    assert step.status is ImportStatus.CONFIG_CHANGED
    planned = plan_layers(INV.files)
    assert [layer.files for layer in step.layers] == [p.files for p in planned]
    assert [layer.reuse for layer in step.layers] == [recorded_layer(p) for p in planned]
    assert list(step.reused_layers) == list(step.layers) and not step.packed_layers
    assert (step.reused_bytes, step.packed_bytes) == (30 + 100 * MIB, 0)


def test_layers_another_packer_recorded_are_packed_again():
    step = import_step(lock_envelope=d("another envelope"))
    assert list(step.layers) == list(plan_layers(INV.files))
    assert all(layer.reuse is None for layer in step.layers)
    assert (len(step.packed_layers), step.packed_bytes) == (2, 30 + 100 * MIB)


def test_an_unknown_envelope_is_never_a_match():
    step = import_step(envelope="", lock_envelope="")
    assert not step.reused_layers


def test_one_changed_file_packs_every_layer_as_cogs_fast_path_does():
    edited = inventory(FILES, edited=["a.json"])
    step = import_step(spec_now=ALPHA, inv=edited)
    assert step.status is ImportStatus.SOURCE_CHANGED
    assert list(step.layers) == list(plan_layers(edited.files))
    assert not step.reused_layers


def test_a_new_weight_packs_the_layers_plan_layers_groups():
    snap = snapshot([ALPHA], [], inventories={"alpha": INV}, envelope=ENVELOPE)
    (step,) = make_plan(snap, Operation.IMPORT).steps
    assert isinstance(step, ImportWeight) and step.status is ImportStatus.NEW
    assert list(step.layers) == list(plan_layers(INV.files))


def test_without_reuse_keeps_the_grouping_and_drops_every_recorded_layer():
    step = import_step()
    again = without_reuse(step.layers)
    assert [layer.files for layer in again] == [layer.files for layer in step.layers]
    assert all(layer.reuse is None for layer in again)


def test_plan_text_counts_reused_and_packed_layers_with_their_bytes():
    snap = snapshot([MOVED], [RECORDED], inventories={"alpha": INV}, envelope=ENVELOPE)
    lines = plan_lines(make_plan(snap, Operation.IMPORT))
    assert "    layers: 2 reused (100.0MB), 0 packed and pushed (0B)" in lines
    fresh = snapshot([ALPHA], [], inventories={"alpha": INV}, envelope=ENVELOPE)
    assert "    layers: 0 reused (0B), 2 packed and pushed (100.0MB)" in plan_lines(
        make_plan(fresh, Operation.IMPORT)
    )


def test_plan_json_carries_the_layer_plan_and_its_counts_and_reads_back():
    snap = snapshot([MOVED], [RECORDED], inventories={"alpha": INV}, envelope=ENVELOPE)
    plan = make_plan(snap, Operation.IMPORT)
    (value,) = plan_to_json(plan)["steps"]
    assert [layer["files"] for layer in value["layers"]] == [
        ["a.json", "b.json"],
        ["m.safetensors"],
    ]
    assert value["layers"][1]["gzipLevel"] is None
    assert value["layers"][1]["reuse"]["digest"] == d("layer:m.safetensors")
    assert (value["reusedLayers"], value["reusedBytes"]) == (2, 30 + 100 * MIB)
    assert (value["packedLayers"], value["packedBytes"]) == (0, 0)
    assert plan_from_json(plan_to_json(plan)) == plan


def test_a_saved_plan_whose_layers_do_not_hold_every_file_once_is_refused():
    snap = snapshot([MOVED], [RECORDED], inventories={"alpha": INV}, envelope=ENVELOPE)
    plan = make_plan(snap, Operation.IMPORT)
    (step,) = plan.steps
    assert isinstance(step, ImportWeight)
    short = dataclasses.replace(step, layers=step.layers[:1])
    bad = dataclasses.replace(plan, steps=plan.steps.set(0, short))
    encoded = encode_saved_plan(SavedPlan("0.1.0", Inputs("", ""), bad, {}))
    decoded = decode_saved_plan(encoded, "p.json")
    assert isinstance(decoded, Failure)
    assert "every file exactly once" in decoded.failure()[0].detail
