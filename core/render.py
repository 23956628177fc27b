"""Plans, outcomes, statuses and diagnostics as text lines and JSON-ready values.

`cogw plan` says what it *would* do and `cogw apply` what it *did* (Black's
"would reformat" / "reformatted"); both share the step lines so a reviewed plan
reads the same as its result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cogw.core.codec import plan_to_json, step_to_json
from cogw.core.digest import format_digest_short
from cogw.core.outcome import Outcome, StepResult
from cogw.core.plan import FetchLayer, ImportWeight, LinkWeight, Plan, PruneLockEntry, Step
from cogw.core.statusview import format_size as format_size  # re-exported: shared helpers
from cogw.core.statusview import status_json as status_json
from cogw.core.statusview import status_lines as status_lines
from cogw.core.statusview import tabulate as tabulate

MARKERS = {"fetch": "+", "import": "~", "link": "=", "prune": "-"}


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def step_line(step: Step, done: bool = False) -> str:
    if isinstance(step, FetchLayer):
        verb = "fetched" if done else "fetch"
        return (
            f"{verb} {step.weight} layer {format_digest_short(step.layer.digest)} "
            f"({plural(len(step.missing), 'file')}, {format_size(step.missing_bytes)})"
        )
    if isinstance(step, LinkWeight):
        verb = "linked" if done else "link"
        return f"{verb} {step.weight} → {step.target} ({plural(len(step.files), 'file')})"
    if isinstance(step, PruneLockEntry):
        verb = "pruned" if done else "prune"
        return f"{verb} {step.weight} from weights.lock (removed from cog.yaml)"
    verb = "imported" if done else "import"
    return f"{verb} {step.weight} {step.spec.uri} → {step.spec.target} ({step.status.value})"


def _import_details(step: ImportWeight) -> list[str]:
    lines = [f"    changed: {c}" for c in step.changes]
    lines.append(
        f"    files: {len(step.files)} (+{step.added} -{step.removed} ~{step.changed})"
        f"  size: {format_size(step.total_bytes)}"
        f"  to ingest: {format_size(step.bytes_to_ingest)}"
    )
    return lines


def _action(step: Step) -> str:
    return str(step_to_json(step)["action"])


def summary_counts(steps: Sequence[Step]) -> dict[str, int]:
    counts = {"fetch": 0, "import": 0, "link": 0, "prune": 0}
    for s in steps:
        counts[_action(s)] += 1
    return counts


_SUMMARY_WORDS = {
    "fetch": ("layer", "to fetch", "fetched"),
    "import": ("weight", "to import", "imported"),
    "link": ("weight", "to link", "linked"),
    "prune": ("entry", "to prune", "pruned"),
}


def _counted(n: int, noun: str) -> str:
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun[:-1] + 'ies' if noun.endswith('y') else noun + 's'}"


def plan_summary(plan: Plan, done: bool = False) -> str:
    """One line: "Plan: 2 layers to fetch (1.5MB), 1 entry to prune." or "Applied: ..."."""
    counts = summary_counts(plan.steps)
    parts = []
    for key, (noun, todo, did) in _SUMMARY_WORDS.items():
        if counts[key]:
            parts.append(f"{_counted(counts[key], noun)} {did if done else todo}")
    if counts["fetch"]:
        fetch_bytes = sum(s.missing_bytes for s in plan.steps if isinstance(s, FetchLayer))
        parts[0] += f" ({format_size(fetch_bytes)})"
    if not parts:
        return "Nothing to do."
    return ("Applied: " if done else "Plan: ") + ", ".join(parts) + "."


def plan_lines(plan: Plan) -> list[str]:
    """`cogw plan` text: steps with markers, notes, then a one-line summary."""
    lines: list[str] = []
    if plan.steps:
        lines.append(f"cogw would perform these actions ({plan.operation.value}):")
        for step in plan.steps:
            lines.append(f"  {MARKERS[_action(step)]} {step_line(step)}")
            if isinstance(step, ImportWeight):
                lines.extend(_import_details(step))
    lines.extend(f"  · {note}" for note in plan.notes)
    lines.append(plan_summary(plan))
    return lines


def plan_json(plan: Plan) -> dict[str, Any]:
    value = plan_to_json(plan)
    value["summary"] = summary_counts(plan.steps)
    value["empty"] = plan.is_empty
    return value


def _result_line(result: StepResult) -> str:
    if result.status.value == "failed":
        # The reason itself follows once, in the error lines after the summary.
        reason = "" if result.diagnostic else f": {result.detail}"
        return f"  ✗ {step_line(result.step)}: failed{reason}"
    if result.status.value == "skipped":
        return f"  · {step_line(result.step)}: skipped ({result.detail})"
    detail = f": {result.detail}" if result.detail else ""
    return f"  {MARKERS[_action(result.step)]} {step_line(result.step, done=True)}{detail}"


def outcome_lines(outcome: Outcome) -> list[str]:
    lines = [_result_line(r) for r in outcome.results]
    failed = outcome.failed
    if failed:
        names = ", ".join(dict.fromkeys(r.step.weight for r in failed))
        ok = len(outcome.results) - len(failed)
        lines.append(f"Failed: {plural(len(failed), 'step')} ({names}); {ok} succeeded.")
    else:
        lines.append(plan_summary(outcome.plan, done=True))
    if outcome.remaining is not None and not outcome.remaining.is_empty and not failed:
        lines.append("error: apply did not converge; still to do:")
        lines.extend(f"  {step_line(s)}" for s in outcome.remaining.steps)
    return lines


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    return {
        "operation": outcome.plan.operation.value,
        "results": [
            {
                **step_to_json(r.step),
                "status": r.status.value,
                "detail": r.detail,
                "error": r.diagnostic.to_json() if r.diagnostic else None,
            }
            for r in outcome.results
        ],
        "remaining": plan_to_json(outcome.remaining) if outcome.remaining else None,
        "exitCode": outcome.exit_code,
    }
