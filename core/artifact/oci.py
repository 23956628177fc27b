"""OCI projections of a lock entry: config blob, manifest and tag, byte-exact with Cog.

Pure functions of a ``WeightEntry`` (import spec §11, §15.1): the same entry
gives the same config blob and manifest bytes, and so the same manifest digest,
as Cog v0.19.3. Does not know how layers are built or pushed, nor how a
registry answers.

Difference from Cog, on purpose: a weight made only of zero-byte files is
accepted. Its layers are still real tar blobs (non-empty), only their
uncompressed-size annotation is "0", which the distribution registry stores
without interpreting; Cog's ``invalid uncompressed size 0`` refused such a
weight for no reason (§17 #6). A negative uncompressed size is still refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from cogw.core.digest import hex_of, sha256_of
from cogw.core.lock.gojson import go_marshal
from cogw.core.lock.lockfile import LockLayer, WeightEntry

MEDIA_TYPE_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_CONFIG = "application/vnd.cog.weight.config.v1+json"
ARTIFACT_TYPE = "application/vnd.cog.weight.v1"

ANNOTATION_NAME = "run.cog.weight.name"
ANNOTATION_SET_DIGEST = "run.cog.weight.set-digest"
ANNOTATION_TARGET = "run.cog.weight.target"
ANNOTATION_SIZE_UNCOMPRESSED = "run.cog.weight.size.uncompressed"

TAG_PREFIX = "weights-"
TAG_MAX = 128  # OCI distribution spec: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
_TAG_NAME_HASH = 8


@dataclass(frozen=True, slots=True)
class Descriptor:
    """What a registry needs to address a blob or manifest."""

    media_type: str
    size: int
    digest: str


def config_blob(entry: WeightEntry) -> bytes:
    """Compact Go JSON: name, target, setDigest, files (by path; keys path, layer, size, digest)."""
    if not entry.files:
        raise ValueError("no files for config blob")
    files = [
        {"path": f.path, "layer": f.layer, "size": f.size, "digest": f.digest}
        for f in sorted(entry.files, key=lambda f: f.path)
    ]
    return go_marshal(
        {
            "name": entry.name,
            "target": entry.target,
            "setDigest": entry.set_digest,
            "files": files,
        }
    )


def _layer_descriptor(layer: LockLayer) -> dict[str, object]:
    return {
        "mediaType": layer.media_type,
        "size": layer.size,
        "digest": layer.digest,
        "annotations": {ANNOTATION_SIZE_UNCOMPRESSED: str(layer.size_uncompressed)},
    }


def manifest_bytes(entry: WeightEntry, config: bytes) -> bytes:
    """The manifest for ``entry`` whose config blob is ``config``; layers sorted by digest,
    so the manifest digest depends on the layer set, not its order."""
    layers = sorted(entry.layers, key=lambda layer: layer.digest)
    return go_marshal(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": {
                "mediaType": MEDIA_TYPE_CONFIG,
                "size": len(config),
                "digest": sha256_of(config),
            },
            "layers": [_layer_descriptor(layer) for layer in layers],
            # Go marshals map keys sorted; these three already are.
            "annotations": {
                ANNOTATION_NAME: entry.name,
                ANNOTATION_SET_DIGEST: entry.set_digest,
                ANNOTATION_TARGET: entry.target,
            },
        }
    )


def manifest_descriptor(manifest: bytes) -> Descriptor:
    return Descriptor(MEDIA_TYPE_MANIFEST, len(manifest), sha256_of(manifest))


def _layer_problems(index: int, layer: LockLayer, layers_with_files: set[str]) -> list[str]:
    if not layer.digest:
        return [f"layer {index}: missing digest"]
    where = f"layer {index} ({layer.digest})"
    problems = []
    if layer.size <= 0:
        problems.append(f"{where}: invalid size {layer.size}")
    if layer.size_uncompressed < 0:
        problems.append(f"{where}: invalid uncompressed size {layer.size_uncompressed}")
    if not layer.media_type:
        problems.append(f"{where}: missing media type")
    if layer.digest not in layers_with_files:
        problems.append(f"{where}: plan has no files")
    return problems


def manifest_problems(entry: WeightEntry) -> tuple[str, ...]:
    """Every reason Cog would refuse to build the manifest, in Cog's order and words.

    Cog stops at the first; all are returned here so a user sees them at once.
    Layer indexes count layers sorted by digest, as Cog's do.
    """
    problems = [
        message
        for missing, message in (
            (not entry.name, "weight name is required"),
            (not entry.target, "weight target is required"),
            (not entry.set_digest, "weight set digest is required"),
            (not entry.files, "weight files are required for config blob"),
            (not entry.layers, "at least one layer is required"),
        )
        if missing
    ]
    layers_with_files = {f.layer for f in entry.files}
    for index, layer in enumerate(sorted(entry.layers, key=lambda layer: layer.digest)):
        problems.extend(_layer_problems(index, layer, layers_with_files))
    return tuple(problems)


def weight_tag(name: str, set_digest: str) -> str:
    """``weights-<name>-<first 12 hex of the set digest>``, at most 128 characters.

    Without a usable digest the tag is ``weights-<name>`` (as Cog). A name too
    long for the limit is cut and suffixed with a hash of the whole name, so
    two long names sharing a prefix still get distinct tags.

    >>> weight_tag("minilm", "sha256:18074874da7f" + "0" * 52)
    'weights-minilm-18074874da7f'
    """
    short = hex_of(set_digest)[:12]
    suffix = f"-{short}" if short else ""
    room = TAG_MAX - len(TAG_PREFIX) - len(suffix)
    if len(name) > room:
        name_hash = hashlib.sha256(name.encode()).hexdigest()[:_TAG_NAME_HASH]
        name = f"{name[: room - _TAG_NAME_HASH - 1]}-{name_hash}"
    return f"{TAG_PREFIX}{name}{suffix}"


def manifest_layer_problem(raw: bytes, manifest: str, layers: Iterable[LockLayer]) -> str | None:
    """Why a manifest fetched from a registry does not describe the recorded ``layers``
    (each listed with its digest and size), or None when it does. When weights.lock and
    the registry disagree, re-importing is the fix, so the message says so."""
    try:
        listed = {d["digest"]: d for d in orjson.loads(raw).get("layers", [])}
    except (orjson.JSONDecodeError, AttributeError, TypeError, KeyError) as exc:
        return f"weight manifest is not valid JSON: {exc}"
    for layer in layers:
        desc = listed.get(layer.digest)
        if desc is None:
            return (
                f"manifest {manifest} does not list layer {layer.digest}; "
                "run 'cogw import' to push it again"
            )
        if desc.get("size") != layer.size:
            return (
                f"layer {layer.digest}: manifest size {desc.get('size')} "
                f"differs from weights.lock size {layer.size}; run 'cogw import' to push it again"
            )
    return None
