"""Recording an import: the lock entry it made, and weights.lock with that entry in it.

The plan (``cogw.core.plan.importplan``) decided which files go into which layer and
which recorded layers are reused; packing then learns the facts only bytes can
give (each new layer's digest and blob size). ``build_entry`` takes the planned
step plus those layers and returns the lock entry with Cog's exact config blob
and manifest. ``merge_imports`` folds the entries into weights.lock as the shell
read it under the project lock, and says whether the file changes at all.

Both return Results: a weight whose manifest cannot be built, or a weights.lock
that became invalid during the import, is a Diagnostic, not an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from pyrsistent import pvector
from returns.pipeline import is_successful
from returns.result import Failure, Result, Success

from cogw.core.artifact.oci import config_blob, manifest_bytes, manifest_problems
from cogw.core.config.weights import ProjectConfig
from cogw.core.diagnostics import Diagnostic, Problems
from cogw.core.digest import sha256_of
from cogw.core.lock.lockfile import (
    FILENAME,
    LockFile,
    Lockfile,
    LockLayer,
    LockSource,
    WeightEntry,
    entries_equal,
    find_weight,
    make_entry,
    parse_lockfile_repairable,
    render_lockfile,
    retain,
    upsert,
)
from cogw.core.lock.lockwrite import declared_names, write_shape
from cogw.core.plan.importplan import ImportWeight


@dataclass(frozen=True, slots=True)
class BuiltEntry:
    """A weight's lock entry (with its manifest digest) and the blobs that back it."""

    entry: WeightEntry
    config: bytes
    manifest: bytes


def build_entry(
    step: ImportWeight, layers: Sequence[LockLayer], imported_at: str
) -> Result[BuiltEntry, Problems]:
    """The entry for ``step`` whose planned layers became ``layers`` (same order).

    ``layers`` are the reused recorded layers and the packed ones, as the shell
    found them; ``imported_at`` is the time to record (Go's format).
    """
    if len(layers) != len(step.layers):
        raise ValueError(f"{len(layers)} layers for {len(step.layers)} planned")  # caller bug
    files = [
        LockFile(f.path, f.size, f.digest, layer.digest)
        for plan, layer in zip(step.layers, layers, strict=True)
        for f in plan.files
    ]
    spec = step.spec
    source = LockSource(spec.uri, step.fingerprint, spec.include, spec.exclude, imported_at)
    more = pvector(
        LockSource(s.uri, fingerprint, s.include, s.exclude)
        for s, fingerprint in zip(spec.more_sources, step.more_fingerprints, strict=True)
    )
    entry = make_entry(
        name=spec.name, target=spec.target, source=source, digest="", files=files, layers=layers
    )
    entry = replace(entry, more_sources=more)
    problems = manifest_problems(entry)
    if problems:
        summary = f'weight "{spec.name}": build weight manifest: ' + "; ".join(problems)
        return Failure((Diagnostic(summary),))
    config = config_blob(entry)
    manifest = manifest_bytes(entry, config)
    return Success(BuiltEntry(replace(entry, digest=sha256_of(manifest)), config, manifest))


def keep_imported_at(entry: WeightEntry, recorded: WeightEntry | None) -> WeightEntry:
    """``entry`` with the recorded ``importedAt`` when nothing else differs.

    Re-importing an unchanged weight must not rewrite weights.lock just to move
    a timestamp (no churn in version control); ``importedAt`` is not in the
    manifest, so the pushed manifest is the same either way.
    """
    if recorded is None or not entries_equal(recorded, entry):
        return entry
    return replace(entry, source=replace(entry.source, imported_at=recorded.source.imported_at))


def merge_imports(
    current: bytes | None,
    entries: Sequence[WeightEntry],
    envelope: str,
    filename: str = FILENAME,
    config: ProjectConfig | None = None,
) -> Result[bytes | None, Problems]:
    """weights.lock bytes with ``entries`` upserted, or None when the file would not change.

    ``current`` is the file as it is now (None: absent), read again under the
    project lock so entries another process wrote meanwhile are kept; a repairable
    one (two entries for one target) is read, since this write is what repairs it.
    ``envelope`` is the envelope format of the packer that made the layers.
    ``config``, the one the plan was made from, picks the shape of a new file and,
    as Cog's import prunes, drops the entries it no longer declares in this same
    write, so a renamed weight's old entry never sits beside the new one.
    """
    if current is None:
        lock, before = Lockfile(), None
    else:
        parsed = parse_lockfile_repairable(current, filename)
        if not is_successful(parsed):
            return Failure(parsed.failure())
        lock = parsed.unwrap()[0]
        before = render_lockfile(lock)
    lock = replace(lock, shape=write_shape(lock, config).value_or(lock.shape))
    for entry in entries:
        lock = upsert(lock, keep_imported_at(entry, find_weight(lock, entry.name)))
    if config is not None:
        lock = retain(lock, declared_names(config))
    after = render_lockfile(replace(lock, envelope_format=envelope))
    return Success(None if after == before else after)
