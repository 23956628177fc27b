"""Plans and steps to and from JSON-ready values.

One codec serves both `--json` output and saved plan files, so what a user
reads in `cogw plan --json` is exactly what `cogw apply --plan` will run.
"""

from __future__ import annotations

from typing import Any

from pyrsistent import pvector

from cogw.core.config import WeightSpec
from cogw.core.diagnostics import Diagnostic
from cogw.core.inventory import InventoryFile
from cogw.core.lockfile import LockFile, LockLayer, file_json, layer_json
from cogw.core.plan import (
    FetchLayer,
    ImportStatus,
    ImportWeight,
    LinkWeight,
    Operation,
    Plan,
    PruneLockEntry,
    Step,
)

Json = dict[str, Any]


def _spec_json(spec: WeightSpec) -> Json:
    return {
        "name": spec.name,
        "target": spec.target,
        "uri": spec.uri,
        "include": list(spec.include),
        "exclude": list(spec.exclude),
    }


def step_to_json(step: Step) -> Json:
    if isinstance(step, FetchLayer):
        return {
            "action": "fetch",
            "weight": step.weight,
            "manifest": step.manifest,
            "layer": layer_json(step.layer),
            "missing": list(step.missing),
            "missingBytes": step.missing_bytes,
            "files": [file_json(f) for f in step.files],
        }
    if isinstance(step, LinkWeight):
        return {
            "action": "link",
            "weight": step.weight,
            "target": step.target,
            "files": [file_json(f) for f in step.files],
        }
    if isinstance(step, PruneLockEntry):
        return {"action": "prune", "weight": step.weight, "target": step.target}
    return {
        "action": "import",
        "weight": step.weight,
        "status": step.status.value,
        "changes": list(step.changes),
        "fingerprint": step.fingerprint,
        "spec": _spec_json(step.spec),
        "added": step.added,
        "removed": step.removed,
        "changed": step.changed,
        "totalBytes": step.total_bytes,
        "bytesToIngest": step.bytes_to_ingest,
        "files": [{"path": f.path, "size": f.size, "digest": f.digest} for f in step.files],
    }


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
    )


def step_from_json(d: Json) -> Step:
    """Inverse of step_to_json; raises KeyError/ValueError/TypeError on malformed input."""
    action = d["action"]
    files = [_lock_file(f) for f in d.get("files", [])] if action != "import" else []
    if action == "fetch":
        return FetchLayer(
            d["weight"],
            d["manifest"],
            _lock_layer(d["layer"]),
            pvector(files),
            pvector(d["missing"]),
        )
    if action == "link":
        return LinkWeight(d["weight"], d["target"], pvector(files))
    if action == "prune":
        return PruneLockEntry(d["weight"], d["target"])
    if action == "import":
        inv = [InventoryFile(str(f["path"]), int(f["size"]), str(f["digest"])) for f in d["files"]]
        return ImportWeight(
            d["weight"],
            _spec(d["spec"]),
            ImportStatus(d["status"]),
            pvector(d["changes"]),
            d["fingerprint"],
            pvector(inv),
            int(d["added"]),
            int(d["removed"]),
            int(d["changed"]),
            int(d["bytesToIngest"]),
        )
    raise ValueError(f"unknown step action {action!r}")


def plan_from_json(d: Json) -> Plan:
    return Plan(
        Operation(d["operation"]),
        pvector(d["names"]),
        d["repository"],
        pvector(step_from_json(s) for s in d["steps"]),
        pvector(d["notes"]),
        tuple(diagnostic_from_json(p) for p in d["problems"]),
    )
