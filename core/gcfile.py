"""gc plans as text, as JSON and as saved plan files (``cogw plan gc --out FILE``).

A saved gc plan is its own format, ``cogw-gc-plan/1``, separate from the
project plans of ``core/savedplan.py``: its inputs are the cache's roots (every
known project's weights.lock digest and mount ids), not one project's files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from returns.result import Failure, Result, Success

from cogw.core.cachesnap import TempFile
from cogw.core.diagnostics import Diagnostic
from cogw.core.gc import Deletion, GcOptions, GcPlan, RootEntry, changed_roots
from cogw.core.render import format_size, plural

FORMAT = "cogw-gc-plan/1"


@dataclass(frozen=True, slots=True)
class SavedGcPlan:
    version: str
    options: GcOptions
    extra_projects: tuple[str, ...]
    plan: GcPlan


def gc_plan_json(plan: GcPlan) -> dict[str, Any]:
    return {
        "delete": [{"digest": d.digest, "size": d.size} for d in plan.delete],
        "temps": [{"path": t.path, "size": t.size, "modified": t.modified_ns} for t in plan.temps],
        "mounts": list(plan.mounts),
        "dropProjects": list(plan.drop_projects),
        "bytesFreed": plan.bytes_freed,
        "keptLinked": plan.kept_linked,
        "keptRecent": plan.kept_recent,
        "notes": list(plan.notes),
        "problems": [p.to_json() for p in plan.problems],
    }


def gc_plan_lines(plan: GcPlan, done: bool = False) -> list[str]:
    verb = "deleted" if done else "delete"
    lines = [f"  - {verb} {d.digest} ({format_size(d.size)})" for d in plan.delete]
    lines += [f"  - {verb} temp file {t.path} ({format_size(t.size)})" for t in plan.temps]
    lines += [f"  - {verb} mount {m} (its project is gone)" for m in plan.mounts]
    lines += [f"  · {n}" for n in plan.notes]
    kept = []
    if plan.kept_linked:
        kept.append(f"{plural(plan.kept_linked, 'unreferenced blob')} still linked elsewhere")
    if plan.kept_recent:
        kept.append(f"{plural(plan.kept_recent, 'unreferenced blob')} used recently")
    if kept:
        lines.append(f"  · kept: {'; '.join(kept)}")
    freed = format_size(plan.bytes_freed)
    if plan.is_empty:
        lines.append("Nothing to collect.")
    else:
        head = "Freed" if done else "Would free"
        lines.append(
            f"{head} {freed}: {plural(len(plan.delete), 'blob')}, "
            f"{plural(len(plan.temps), 'temp file')}, {plural(len(plan.mounts), 'mount')}."
        )
    return lines


def encode_saved_gc_plan(saved: SavedGcPlan) -> bytes:
    value = {
        "format": FORMAT,
        "cogwVersion": saved.version,
        "inputs": {
            "roots": [
                {"project": r.project, "state": r.state, "lock": r.lock, "mounts": list(r.mounts)}
                for r in saved.plan.roots
            ]
        },
        "options": {
            "keepWithinNs": saved.options.keep_within_ns,
            "weights": list(saved.options.weights),
            "projects": list(saved.extra_projects),
        },
        "plan": gc_plan_json(saved.plan),
    }
    return orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n"


def is_gc_plan(data: bytes) -> bool:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return isinstance(value, dict) and value.get("format") == FORMAT


def decode_saved_gc_plan(data: bytes, filename: str) -> Result[SavedGcPlan, Diagnostic]:
    try:
        value = orjson.loads(data)
        assert value["format"] == FORMAT
        roots = tuple(
            RootEntry(r["project"], r["state"], r["lock"], tuple(r["mounts"]))
            for r in value["inputs"]["roots"]
        )
        options = value["options"]
        body = value["plan"]
        plan = GcPlan(
            roots,
            delete=tuple(Deletion(d["digest"], int(d["size"])) for d in body["delete"]),
            temps=tuple(
                TempFile(t["path"], int(t["size"]), int(t["modified"])) for t in body["temps"]
            ),
            mounts=tuple(body["mounts"]),
            drop_projects=tuple(body["dropProjects"]),
        )
        return Success(
            SavedGcPlan(
                value["cogwVersion"],
                GcOptions(int(options["keepWithinNs"]), tuple(options["weights"])),
                tuple(options["projects"]),
                plan,
            )
        )
    except (orjson.JSONDecodeError, AssertionError, KeyError, TypeError, ValueError) as exc:
        return Failure(Diagnostic("not a cogw gc plan file", detail=str(exc), subject=filename))


def check_saved_gc_plan(
    saved: SavedGcPlan, current: tuple[RootEntry, ...], version: str, filename: str
) -> Result[GcPlan, Diagnostic]:
    """The saved plan, or a refusal naming every root that changed since it was made."""
    reasons = changed_roots(saved.plan.roots, current)
    if saved.version != version:
        reasons.append(f"cogw version changed ({saved.version} → {version})")
    if reasons:
        return Failure(
            Diagnostic(
                "Saved plan is stale",
                detail="\n".join(reasons),
                subject=filename,
                hint=f"run 'cogw plan gc --out {filename}' again, review it, then apply it",
            )
        )
    return Success(saved.plan)
