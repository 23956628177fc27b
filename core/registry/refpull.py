"""Pulling a weight by reference, without a project: what a registry artifact says to fetch.

A weight manifest plus its config blob list every file (path, size, digest, layer) and every
layer (digest, size, media type), so together they are a lock entry: ``entry_from_artifact``
builds that synthetic ``WeightEntry`` (checked as strictly as weights.lock), and the normal
pull planner and runner fetch it. ``weights_in_index`` picks the weight manifests out of a Cog
bundle's OCI index (``artifactType`` ``application/vnd.cog.weight.v1``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from pyrsistent import pvector
from returns.result import Failure, Result, Success

from cogw.core.artifact.oci import (
    ANNOTATION_NAME,
    ANNOTATION_SET_DIGEST,
    ANNOTATION_SIZE_UNCOMPRESSED,
    ANNOTATION_TARGET,
    ARTIFACT_TYPE,
    MEDIA_TYPE_CONFIG,
)
from cogw.core.diagnostics import Diagnostic, Problems, collect, json_object
from cogw.core.digest import is_digest
from cogw.core.lock.lockfile import MEDIA_TYPES, LockFile, LockLayer, LockSource, WeightEntry
from cogw.core.lock.setdigest import set_digest_of
from cogw.core.paths import path_error
from cogw.core.registry.reference import Repository, parse_repository

MEDIA_TYPE_INDEX = "application/vnd.oci.image.index.v1+json"
MAX_CONFIG_BYTES = 64 * 1024 * 1024
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True, slots=True)
class PullReference:
    repository: Repository
    ref: str  # a digest or a tag

    @property
    def name(self) -> str:
        sep = "@" if is_digest(self.ref) else ":"
        return f"{self.repository.name}{sep}{self.ref}"


def looks_like_reference(arg: str) -> bool:
    """Weight names never contain "/"; a registry reference always does."""
    return "/" in arg


def parse_pull_reference(text: str) -> Result[PullReference, Diagnostic]:
    """``REGISTRY/REPO@sha256:…`` or ``REGISTRY/REPO:TAG`` (a tag is required: no "latest")."""
    name, at, digest = text.partition("@")
    tag = ""
    if not at:
        colon = name.rfind(":")
        if colon > name.rfind("/"):
            name, tag = name[:colon], name[colon + 1 :]
    hint = "give REGISTRY/REPO@sha256:<digest> or REGISTRY/REPO:TAG"
    if at and not is_digest(digest):
        return Failure(Diagnostic(f'invalid digest "{digest}"', subject=text, hint=hint))
    if not at and not _TAG.fullmatch(tag):
        return Failure(Diagnostic("reference needs a digest or a tag", subject=text, hint=hint))
    match parse_repository(name):
        case Success(repo):
            return Success(PullReference(repo, digest if at else tag))
        case Failure(message):
            return Failure(Diagnostic(str(message), subject=text, hint=hint))
    raise AssertionError("unreachable")


def is_index(raw: bytes) -> bool:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return isinstance(value, dict) and (
        value.get("mediaType") == MEDIA_TYPE_INDEX or "manifests" in value
    )


def weights_in_index(raw: bytes, subject: str) -> Result[tuple[str, ...], Problems]:
    """The digests of the weight manifests an OCI index lists, in its order."""
    problems: list[Diagnostic] = []
    index = json_object(raw, "index", problems)
    manifests = index.get("manifests", [])
    digests = tuple(
        str(m.get("digest"))
        for m in manifests
        if isinstance(m, dict) and m.get("artifactType") == ARTIFACT_TYPE
    )
    if not problems and not digests:
        problems.append(Diagnostic(f"index lists no weight ({ARTIFACT_TYPE})"))
    problems += [Diagnostic(f'invalid digest "{d}" in index') for d in digests if not is_digest(d)]
    return collect(digests, [_with_subject(p, subject) for p in problems])


def config_size(manifest_raw: bytes) -> int | None:
    """The size a manifest gives its config blob; None when it gives no usable one.

    >>> config_size(b'{"config": {"size": 12}}'), config_size(b'{"config": {"size": -1}}')
    (12, None)
    """
    try:
        config = orjson.loads(manifest_raw).get("config", {})
    except (orjson.JSONDecodeError, AttributeError):
        return None
    size = config.get("size") if isinstance(config, dict) else None
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None


def config_digest(manifest_raw: bytes) -> str | None:
    """The config blob a weight manifest names (None if it names no Cog weight config)."""
    try:
        config = orjson.loads(manifest_raw).get("config", {})
    except (orjson.JSONDecodeError, AttributeError):
        return None
    if not isinstance(config, dict) or config.get("mediaType") != MEDIA_TYPE_CONFIG:
        return None
    digest = config.get("digest")
    return digest if isinstance(digest, str) and is_digest(digest) else None


def _layers(manifest: dict[str, Any], problems: list[Diagnostic]) -> list[LockLayer]:
    layers = []
    for i, desc in enumerate(manifest.get("layers") or []):
        digest, size = desc.get("digest"), desc.get("size")
        media_type = desc.get("mediaType")
        unpacked = (desc.get("annotations") or {}).get(ANNOTATION_SIZE_UNCOMPRESSED, "0")
        if not (isinstance(digest, str) and is_digest(digest)):
            problems.append(Diagnostic(f"layer {i}: invalid digest {digest!r}"))
        elif not isinstance(size, int) or size <= 0:
            problems.append(Diagnostic(f"layer {i}: invalid size {size!r}"))
        elif media_type not in MEDIA_TYPES:
            problems.append(Diagnostic(f"layer {i}: unsupported media type {media_type!r}"))
        else:
            n = int(unpacked) if str(unpacked).isdigit() else 0
            layers.append(LockLayer(digest, media_type, size, n))
    if not layers and not problems:
        problems.append(Diagnostic("manifest lists no layers"))
    return layers


def _files(config: dict[str, Any], layers: set[str], problems: list[Diagnostic]) -> list[LockFile]:
    files = []
    for i, f in enumerate(config.get("files") or []):
        path, size, digest, layer = (f.get(k) for k in ("path", "size", "digest", "layer"))
        reason = path_error(path) if isinstance(path, str) else "file path is missing"
        if reason is None and not (isinstance(digest, str) and is_digest(digest)):
            reason = f"invalid digest {digest!r}"
        if reason is None and (not isinstance(size, int) or size < 0):
            reason = f"invalid size {size!r}"
        if reason is None and layer not in layers:
            reason = f"layer {layer!r} is not in the manifest"
        if reason is not None:
            problems.append(Diagnostic(f"config files[{i}]: {reason}"))
            continue
        files.append(LockFile(path, size, digest, layer))
    if not files and not problems:
        problems.append(Diagnostic("config blob lists no files"))
    return files


def entry_from_artifact(
    manifest_raw: bytes, manifest_digest: str, config_raw: bytes, subject: str
) -> Result[WeightEntry, Problems]:
    """The lock entry a weight manifest and its config blob describe (every problem at once)."""
    problems: list[Diagnostic] = []
    manifest = json_object(manifest_raw, "manifest", problems)
    config = json_object(config_raw, "config blob", problems)
    annotations = manifest.get("annotations") or {}
    name = config.get("name") or annotations.get(ANNOTATION_NAME, "")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problems.append(Diagnostic(f"invalid weight name {name!r}"))
    layers = _layers(manifest, problems)
    files = _files(config, {layer.digest for layer in layers}, problems)
    entry = WeightEntry(
        name=str(name),
        target=str(config.get("target") or annotations.get(ANNOTATION_TARGET, "")),
        source=LockSource(uri=subject, fingerprint=""),
        digest=manifest_digest,
        set_digest=str(config.get("setDigest") or annotations.get(ANNOTATION_SET_DIGEST, "")),
        size=sum(f.size for f in files),
        size_compressed=sum(layer.size for layer in layers),
        files=pvector(sorted(files, key=lambda f: f.path)),
        layers=pvector(layers),
    )
    if files and entry.set_digest and set_digest_of(files) != entry.set_digest:
        problems.append(Diagnostic("the files do not match the weight's set digest"))
    return collect(entry, [_with_subject(p, subject) for p in problems])


def _with_subject(problem: Diagnostic, subject: str) -> Diagnostic:
    return Diagnostic(problem.summary, problem.detail, subject, problem.hint)


def duplicate_names(entries: list[WeightEntry]) -> list[str]:
    seen: set[str] = set()
    return [e.name for e in entries if e.name in seen or seen.add(e.name)]  # type: ignore[func-returns-value]
