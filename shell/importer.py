"""Import: carry out ImportWeight steps, then record what the core built.

The plan already decided everything that can be decided from a snapshot
(``cogw.core.plan.importplan``): the files, their layers, and which recorded layers
are reused. For each step this module packs and pushes the layers
(``cogw.shell.import_pack``), asks the core to build the entry from the layers
packing produced (``cogw.core.importrecord.build_entry``), pushes the config
blob and manifest, and only then records the entry. weights.lock is written
once, under the project lock, after every push that succeeded: a failed push
never leaves a lockfile naming manifests the registry lacks. The merge itself
is the core's (``merge_imports``); this module reads and writes the bytes.

The config the plan was made from (``Runtime.config``) decides the weights.lock
shape a new file gets, hence the tags pushed and whether layer commits name their
media type (``cogw.core.lock.lockwrite``, ``cogw.core.artifact.tags``), and which
entries the write keeps: as Cog's import, those cog.yaml no longer declares go.

This module does not know tar bytes, registry protocols or how sources list files.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from returns.pipeline import is_successful

from cogw.core.lock.lockfile import FILENAME as LOCK_FILENAME
from cogw.core.lock.lockfile import Lockfile, WeightEntry
from cogw.core.lock.lockwrite import write_shape
from cogw.core.plan.events import Event, EventKind
from cogw.core.plan.importplan import ImportWeight, without_reuse
from cogw.core.plan.importrecord import build_entry, merge_imports
from cogw.core.plan.outcome import Pushed, StepResult, StepStatus
from cogw.core.timefmt import format_go_time
from cogw.shell.fs import atomic_write, project_lock, race_window
from cogw.shell.import_pack import pack_and_push
from cogw.shell.import_push import push_manifest
from cogw.shell.registry import RegistryDigestMismatch
from cogw.shell.runtime import ProblemsError, Runtime, failure, read_lock_strict


def import_one(step: ImportWeight, rt: Runtime) -> tuple[WeightEntry, str]:
    """Pack and push one weight as planned; its entry and the pushed manifest's reference
    (tagged as the Cog that reads a weights.lock of ``rt.shape`` tags it)."""
    try:
        packed = pack_and_push(step, step.layers, rt)
    except RegistryDigestMismatch:
        if not step.reused_layers:
            raise
        # The recorded digests were not made by these bytes (an entry another packer
        # wrote, under this file's envelope) and the registry lacks the blobs: re-pack.
        packed = pack_and_push(step, without_reuse(step.layers), rt)
    built = build_entry(step, packed, format_go_time(datetime.now(UTC)))
    if not is_successful(built):
        raise ProblemsError(built.failure())
    weight = built.unwrap()
    return weight.entry, push_manifest(weight.entry, weight.config, weight.manifest, rt)


def run_imports(steps: Sequence[ImportWeight], rt: Runtime) -> list[StepResult]:
    try:
        lock = _current_lock(rt)
    except ProblemsError as exc:  # broken since the plan was made
        return [failure(s, exc) for s in steps]
    chosen = write_shape(lock, rt.config)
    if not is_successful(chosen):
        return [StepResult(s, StepStatus.FAILED, diagnostic=chosen.failure()) for s in steps]
    # The layout decides the tags and the layer commits' headers, so it is fixed first.
    rt.shape = chosen.unwrap()
    results: list[StepResult] = []
    entries: list[WeightEntry] = []
    for step in steps:
        for line in step.overrides:
            rt.emit(Event(EventKind.NOTE, weight=step.weight, message=line))
        try:
            entry, ref = import_one(step, rt)
        except Exception as exc:
            rt.emit(Event(EventKind.STEP_FAILED, weight=step.weight, message=str(exc)))
            results.append(failure(step, exc))
            continue
        entries.append(entry)
        results.append(StepResult(step, StepStatus.DONE, _pushed(step.weight, ref, entry, rt)))
    if entries:
        try:
            _record(entries, rt)
        except Exception as exc:
            return [
                failure(r.step, exc, f"record weights.lock: {exc}")
                if r.status is StepStatus.DONE
                else r
                for r in results
            ]
    return results


def _pushed(weight: str, ref: str, entry: WeightEntry, rt: Runtime) -> Pushed:
    """The result: how many layers the registry already had, how many bytes went up."""
    pushes = rt.pushes.get(weight, [])
    present = sum(1 for outcome, _ in pushes if outcome != "uploaded")
    sent = sum(size for outcome, size in pushes if outcome == "uploaded")
    return Pushed(ref, len(entry.layers), entry.size_compressed, present, sent)


def _current_lock(rt: Runtime) -> Lockfile | None:
    """weights.lock as it is now (a repairable one included), None when absent."""
    try:
        return read_lock_strict(rt.project)
    except FileNotFoundError:
        return None


def _record(entries: Sequence[WeightEntry], rt: Runtime) -> None:
    """Write what the core merged, under the project lock, re-reading first so
    concurrent writers are not lost; no write when the bytes would not change."""
    path = rt.project.lock_path
    with project_lock(rt.project.dir):
        try:
            current: bytes | None = path.read_bytes()
        except FileNotFoundError:
            current = None
        race_window()
        merged = merge_imports(current, entries, rt.envelope, LOCK_FILENAME, rt.config)
        if not is_successful(merged):
            raise ProblemsError(merged.failure())
        data = merged.unwrap()
        if data is not None:
            atomic_write(path, data)
