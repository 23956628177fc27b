"""OCI image layouts (image-spec ``image-layout.md``): what `cogw export` writes and what
`cogw pull --from oci:DIR` and `cogw push --from oci:DIR` read.

A layout is ``oci-layout`` (the version marker), ``index.json`` (an OCI index with one
manifest descriptor per weight, its tag in ``org.opencontainers.image.ref.name``) and
``blobs/sha256/<hex>`` (every manifest, config blob and layer by digest). The same names
inside a ``.tar`` make an archive. Pure: bytes and records in, bytes and records out; the
shell reads and writes the files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from returns.result import Failure, Result, Success

from cogw.core.artifact.oci import (
    ARTIFACT_TYPE,
    MEDIA_TYPE_MANIFEST,
    Descriptor,
    config_blob,
    manifest_bytes,
    manifest_problems,
)
from cogw.core.artifact.tarformat import standalone_framing
from cogw.core.diagnostics import Diagnostic, Problems, collect, json_object
from cogw.core.digest import hex_of, is_digest, sha256_of
from cogw.core.lock.gojson import go_marshal
from cogw.core.lock.lockfile import MEDIA_TYPE_TAR, LockFile, Lockfile, WeightEntry

LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
BLOBS_DIR = "blobs/sha256"
LAYOUT_BYTES = b'{"imageLayoutVersion":"1.0.0"}'
MEDIA_TYPE_INDEX = "application/vnd.oci.image.index.v1+json"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
SOURCE_PREFIX = "oci:"
MAX_INDEX_BYTES = 64 * 1024 * 1024
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LayoutSource:
    """Where a layout is: a directory, or a tar archive of one."""

    path: str
    is_tar: bool

    @property
    def name(self) -> str:
        return SOURCE_PREFIX + self.path


@dataclass(frozen=True, slots=True)
class LayoutManifest:
    """One manifest the index lists: its tag ("" when it has no ref.name) and descriptor."""

    tag: str
    digest: str
    size: int
    media_type: str = MEDIA_TYPE_MANIFEST


def is_tar_path(path: str) -> bool:
    return path.endswith(".tar")


def parse_layout_source(text: str) -> Result[LayoutSource, Diagnostic]:
    """``oci:DIR`` or ``oci:FILE.tar`` (a ``:TAG`` suffix is not accepted: all tags are used).

    >>> parse_layout_source("oci:/mnt/usb/weights").unwrap()
    LayoutSource(path='/mnt/usb/weights', is_tar=False)
    """
    hint = "give oci:DIR or oci:FILE.tar"
    if not text.startswith(SOURCE_PREFIX) or not text[len(SOURCE_PREFIX) :]:
        return Failure(Diagnostic("not an OCI layout source", subject=text, hint=hint))
    path = text[len(SOURCE_PREFIX) :]
    return Success(LayoutSource(path, is_tar_path(path)))


def blob_path(digest: str) -> str:
    """``blobs/sha256/<hex>``; only a well-formed sha256 digest names a path (no escapes)."""
    if not is_digest(digest):
        raise ValueError(f"invalid digest {digest!r}")
    return f"{BLOBS_DIR}/{hex_of(digest)}"


def index_bytes(manifests: Sequence[LayoutManifest]) -> bytes:
    """The layout's index.json: one descriptor per manifest, sorted by tag then digest, so
    the same weights always give the same bytes."""
    ordered = sorted(manifests, key=lambda m: (m.tag, m.digest))
    return go_marshal(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_INDEX,
            "manifests": [_index_descriptor(m) for m in ordered],
        }
    )


def _index_descriptor(m: LayoutManifest) -> dict[str, object]:
    out: dict[str, object] = {
        "mediaType": m.media_type,
        "digest": m.digest,
        "size": m.size,
        "artifactType": ARTIFACT_TYPE,
    }
    if m.tag:
        out["annotations"] = {ANNOTATION_REF_NAME: m.tag}
    return out


def _descriptor(value: Any, where: str, problems: list[Diagnostic]) -> Descriptor | None:
    if not isinstance(value, dict):
        problems.append(Diagnostic(f"{where}: not a descriptor"))
        return None
    digest, size, media_type = value.get("digest"), value.get("size"), value.get("mediaType")
    if not (isinstance(digest, str) and is_digest(digest)):
        problems.append(Diagnostic(f"{where}: invalid digest {digest!r}"))
    elif not isinstance(size, int) or isinstance(size, bool) or size < 0:
        problems.append(Diagnostic(f"{where}: invalid size {size!r}"))
    elif not isinstance(media_type, str) or not media_type:
        problems.append(Diagnostic(f"{where}: missing media type"))
    else:
        return Descriptor(media_type, size, digest)
    return None


def parse_index(raw: bytes, subject: str) -> Result[tuple[LayoutManifest, ...], Problems]:
    """The manifests a layout's index.json lists, each with its ref.name tag (all problems)."""
    problems: list[Diagnostic] = []
    index = json_object(raw, INDEX_FILE, problems)
    manifests: list[LayoutManifest] = []
    entries = index.get("manifests", []) if index else []
    if not isinstance(entries, list):
        problems.append(Diagnostic(f"{INDEX_FILE}: manifests is not a list"))
        entries = []
    for i, value in enumerate(entries):
        desc = _descriptor(value, f"{INDEX_FILE} manifests[{i}]", problems)
        if desc is None:
            continue
        tag = (value.get("annotations") or {}).get(ANNOTATION_REF_NAME, "")
        manifests.append(LayoutManifest(str(tag), desc.digest, desc.size, desc.media_type))
    if index and not entries:
        problems.append(Diagnostic(f"{INDEX_FILE} lists no manifest"))
    tags = [m.tag for m in manifests if m.tag]
    twice = sorted({t for t in tags if tags.count(t) > 1})
    problems += [Diagnostic(f'{INDEX_FILE}: tag "{t}" names two manifests') for t in twice]
    return collect(tuple(manifests), [_at(p, subject) for p in problems])


def manifest_blobs(raw: bytes, subject: str) -> Result[tuple[Descriptor, ...], Problems]:
    """The blobs a manifest needs in the layout: its config blob, then its layers."""
    problems: list[Diagnostic] = []
    manifest = json_object(raw, "manifest", problems)
    found: list[Descriptor | None] = []
    if manifest:
        found.append(_descriptor(manifest.get("config"), "manifest config", problems))
        layers = manifest.get("layers")
        if not isinstance(layers, list):
            problems.append(Diagnostic("manifest layers is not a list"))
            layers = []
        found += [_descriptor(v, f"manifest layers[{i}]", problems) for i, v in enumerate(layers)]
    blobs = tuple(d for d in found if d is not None)
    return collect(blobs, [_at(p, subject) for p in problems])


def find_manifest(manifests: Iterable[LayoutManifest], ref: str) -> LayoutManifest | None:
    """The manifest ``ref`` (a digest or a tag) names in the index, if any."""
    for m in manifests:
        if ref in (m.digest, m.tag):
            return m
    return None


def unique_blobs(blobs: Iterable[Descriptor]) -> tuple[Descriptor, ...]:
    """Each digest once, first occurrence first: weights that share a layer store it once."""
    seen: set[str] = set()
    out = []
    for d in blobs:
        if d.digest not in seen:
            seen.add(d.digest)
            out.append(d)
    return tuple(out)


def _at(problem: Diagnostic, subject: str) -> Diagnostic:
    return Diagnostic(problem.summary, problem.detail, subject, problem.hint)


def export_entries(
    lock: Lockfile | None, lock_name: str
) -> Result[tuple[WeightEntry, ...], Problems]:
    """The weights `cogw export` writes: every weight of weights.lock (there must be one)."""
    hint = "run 'cogw import' first: a layout is made from imported weights"
    if lock is None:
        return Failure((Diagnostic(f"no {lock_name}", hint=hint),))
    if not lock.weights:
        return Failure((Diagnostic(f"{lock_name} lists no weights", hint=hint),))
    return Success(tuple(lock.weights))


def rebuilt_artifact(entry: WeightEntry) -> tuple[bytes, bytes] | None:
    """The config blob and manifest rebuilt from the lock entry (byte-exact projections),
    when the manifest hashes to the entry's digest; else None (fetch them instead)."""
    if manifest_problems(entry):
        return None
    config = config_blob(entry)
    manifest = manifest_bytes(entry, config)
    return (config, manifest) if sha256_of(manifest) == entry.digest else None


def standalone_file(entry: WeightEntry, layer_digest: str) -> LockFile | None:
    """The one file of an uncompressed one-file layer, whose bytes are a fixed tar frame
    around the file's (so the store can rebuild the layer); None for any other layer."""
    layer = next((x for x in entry.layers if x.digest == layer_digest), None)
    files = [f for f in entry.files if f.layer == layer_digest]
    if layer is None or layer.media_type != MEDIA_TYPE_TAR or len(files) != 1:
        return None
    before, after = standalone_framing(files[0].path, files[0].size)
    return files[0] if len(before) + files[0].size + len(after) == layer.size else None
