"""``cogw check``, the CI gate: which disagreements fail it, and in which words.

A project passes when cog.yaml and weights.lock agree (no pending, changed or
orphaned weight), and, when they were asked, every source still holds what
weights.lock recorded and the registry holds what it names. Each disagreement is
one :class:`CheckProblem` (weight, kind, message, hint) whose :meth:`line` is
what CI logs show, e.g.
``minilm: source changed: config.json (+2 more); run 'cogw import minilm'``.

The local store is not compared: a CI machine has no reason to hold the files.
Registry findings come in as :class:`RemoteFinding` values, gathered elsewhere
and worded here, so ``--remote`` is another input, not another gate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyrsistent import PVector, pvector

from cogw.core.plan.drift import DriftKind, DriftResult
from cogw.core.plan.remote import remote_details
from cogw.core.plan.remotecheck import RemoteCheck
from cogw.core.plan.sourcediff import first_few
from cogw.core.plan.sourcestatus import SourceFinding, short_fingerprint


@dataclass(frozen=True, slots=True)
class CheckProblem:
    weight: str
    kind: str  # pending, config-changed, orphaned, source-changed, source-unreadable, registry-*
    message: str
    hint: str = ""

    def line(self) -> str:
        hint = f"; {self.hint}" if self.hint else ""
        return f"{self.weight}: {self.message}{hint}"

    def to_json(self) -> dict[str, str]:
        return {
            "weight": self.weight,
            "kind": self.kind,
            "message": self.message,
            "hint": self.hint,
        }


@dataclass(frozen=True, slots=True)
class RemoteFinding:
    """A registry disagreement for one weight: ``kind`` names it (``missing``,
    ``incomplete``, …; reported as ``registry-<kind>``), ``detail`` says what is wrong."""

    weight: str
    kind: str
    detail: str
    hint: str = ""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The problems, and what was compared (for the one-line verdict)."""

    problems: PVector[CheckProblem] = field(default_factory=pvector)
    compared: PVector[str] = field(default_factory=pvector)

    @property
    def ok(self) -> bool:
        return not self.problems


def _import_hint(name: str) -> str:
    return f"run 'cogw import {name}'"


def drift_problem(result: DriftResult) -> CheckProblem:
    """Cog.yaml against weights.lock, in the words ``cogw status`` uses."""
    name = result.name
    if result.kind is DriftKind.PENDING:
        return CheckProblem(
            name, "pending", "declared in cog.yaml, not in weights.lock", _import_hint(name)
        )
    if result.kind is DriftKind.ORPHANED:
        return CheckProblem(
            name, "orphaned", "in weights.lock, no longer in cog.yaml", "run 'cogw apply prune'"
        )
    what = f" ({result.details})" if result.details else ""
    return CheckProblem(
        name, "config-changed", f"cog.yaml changed since the import{what}", _import_hint(name)
    )


def source_problem(finding: SourceFinding) -> CheckProblem | None:
    """A source that moved or cannot be read; None when it holds what weights.lock says."""
    name = finding.name
    if finding.problem is not None:
        hint = finding.problem.hint or "fix the weight's source in cog.yaml"
        return CheckProblem(
            name, "source-unreadable", f"source cannot be read: {finding.problem.summary}", hint
        )
    if not finding.changed:
        return None
    paths = finding.diff.paths
    if paths:
        message = f"source changed: {first_few(paths)}"
    else:
        message = f"source version moved to {short_fingerprint(finding.current)}"
    return CheckProblem(name, "source-changed", message, _import_hint(name))


def remote_problem(finding: RemoteFinding) -> CheckProblem:
    return CheckProblem(
        finding.weight,
        f"registry-{finding.kind}",
        f"registry: {finding.detail}",
        finding.hint or _import_hint(finding.weight),
    )


def remote_finding(check: RemoteCheck) -> RemoteFinding | None:
    """What ``status --remote`` calls incomplete, as a gate finding; None when the
    registry holds the manifest and every layer."""
    if check.complete:
        return None
    kind = "unreachable" if check.error else "incomplete"
    return RemoteFinding(check.weight, kind, remote_details(check))


def check_project(
    drift: Iterable[DriftResult],
    sources: Mapping[str, SourceFinding] | None = None,
    remote: Sequence[RemoteFinding] | None = None,
) -> CheckResult:
    """The verdict: drift first (config order, then orphans), then sources, then the
    registry. ``sources`` / ``remote`` are None when they were not asked."""
    problems = [drift_problem(r) for r in drift]
    compared = ["cog.yaml", "weights.lock"]
    if sources is not None:
        problems += [p for f in sources.values() if (p := source_problem(f)) is not None]
        compared.append("sources")
    if remote is not None:
        problems += [remote_problem(f) for f in remote]
        compared.append("registry")
    return CheckResult(pvector(problems), pvector(compared))


def verdict(result: CheckResult) -> str:
    """The last line: ``ok: cog.yaml, weights.lock and sources agree`` or the count.

    >>> verdict(CheckResult(compared=pvector(["cog.yaml", "weights.lock"])))
    'ok: cog.yaml and weights.lock agree'
    """
    things = list(result.compared)
    named = ", ".join(things[:-1]) + f" and {things[-1]}" if len(things) > 1 else things[0]
    if result.ok:
        return f"ok: {named} agree"
    n = len(result.problems)
    return f"check failed: {n} disagreement{'' if n == 1 else 's'} between {named}"


def check_lines(result: CheckResult) -> list[str]:
    return [p.line() for p in result.problems]


def check_json(result: CheckResult) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "compared": list(result.compared),
        "problems": [p.to_json() for p in result.problems],
    }
