"""Saved plans (`cogw plan --out FILE`) and the staleness check before applying one.

A saved plan records the digests of its inputs (weights.lock bytes, the
normalised cog.yaml weights, the source fingerprints an import relied on) and
the cogw version. Applying it to different inputs could write a lockfile
nobody reviewed, so `cogw apply --plan FILE` refuses, in Terraform's words,
and says which input changed and what to run. Store contents are not inputs:
every step is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pyrsistent import pmap
from returns.result import Failure, Result, Success

from cogw.core.diagnostics import Diagnostic, Problems
from cogw.core.plan.codec import plan_from_json, plan_to_json
from cogw.core.plan.planner import Plan
from cogw.core.plan.snapshot import Inputs

FORMAT = "cogw-plan/1"


@dataclass(frozen=True, slots=True)
class SavedPlan:
    version: str
    inputs: Inputs
    plan: Plan
    options: dict[str, Any]  # operation flags that shape execution (e.g. prepare --pull)


def encode_saved_plan(saved: SavedPlan) -> bytes:
    value = {
        "format": FORMAT,
        "cogwVersion": saved.version,
        "inputs": {
            "lockfile": saved.inputs.lockfile,
            "config": saved.inputs.config,
            "sources": dict(sorted(saved.inputs.sources.items())),
        },
        "options": saved.options,
        "plan": plan_to_json(saved.plan),
    }
    return orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n"


def decode_saved_plan(data: bytes, filename: str) -> Result[SavedPlan, Problems]:
    def bad(detail: str) -> Result[SavedPlan, Problems]:
        return Failure(
            (
                Diagnostic(
                    "not a cogw plan file", detail, filename, "make one with 'cogw plan --out FILE'"
                ),
            )
        )

    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return bad(f"invalid JSON: {exc}")
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        return bad(f'expected "format": "{FORMAT}"')
    try:
        inputs = value["inputs"]
        saved = SavedPlan(
            str(value["cogwVersion"]),
            Inputs(str(inputs["lockfile"]), str(inputs["config"]), pmap(inputs["sources"])),
            plan_from_json(value["plan"]),
            dict(value.get("options", {})),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return bad(f"malformed plan: {exc!r}")
    return Success(saved)


def _changed_inputs(saved: Inputs, current: Inputs, config_name: str) -> list[str]:
    changed = []
    if saved.lockfile != current.lockfile:
        changed.append("weights.lock changed since the plan was made")
    if saved.config != current.config:
        changed.append(f"the weights in {config_name} changed since the plan was made")
    for name, fingerprint in sorted(saved.sources.items()):
        now = current.sources.get(name, "")
        if now != fingerprint:
            changed.append(
                f'the source of weight "{name}" changed ({fingerprint} → {now or "unreadable"})'
            )
    return changed


def check_saved_plan(
    saved: SavedPlan, current: Inputs, version: str, config_name: str, filename: str
) -> Result[Plan, Problems]:
    """The saved plan, if it was made by this cogw from the inputs as they are now."""
    reasons = _changed_inputs(saved.inputs, current, config_name)
    if saved.version != version:
        reasons.append(f"it was made by cogw {saved.version}; this is cogw {version}")
    if not reasons:
        return Success(saved.plan)
    op = saved.plan.operation.value
    names = " ".join(saved.plan.names)
    command = f"cogw plan {op}{' ' + names if names else ''} --out {filename}"
    return Failure(
        (
            Diagnostic(
                "Saved plan is stale",
                "\n".join(reasons),
                filename,
                f"run '{command}' again, review it, then apply it",
            ),
        )
    )
