"""The vocabulary of steps: one table says, per step type, what it is called,
how `cogw plan` marks it, what a summary counts and when execution runs it.

Codec, render and the executor look a step's kind up here instead of each
keeping an isinstance ladder of their own, so a new step type is one new row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cogw.core.plan.planner import (
    FetchLayer,
    ImportWeight,
    LinkWeight,
    PruneLockEntry,
    RepushWeight,
    Step,
)


@dataclass(frozen=True, slots=True)
class StepKind:
    action: str  # the JSON "action" and the verb of a planned step ("fetch")
    done: str  # the verb once carried out ("fetched")
    marker: str  # the plan marker, Terraform-like: ~ change, - remove, + add, = link
    order: int  # execution runs kinds by ascending order; later kinds see earlier results
    counts: str  # what one step is, for summaries ("layer": "2 layers to fetch")


STEP_KINDS: Mapping[type, StepKind] = {
    ImportWeight: StepKind("import", "imported", "~", 0, "weight"),
    # After imports (which may push the same blobs), before fetches that need them.
    RepushWeight: StepKind("repush", "repushed", "^", 1, "weight"),
    PruneLockEntry: StepKind("prune", "pruned", "-", 2, "entry"),
    FetchLayer: StepKind("fetch", "fetched", "+", 3, "layer"),
    LinkWeight: StepKind("link", "linked", "=", 4, "weight"),
}

STEP_TYPES_BY_ACTION: Mapping[str, type] = {k.action: t for t, k in STEP_KINDS.items()}


def kind_of(step: Step) -> StepKind:
    return STEP_KINDS[type(step)]


def types_in_order() -> list[type]:
    """Step types in the order execution runs them (import → repush → prune → fetch → link)."""
    return sorted(STEP_KINDS, key=lambda t: STEP_KINDS[t].order)
