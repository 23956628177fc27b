"""`cogw pull REGISTRY/REPO@sha256:… [--to DIR]`: pull a published weight without a project.

Reads the weight manifest (or a Cog bundle's index, then each weight manifest in it) and
its config blob, turns them into lock entries (``cogw.core.registry.refpull``) and runs the same
verified, parallel fetch steps as `cogw pull` (``execute``), through the same mirrors. With
``--to`` every file is then linked into DIR (one weight) or DIR/<name> (a bundle).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyrsistent import pvector
from returns.result import Failure

from cogw.core.diagnostics import Diagnostic, Problems
from cogw.core.lock.lockfile import WeightEntry
from cogw.core.paths import safe_join
from cogw.core.plan.outcome import Outcome
from cogw.core.plan.planner import Operation, Plan, plan_fetches
from cogw.core.registry.refpull import (
    MAX_CONFIG_BYTES,
    PullReference,
    config_digest,
    config_size,
    duplicate_names,
    entry_from_artifact,
    is_index,
    weights_in_index,
)


class ReferenceError_(Exception):
    def __init__(self, problems: Problems) -> None:
        super().__init__("; ".join(p.summary for p in problems))
        self.problems = problems


def _check(result: Any) -> Any:
    if isinstance(result, Failure):
        failure = result.failure()
        raise ReferenceError_(failure if isinstance(failure, tuple) else (failure,))
    return result.unwrap()


def read_entries(client: Any, ref: PullReference) -> tuple[list[WeightEntry], bool]:
    """The lock entries ``ref`` names, and whether it was a bundle index."""
    repo = ref.repository.path
    top = client.get_manifest(repo, ref.ref)
    bundle = is_index(top.raw)
    digests = _check(weights_in_index(top.raw, ref.name)) if bundle else (top.digest,)
    entries = []
    for digest in digests:
        manifest = top if digest == top.digest else client.get_manifest(repo, digest)
        subject = f"{ref.repository.name}@{digest}"
        config = config_digest(manifest.raw)
        if config is None:
            raise ReferenceError_((Diagnostic("not a Cog weight manifest", subject=subject),))
        size = config_size(manifest.raw)  # known: verified whole and fetched again if spoilt
        raw = b"".join(client.iter_blob(repo, config, expected_size=size))
        if len(raw) > MAX_CONFIG_BYTES:
            raise ReferenceError_((Diagnostic("config blob too large", subject=subject),))
        entries.append(_check(entry_from_artifact(manifest.raw, digest, raw, subject)))
    if duplicate_names(entries):
        names = ", ".join(duplicate_names(entries))
        raise ReferenceError_((Diagnostic(f"bundle names a weight twice: {names}"),))
    return entries, bundle


def fetch_plan(ref: PullReference, entries: Sequence[WeightEntry], store: Any) -> Plan:
    present = frozenset(f.digest for e in entries for f in e.files if store.exists(f.digest))
    steps, notes = plan_fetches(entries, present)
    return Plan(Operation.PULL, pvector(), ref.repository.name, pvector(steps), pvector(notes), ())


def run_fetch(plan: Plan, rt: Any) -> Outcome:
    from cogw.shell.execute import execute

    return Outcome(plan, pvector(execute(plan, rt)))


def link_into(
    entries: Sequence[WeightEntry], bundle: bool, to: Path, store: Any, mode: str
) -> list[tuple[str, str]]:
    """Link every file into ``to`` (or ``to/<name>`` for a bundle); a file already there
    that is the same store blob is left alone, anything else there is an error."""
    from cogw.shell.fs import link_file

    placed = []
    for entry in entries:
        root = to / entry.name if bundle else to
        for f in entry.files:
            joined = safe_join(str(root), f.path)
            if joined is None:
                raise ValueError(f'path "{f.path}" escapes {root}')
            dst, src = Path(joined), store.path(f.digest)
            if dst.exists() and os.path.samefile(dst, src):
                continue
            link_file(src, dst, mode)  # type: ignore[arg-type]  # a click.Choice
        placed.append((str(root), entry.target))
    return placed
