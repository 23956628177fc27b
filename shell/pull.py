"""Pull: fetch the layers a plan names and store the files they hold.

Per weight: fetch ``repo@<manifest digest>`` once and check its digest and that
it lists each layer; then stream the layers on a bounded pool. Each layer is
verified while streaming (the registry client hashes the blob; the store
hashes every file), and only paths the lockfile assigns to the layer are
accepted. A failing weight does not stop the others.

A layer that fails part-way (a hostile entry, a truncation, a blob digest that
does not match) keeps the files it already stored: each was checked against its
lockfile digest before it was renamed into place, so it is exactly the file the
lockfile names, and removing it could race with another process relying on it.
Nothing unverified is ever stored. A layer whose bytes fail a check is fetched once
more from scratch before the step fails (a corrupt byte on the way is not the
registry's blob).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from cogw.core.artifact.oci import manifest_layer_problem
from cogw.core.lock.lockfile import LockFile
from cogw.core.plan.events import Event, EventKind
from cogw.core.plan.outcome import StepResult, StepStatus, Stored
from cogw.core.plan.planner import FetchLayer
from cogw.core.plan.remote import LOST_CODES, lost_on_pull
from cogw.shell.runtime import Runtime, failure, run_parallel

if TYPE_CHECKING:
    from cogw.shell.registry.protocol import Registry


class ManifestMismatch(Exception):
    """The registry's manifest does not describe what weights.lock recorded."""


def check_manifest_layers(raw: bytes, steps: Sequence[FetchLayer]) -> None:
    problem = manifest_layer_problem(raw, steps[0].manifest, [s.layer for s in steps])
    if problem is not None:
        raise ManifestMismatch(problem)


def _group(steps: Sequence[FetchLayer]) -> dict[str, list[FetchLayer]]:
    groups: dict[str, list[FetchLayer]] = {}
    for step in steps:
        groups.setdefault(step.weight, []).append(step)
    return groups


def run_fetches(steps: Sequence[FetchLayer], rt: Runtime) -> list[StepResult]:
    client, repo = rt.registry()
    ready: list[FetchLayer] = []
    results: dict[int, StepResult] = {}
    for weight, group in _group(steps).items():
        missing = sum(len(s.missing) for s in group)
        rt.emit(
            Event(
                EventKind.WEIGHT_START,
                weight=weight,
                missing_files=missing,
                total_files=sum(len(s.files) for s in group),
                manifest_ref=f"{repo}@{group[0].manifest}",
            )
        )
        try:
            manifest = client.get_manifest(repo, group[0].manifest)
            check_manifest_layers(manifest.raw, group)
        except Exception as exc:
            rt.emit(Event(EventKind.STEP_FAILED, weight=weight, message=str(exc)))
            # Every registry and mismatch message already names the manifest.
            why = _lost(exc, client, weight, "manifest", group[0].manifest)
            results.update(
                {id(s): failure(s, exc, why or f"fetch weight manifest: {exc}") for s in group}
            )
            continue
        ready.extend(group)
    if ready:
        rt.emit(
            Event(
                EventKind.PHASE,
                phase="download",
                nbytes=sum(s.layer.size for s in ready),
                message=f"{len(ready)} layer(s)",
            )
        )
    fetched = run_parallel(ready, lambda s: _fetch_one(s, rt, repo), rt)
    results.update({id(s): r for s, r in zip(ready, fetched, strict=True)})
    _emit_weight_done(steps, results, rt)
    return [results[id(s)] for s in steps]


def _emit_weight_done(
    steps: Sequence[FetchLayer], results: dict[int, StepResult], rt: Runtime
) -> None:
    for weight, group in _group(steps).items():
        done = [s for s in group if results[id(s)].status is StepStatus.DONE]
        if len(done) != len(group):
            continue
        rt.emit(
            Event(
                EventKind.WEIGHT_DONE,
                weight=weight,
                layers_fetched=len(done),
                files_fetched=sum(len(s.missing) for s in done),
                bytes_fetched=sum(s.missing_bytes for s in done),
            )
        )


def _drain(chunks: Iterator[bytes]) -> None:
    # The tar ends before the blob does (end blocks, gzip trailer); reading to EOF
    # lets the client check the whole blob's size and digest.
    for _ in chunks:
        pass


def _fetch_one(step: FetchLayer, rt: Runtime, repo: str) -> StepResult:
    client, _ = rt.registry()
    layer = step.layer
    rt.emit(
        Event(
            EventKind.LAYER_START,
            weight=step.weight,
            layer_digest=layer.digest,
            layer_size=layer.size,
        )
    )
    try:
        _fetch_verified(step, client, repo, rt)
    except Exception as exc:
        if _another_source(client, repo, layer.digest, rt):
            return _fetch_one(step, rt, repo)
        rt.emit(
            Event(
                EventKind.STEP_FAILED,
                weight=step.weight,
                layer_digest=layer.digest,
                message=str(exc),
            )
        )
        why = _lost(exc, client, step.weight, "layer", layer.digest)
        return failure(step, exc, why or f"layer {layer.digest}: {exc}")
    source = _source(client, repo, layer.digest)
    rt.emit(
        Event(EventKind.LAYER_DONE, weight=step.weight, layer_digest=layer.digest, message=source)
    )
    return StepResult(step, StepStatus.DONE, Stored(len(step.missing), step.missing_bytes, source))


def _lost(exc: Exception, client: object, weight: str, what: str, digest: str) -> str:
    """The one line for a registry that lacks what weights.lock records (404), else ""."""
    code, status = getattr(exc, "code", None), getattr(exc, "status", None)
    if code not in LOST_CODES and status != 404:
        return ""
    registry = str(getattr(client, "registry", "the registry"))
    return lost_on_pull(registry, weight, what, digest, code or f"HTTP {status}")


def _another_source(client: object, repo: str, digest: str, rt: Runtime) -> bool:
    # A mirrored client (shell/mirrored.py) can try the layer again from its next endpoint.
    retry = getattr(client, "retry_layer", None)
    return retry is not None and not rt.cancel.is_set() and bool(retry(repo, digest))


def _source(client: object, repo: str, digest: str) -> str:
    source_of = getattr(client, "source_of", None)
    return str(source_of(repo, digest)) if source_of is not None else ""


def _fetch_verified(step: FetchLayer, client: Registry, repo: str, rt: Runtime) -> None:
    """Fetch the layer; one whose bytes fail a digest or layout check is fetched once more,
    from scratch: a byte flipped on the way should not fail a multi-GB layer, and a blob
    that is corrupt at the registry fails the second time too. Whatever was stored had
    passed its own digest check."""
    from cogw.shell.layerstream import HostileLayer
    from cogw.shell.registry.errors import RegistryDigestMismatch
    from cogw.shell.store import DigestMismatch, SizeMismatch
    from cogw.shell.untar import StoreFileError

    spoilt = (RegistryDigestMismatch, DigestMismatch, SizeMismatch, HostileLayer)
    try:
        _stream_and_store(step, client, repo, rt)
    except (*spoilt, StoreFileError) as exc:
        # The store names the file it refused; only a refusal of its bytes (not a disk
        # error) says the layer was spoilt on the way.
        refused = exc.__cause__ if isinstance(exc, StoreFileError) else exc
        if rt.cancel.is_set() or not isinstance(refused, spoilt):
            raise
        _stream_and_store(step, client, repo, rt)


def _stream_and_store(step: FetchLayer, client: Registry, repo: str, rt: Runtime) -> None:
    """Stream the layer's blob into the store; every path it should hold must arrive."""
    from cogw.shell.pull_direct import fetch_direct
    from cogw.shell.storebatch import batched
    from cogw.shell.untar import extract_layer

    layer = step.layer
    direct = fetch_direct(step, rt, repo)
    if direct is not None:
        _stored(rt, step, direct)
        return
    chunks = iter(
        client.iter_blob(
            repo,
            layer.digest,
            expected_size=layer.size,
            cancel=rt.cancel,
            on_bytes=lambda n: rt.emit(
                Event(EventKind.BYTES, weight=step.weight, layer_digest=layer.digest, nbytes=n)
            ),
        )
    )
    expected = {f.path: f for f in step.files}
    # The layer's files become blobs together once the whole layer checked out:
    # one flush for all of them instead of an fsync per small file.
    lacking = {expected[p].digest for p in step.missing if p in expected}
    with batched(rt.store, lacking) as store:
        stored = extract_layer(
            chunks,
            layer.media_type,
            expected,
            store,
            on_file=lambda f, _new: _stored(rt, step, f),
            cancel=rt.cancel,
        )
        _drain(chunks)
        absent = [p for p in step.missing if p not in stored]
        if absent:
            raise ManifestMismatch(f'layer {layer.digest}: missing expected file "{absent[0]}"')


def _stored(rt: Runtime, step: FetchLayer, f: LockFile) -> None:
    rt.emit(
        Event(
            EventKind.FILE_STORED,
            weight=step.weight,
            layer_digest=step.layer.digest,
            path=f.path,
            file_digest=f.digest,
            file_size=f.size,
        )
    )
