"""What a weight's source holds now against weights.lock, folded into ``cogw status`` rows.

The shell asks each source (hashing local files through the stat cache, asking a
remote one for its version) and hands over a :class:`SourceSeen` or the
Diagnostic that says why it could not; :func:`compare_source` decides whether the
source moved, the same way ``cogw import`` does (a moved fingerprint or a
different filtered file set), and names the files. :func:`fold_sources` turns
ready / missing-files rows whose source moved into ``source-changed`` rows; the
other states already send the user to ``cogw import`` or ``prune``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pyrsistent import PVector, pvector
from returns.result import Failure, Success

from cogw.core.artifact.inventory import Inventory
from cogw.core.config.filters import filter_inventory
from cogw.core.config.weights import WeightSpec
from cogw.core.diagnostics import Diagnostic
from cogw.core.lock.lockfile import WeightEntry
from cogw.core.plan.importsources import resolve_sources
from cogw.core.plan.sourcediff import (
    EMPTY,
    SourceDiff,
    change_lines,
    diff_files,
    diff_json,
    diff_summary,
    unknown_content,
)
from cogw.core.plan.status import StatusRow, WeightStatus

# The rows whose source is worth asking: cog.yaml and weights.lock agree on them.
CHECKED_STATES = (WeightStatus.READY, WeightStatus.MISSING_FILES)


@dataclass(frozen=True, slots=True)
class SourceSeen:
    """What a source said: its version, and its files unless only the version was asked
    (``inventory`` None: a remote source whose version alone answers the question)."""

    fingerprint: str
    inventory: Inventory | None = None


@dataclass(frozen=True, slots=True)
class SourceFinding:
    """One weight's source against its lock entry; ``problem`` when it could not be read."""

    name: str
    locked: str
    current: str = ""
    diff: SourceDiff = EMPTY
    problem: Diagnostic | None = None

    @property
    def changed(self) -> bool:
        return self.problem is None and (self.current != self.locked or not self.diff.is_empty)


def short_fingerprint(fingerprint: str) -> str:
    """``sha256:`` and ``commit:`` fingerprints to 12 hex; an ETag stays as it is.

    >>> short_fingerprint("commit:" + "ab" * 20)
    'commit:abababababab'
    >>> short_fingerprint('etag:"v2"')
    'etag:"v2"'
    """
    kind, _, rest = fingerprint.partition(":")
    return f"{kind}:{rest[:12]}" if kind in ("sha256", "commit") else fingerprint


#: What the shell saw of a weight: one answer per source (in declared order), or why not.
Seen = SourceSeen | Sequence[SourceSeen] | Diagnostic


def compare_source(spec: WeightSpec, entry: WeightEntry, seen: Seen) -> SourceFinding:
    """The finding for one weight whose cog.yaml and lock entry agree."""
    locked = entry.source.fingerprint
    if isinstance(seen, Diagnostic):
        return SourceFinding(spec.name, locked, problem=seen)
    if not isinstance(seen, SourceSeen):
        return _compare_several(spec, entry, list(seen))
    if seen.inventory is None:
        same = seen.fingerprint == locked
        return SourceFinding(
            spec.name, locked, seen.fingerprint, EMPTY if same else unknown_content(entry.files)
        )
    match filter_inventory(seen.inventory, spec.include, spec.exclude):
        case Success(kept):
            return SourceFinding(
                spec.name, locked, seen.fingerprint, diff_files(entry.files, kept.files)
            )
        case Failure(diag):
            return SourceFinding(spec.name, locked, problem=diag)
    raise AssertionError("unreachable")


def _compare_several(spec: WeightSpec, entry: WeightEntry, seen: list[SourceSeen]) -> SourceFinding:
    """Several sources: the fingerprints source by source (space-separated in the
    finding), then, when every source listed its files, the merge against the entry."""
    locked = " ".join(s.fingerprint for s in entry.sources)
    current = " ".join(s.fingerprint for s in seen)
    inventories = [s.inventory for s in seen]
    if any(inv is None for inv in inventories):
        same = locked == current
        return SourceFinding(
            spec.name, locked, current, EMPTY if same else unknown_content(entry.files)
        )
    resolved = resolve_sources(spec, [inv for inv in inventories if inv is not None], "cog.yaml")
    if isinstance(resolved, Diagnostic):
        return SourceFinding(spec.name, locked, problem=resolved)
    return SourceFinding(spec.name, locked, current, diff_files(entry.files, resolved.files))


def moved_words(locked: str, current: str) -> str:
    """``a → b`` in short fingerprints; among several (space-separated) sources, only
    those that moved, by index: ``source[1] a → b``.

    >>> moved_words("sha256:" + "a" * 64, "sha256:" + "b" * 64)
    'sha256:aaaaaaaaaaaa → sha256:bbbbbbbbbbbb'
    >>> moved_words('etag:"1" etag:"2"', 'etag:"1" etag:"3"')
    'source[1] etag:"2" → etag:"3"'
    """
    old, new = locked.split(" "), current.split(" ")
    if len(old) == 1 and len(new) == 1:
        return f"{short_fingerprint(locked)} → {short_fingerprint(current)}"
    return ", ".join(
        f"source[{i}] {short_fingerprint(a)} → {short_fingerprint(b)}"
        for i, (a, b) in enumerate(zip(old, new, strict=False))
        if a != b
    )


def compare_sources(
    specs: Sequence[WeightSpec],
    entries: Mapping[str, WeightEntry],
    seen: Mapping[str, Seen],
) -> dict[str, SourceFinding]:
    """Findings for the weights the shell asked about (those in ``seen``), by name."""
    return {
        s.name: compare_source(s, entries[s.name], seen[s.name])
        for s in specs
        if s.name in seen and s.name in entries
    }


def finding_summary(finding: SourceFinding) -> str:
    """``changed: config.json, model.safetensors (+3 more); added: extra.bin``, or, when
    only the version moved, which version it moved to."""
    if finding.problem is not None:
        return f"source cannot be read: {finding.problem.summary}"
    if not finding.diff.is_empty:
        return diff_summary(finding.diff)
    moved = moved_words(finding.locked, finding.current)
    return f"source version moved ({moved}), no included file changed"


def fold_sources(
    rows: Sequence[StatusRow], findings: Mapping[str, SourceFinding]
) -> PVector[StatusRow]:
    """Rows with ``source-changed`` where a checked weight's source moved."""

    def folded(row: StatusRow) -> StatusRow:
        found = findings.get(row.name)
        if row.status not in CHECKED_STATES or found is None or not found.changed:
            return row
        return replace(row, status=WeightStatus.SOURCE_CHANGED, details=finding_summary(found))

    return pvector(folded(r) for r in rows)


def source_problems(findings: Mapping[str, SourceFinding]) -> tuple[Diagnostic, ...]:
    return tuple(f.problem for f in findings.values() if f.problem is not None)


def verbose_lines(findings: Mapping[str, SourceFinding]) -> list[str]:
    """``-v``: every changed, added and removed file of every moved source."""
    lines: list[str] = []
    for f in findings.values():
        if not f.changed:
            continue
        moved = moved_words(f.locked, f.current)
        lines.append(f"  {f.name}: source changed ({moved}):")
        lines += [f"    {line}" for line in change_lines(f.diff)]
    return lines


def finding_json(finding: SourceFinding) -> dict[str, Any]:
    value: dict[str, Any] = {
        "moved": finding.changed,
        "lockedFingerprint": finding.locked,
        "fingerprint": finding.current,
    }
    if finding.problem is not None:
        value["problem"] = finding.problem.to_json()
    return {**value, **diff_json(finding.diff)}


def with_sources_json(
    value: dict[str, Any], findings: Mapping[str, SourceFinding]
) -> dict[str, Any]:
    """``status_json`` with each checked weight's ``sourceCheck`` (full file lists, short
    digests) and ``sourcesChecked: true``."""
    weights = [
        {**w, "sourceCheck": finding_json(findings[w["name"]])} if w["name"] in findings else w
        for w in value["weights"]
    ]
    return {**value, "weights": weights, "sourcesChecked": True}
