"""Plans, outcomes, statuses and diagnostics as text lines and JSON-ready values.

`cogw plan` says what it *would* do and `cogw apply` what it *did* (Black's
"would reformat" / "reformatted"); both share the step lines so a reviewed plan
reads the same as its result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from cogw.core.config.multisource import sources_label
from cogw.core.digest import format_digest_short
from cogw.core.plan.codec import plan_to_json, step_to_json
from cogw.core.plan.outcome import (
    Aborted,
    AlreadyAbsent,
    Mounted,
    Outcome,
    Pushed,
    ResultData,
    StepResult,
    Stored,
)
from cogw.core.plan.planner import (
    FetchLayer,
    ImportWeight,
    LinkWeight,
    Plan,
    PruneLockEntry,
    RepushWeight,
    Step,
)
from cogw.core.plan.remoteview import repush_details, repush_line
from cogw.core.plan.sourcediff import change_lines
from cogw.core.plan.statusview import format_size as format_size  # re-exported: shared helpers
from cogw.core.plan.statusview import status_json as status_json
from cogw.core.plan.statusview import status_lines as status_lines
from cogw.core.plan.statusview import tabulate as tabulate
from cogw.core.plan.stepkind import STEP_KINDS, StepKind, kind_of

# What Ctrl-C leaves as it was, per operation (every write is atomic: a blob, a mount
# directory and weights.lock appear whole or not at all).
_LEFT_AS_IT_WAS = {
    "import": "weights.lock left as it was; the store holds only whole, verified files",
    "pull": "weights.lock left as it was; the store holds only whole, verified files",
    "prepare": "no mount directory left behind; the store left as it was",
    "prune": "weights.lock holds only the steps that finished",
    "sync": "weights.lock holds only the steps that finished; no partial file left",
    "read": "nothing was changed",
}
NOTHING_PARTIAL = "no partial file or half-written weights.lock left"


def interrupted_line(operation: str = "") -> str:
    """The one line Ctrl-C prints, saying what was left as it was.

    >>> interrupted_line("read")
    'interrupted: nothing was changed'
    """
    return f"interrupted: {_LEFT_AS_IT_WAS.get(operation, NOTHING_PARTIAL)}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _fetch_line(step: FetchLayer) -> str:
    return (
        f"{step.weight} layer {format_digest_short(step.layer.digest)} "
        f"({plural(len(step.missing), 'file')}, {format_size(step.missing_bytes)})"
    )


def _link_line(step: LinkWeight) -> str:
    return f"{step.weight} → {step.target} ({plural(len(step.files), 'file')})"


def _prune_line(step: PruneLockEntry) -> str:
    return f"{step.weight} from weights.lock (removed from cog.yaml)"


def _import_line(step: ImportWeight) -> str:
    uris = sources_label([s.uri for s in step.spec.sources])
    return f"{step.weight} {uris} → {step.spec.target} ({step.status.value})"


# What follows the verb on a step's line, per step type.
_STEP_WORDS: dict[type, Callable[[Any], str]] = {
    FetchLayer: _fetch_line,
    LinkWeight: _link_line,
    PruneLockEntry: _prune_line,
    ImportWeight: _import_line,
    RepushWeight: repush_line,
}


def step_line(step: Step, done: bool = False) -> str:
    kind = kind_of(step)
    return f"{kind.done if done else kind.action} {_STEP_WORDS[type(step)](step)}"


FILE_LINES = 5  # an import step names this many changed files, then counts the rest
_FULL_DIGEST = re.compile(r"\bsha256:[0-9a-f]{64}\b")


def short_digests(text: str) -> str:
    """Full digests in a line shortened to sha256:<12 hex> (JSON keeps them whole).

    >>> short_digests("fingerprint: sha256:" + "a" * 64 + " → sha256:" + "b" * 64)
    'fingerprint: sha256:aaaaaaaaaaaa → sha256:bbbbbbbbbbbb'
    """
    return _FULL_DIGEST.sub(lambda m: format_digest_short(m.group()), text)


def _import_details(step: ImportWeight) -> list[str]:
    lines = [f"    changed: {short_digests(c)}" for c in step.changes]
    lines.append(
        f"    files: {len(step.files)} (+{step.added} -{step.removed} ~{step.changed})"
        f"  size: {format_size(step.total_bytes)}"
        f"  to ingest: {format_size(step.bytes_to_ingest)}"
    )
    lines += [f"      {line}" for line in change_lines(step.file_changes, FILE_LINES)]
    lines += [f"    {line}" for line in step.source_counts]
    lines.append("    layers: " + layer_counts(step))
    return lines


def layer_counts(step: ImportWeight) -> str:
    """How many planned layers are reused from weights.lock and how many packed, with
    their file bytes: "3 reused (90.9MB), 1 packed and pushed (12.0KB)"."""
    return (
        f"{len(step.reused_layers)} reused ({format_size(step.reused_bytes)}), "
        f"{len(step.packed_layers)} packed and pushed ({format_size(step.packed_bytes)})"
    )


def _summary_kinds() -> list[StepKind]:
    # Summaries list kinds alphabetically, as they always have: fetch comes first.
    return sorted(STEP_KINDS.values(), key=lambda k: k.action)


def summary_counts(steps: Sequence[Step]) -> dict[str, int]:
    counts = {k.action: 0 for k in _summary_kinds()}
    for s in steps:
        counts[kind_of(s).action] += 1
    return counts


def _counted(n: int, noun: str) -> str:
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun[:-1] + 'ies' if noun.endswith('y') else noun + 's'}"


def plan_summary(plan: Plan, done: bool = False) -> str:
    """One line: "Plan: 2 layers to fetch (1.5MB), 1 entry to prune." or "Applied: ...".

    A plan with problems never says "Nothing to do.": it says it cannot be applied.
    """
    counts = summary_counts(plan.steps)
    parts = []
    for kind in _summary_kinds():
        n = counts[kind.action]
        if not n:
            continue
        part = f"{_counted(n, kind.counts)} {kind.done if done else 'to ' + kind.action}"
        if kind is STEP_KINDS[FetchLayer]:
            fetch_bytes = sum(s.missing_bytes for s in plan.steps if isinstance(s, FetchLayer))
            part += f" ({format_size(fetch_bytes)})"
        parts.append(part)
    blocked = f"cannot be applied: {plural(len(plan.problems), 'problem')}"
    if not parts:
        return "Nothing to do." if done or not plan.problems else f"Plan {blocked}."
    if plan.problems and not done:
        return "Plan: " + ", ".join(parts) + f"; {blocked}."
    return ("Applied: " if done else "Plan: ") + ", ".join(parts) + "."


def plan_lines(plan: Plan) -> list[str]:
    """`cogw plan` text: steps with markers, notes, then a one-line summary."""
    lines: list[str] = []
    if plan.steps:
        lines.append(f"cogw would perform these actions ({plan.operation.value}):")
        for step in plan.steps:
            lines.append(f"  {kind_of(step).marker} {step_line(step)}")
            if isinstance(step, ImportWeight):
                lines.extend(_import_details(step))
            elif isinstance(step, RepushWeight):
                lines.extend(repush_details(step))
    lines.extend(f"  · {note}" for note in plan.notes)
    lines.append(plan_summary(plan))
    return lines


def plan_json(plan: Plan) -> dict[str, Any]:
    value = plan_to_json(plan)
    value["summary"] = summary_counts(plan.steps)
    value["empty"] = plan.is_empty
    return value


def result_detail(data: ResultData) -> str:
    """What a step's result says after its line ("stored 3 files (1.2MB)")."""
    match data:
        case Pushed():
            return data.detail(format_size)
        case Stored(files, nbytes, source):
            stored = f"stored {plural(files, 'file')} ({format_size(nbytes)})"
            return f"{stored} from {source}" if source else stored
        case Mounted(path, _, files):
            return f"{plural(files, 'file')} in {path}"
        case AlreadyAbsent():
            return "already absent"
        case Aborted(mount_removed):
            return "prepare aborted; mount removed" if mount_removed else "prepare aborted"
    return ""


def _result_line(result: StepResult) -> str:
    detail = result_detail(result.data)
    if result.status.value == "failed":
        # The reason itself follows once, in the error lines after the summary.
        reason = "" if result.diagnostic else f": {detail}"
        return f"  ✗ {step_line(result.step)}: failed{reason}"
    if result.status.value == "skipped":
        return f"  · {step_line(result.step)}: skipped ({detail})"
    detail = f": {detail}" if detail else ""
    return f"  {kind_of(result.step).marker} {step_line(result.step, done=True)}{detail}"


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


def _nothing_left(plan: Plan) -> Plan:
    return Plan(plan.operation, plan.names, plan.repository)


def _pushed_json(data: ResultData) -> dict[str, Any]:
    """An import's result counts what went up: layers the registry already had and the
    bytes uploaded (the detail words say the same)."""
    if not isinstance(data, Pushed) or data.sent is None:
        return {}
    return {"layersPresent": data.present, "bytesUploaded": data.sent}


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    return {
        "operation": outcome.plan.operation.value,
        "results": [
            {
                **step_to_json(r.step),
                "status": r.status.value,
                "detail": result_detail(r.data),
                "error": r.diagnostic.to_json() if r.diagnostic else None,
                **_pushed_json(r.data),
            }
            for r in outcome.results
        ],
        # Always a plan object (empty when nothing was re-planned), never null.
        "remaining": plan_to_json(outcome.remaining or _nothing_left(outcome.plan)),
        "exitCode": outcome.exit_code,
    }
