"""Plans and steps to and from JSON-ready values.

One codec serves both `--json` output and saved plan files, so what a user
reads in `cogw plan --json` is exactly what `cogw apply --plan` will run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyrsistent import pvector

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.artifact.packing import LayerPlan
from cogw.core.config.weights import SourceSpec, WeightSpec
from cogw.core.diagnostics import Diagnostic
from cogw.core.lock.lockfile import LockFile, LockLayer, file_json, layer_json
from cogw.core.plan.planner import (
    FetchLayer,
    ImportStatus,
    ImportWeight,
    LinkWeight,
    Operation,
    Plan,
    PruneLockEntry,
    RepushWeight,
    Step,
)
from cogw.core.plan.repushcodec import repush_from_json, repush_to_json
from cogw.core.plan.sourcediff import diff_from_json, diff_json
from cogw.core.plan.stepkind import STEP_TYPES_BY_ACTION, kind_of

Json = dict[str, Any]


def _spec_json(spec: WeightSpec) -> Json:
    return {
        "name": spec.name,
        "target": spec.target,
        "uri": spec.uri,
        "include": list(spec.include),
        "exclude": list(spec.exclude),
        "moreSources": [
            {"uri": m.uri, "include": list(m.include), "exclude": list(m.exclude)}
            for m in spec.more_sources
        ],
    }


def _layer_plan_json(layer: LayerPlan) -> Json:
    """A planned layer names its files by path (the step lists each file once)."""
    return {
        "mediaType": layer.media_type,
        "gzipLevel": layer.gzip_level,
        "files": [f.path for f in layer.files],
        "reuse": layer_json(layer.reuse) if layer.reuse is not None else None,
    }


def _layer_counts_json(step: ImportWeight) -> Json:
    return {
        "reusedLayers": len(step.reused_layers),
        "reusedBytes": step.reused_bytes,
        "packedLayers": len(step.packed_layers),
        "packedBytes": step.packed_bytes,
    }


def _fetch_json(step: FetchLayer) -> Json:
    return {
        "manifest": step.manifest,
        "layer": layer_json(step.layer),
        "missing": list(step.missing),
        "missingBytes": step.missing_bytes,
        "files": [file_json(f) for f in step.files],
    }


def _link_json(step: LinkWeight) -> Json:
    return {"target": step.target, "files": [file_json(f) for f in step.files]}


def _prune_json(step: PruneLockEntry) -> Json:
    return {"target": step.target}


def _import_json(step: ImportWeight) -> Json:
    return {
        "status": step.status.value,
        "changes": list(step.changes),
        "fingerprint": step.fingerprint,
        "spec": _spec_json(step.spec),
        "added": step.added,
        "removed": step.removed,
        "changed": step.changed,
        "totalBytes": step.total_bytes,
        "bytesToIngest": step.bytes_to_ingest,
        "fileChanges": diff_json(step.file_changes, shorten=False),
        "files": [{"path": f.path, "size": f.size, "digest": f.digest} for f in step.files],
        "layers": [_layer_plan_json(layer) for layer in step.layers],
        **_layer_counts_json(step),
        "moreFingerprints": list(step.more_fingerprints),
        "owners": list(step.owners),
        "sourceCounts": list(step.source_counts),
        "overrides": list(step.overrides),
    }


# Each step type's own fields; "action" and "weight" come first for every step.
_ENCODERS: dict[type, Callable[[Any], Json]] = {
    FetchLayer: _fetch_json,
    LinkWeight: _link_json,
    PruneLockEntry: _prune_json,
    ImportWeight: _import_json,
    RepushWeight: repush_to_json,
}


def step_to_json(step: Step) -> Json:
    return {"action": kind_of(step).action, "weight": step.weight, **_ENCODERS[type(step)](step)}


def diagnostic_from_json(d: Json) -> Diagnostic:
    return Diagnostic(d["summary"], d.get("detail", ""), d.get("subject", ""), d.get("hint", ""))


def plan_to_json(plan: Plan) -> Json:
    return {
        "operation": plan.operation.value,
        "names": list(plan.names),
        "repository": plan.repository,
        "steps": [step_to_json(s) for s in plan.steps],
        "notes": list(plan.notes),
        "problems": [p.to_json() for p in plan.problems],
    }


def _lock_file(d: Json) -> LockFile:
    return LockFile(str(d["path"]), int(d["size"]), str(d["digest"]), str(d["layer"]))


def _lock_layer(d: Json) -> LockLayer:
    return LockLayer(
        str(d["digest"]), str(d["mediaType"]), int(d["size"]), int(d["sizeUncompressed"])
    )


def _spec(d: Json) -> WeightSpec:
    return WeightSpec(
        str(d["name"]),
        str(d["target"]),
        str(d["uri"]),
        pvector(d["include"]),
        pvector(d["exclude"]),
        pvector(
            SourceSpec(str(m["uri"]), pvector(m["include"]), pvector(m["exclude"]))
            for m in d.get("moreSources", [])
        ),
    )


def _layer_plan(d: Json, files: dict[str, InventoryFile]) -> LayerPlan:
    level = d["gzipLevel"]
    return LayerPlan(
        pvector(files[str(p)] for p in d["files"]),
        str(d["mediaType"]),
        None if level is None else int(level),
        None if d["reuse"] is None else _lock_layer(d["reuse"]),
    )


def _import_weight(d: Json) -> ImportWeight:
    inv = [InventoryFile(str(f["path"]), int(f["size"]), str(f["digest"])) for f in d["files"]]
    by_path = {f.path: f for f in inv}
    in_layers = [str(p) for layer in d["layers"] for p in layer["files"]]
    if sorted(in_layers) != sorted(by_path) or len(by_path) != len(inv):
        raise ValueError(f"weight {d['weight']!r}: layers must hold every file exactly once")
    spec = _spec(d["spec"])
    owners = [int(o) for o in d.get("owners", [])]
    more = [str(f) for f in d.get("moreFingerprints", [])]
    if len(more) != len(spec.more_sources) or (
        (owners or spec.more_sources)
        and (len(owners) != len(inv) or not all(0 <= o < len(spec.sources) for o in owners))
    ):
        raise ValueError(f"weight {d['weight']!r}: sources, fingerprints and owners disagree")
    return ImportWeight(
        weight=d["weight"],
        spec=spec,
        status=ImportStatus(d["status"]),
        changes=pvector(d["changes"]),
        fingerprint=d["fingerprint"],
        files=pvector(inv),
        layers=pvector(_layer_plan(layer, by_path) for layer in d["layers"]),
        added=int(d["added"]),
        removed=int(d["removed"]),
        changed=int(d["changed"]),
        bytes_to_ingest=int(d["bytesToIngest"]),
        file_changes=diff_from_json(d.get("fileChanges")),
        more_fingerprints=pvector(more),
        owners=pvector(owners),
        source_counts=pvector(str(n) for n in d.get("sourceCounts", [])),
        overrides=pvector(str(n) for n in d.get("overrides", [])),
    )


def _fetch_from_json(d: Json) -> FetchLayer:
    return FetchLayer(
        d["weight"],
        d["manifest"],
        _lock_layer(d["layer"]),
        pvector(_lock_file(f) for f in d.get("files", [])),
        pvector(d["missing"]),
    )


def _link_from_json(d: Json) -> LinkWeight:
    return LinkWeight(d["weight"], d["target"], pvector(_lock_file(f) for f in d.get("files", [])))


def _prune_from_json(d: Json) -> PruneLockEntry:
    return PruneLockEntry(d["weight"], d["target"])


_DECODERS: dict[type, Callable[[Json], Step]] = {
    FetchLayer: _fetch_from_json,
    LinkWeight: _link_from_json,
    PruneLockEntry: _prune_from_json,
    ImportWeight: _import_weight,
    RepushWeight: repush_from_json,
}


def step_from_json(d: Json) -> Step:
    """Inverse of step_to_json; raises KeyError/ValueError/TypeError on malformed input."""
    action = d["action"]
    step_type = STEP_TYPES_BY_ACTION.get(action)
    if step_type is None:
        raise ValueError(f"unknown step action {action!r}")
    return _DECODERS[step_type](d)


def plan_from_json(d: Json) -> Plan:
    return Plan(
        Operation(d["operation"]),
        pvector(d["names"]),
        d["repository"],
        pvector(step_from_json(s) for s in d["steps"]),
        pvector(d["notes"]),
        tuple(diagnostic_from_json(p) for p in d["problems"]),
    )
