"""Which files go into which layer, and how each layer is compressed.

A pure plan (import spec §9.1-9.2): small files are bundled into gzip layers,
every large file gets its own layer, stored uncompressed when its extension
says gzip would only burn CPU. Also names the packer's "envelope format", the
digest that says which packing rules and compressor produced a lockfile's
layer digests. Does not know tar bytes (``cogw.core.artifact.tarformat``) or file
contents; the compressor identity is supplied by the shell.

The rules are Cog's exactly (its ``packer.go`` and ``envelope.go``), quirks included: a
bundle holding one file is compressed at the large-file level (Cog picks the level by
file count, §17 #5), and the incompressible extensions are Cog's seven. With Go's
compress/flate bytes (``GO_FLATE``) the layers, and so the envelope format, are Cog's;
with another deflate the envelope also names the compressor and producer (§10, §17 #13).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pyrsistent import PVector, pvector

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.digest import sha256_of
from cogw.core.lock.gojson import go_marshal
from cogw.core.lock.lockfile import MEDIA_TYPE_TAR, MEDIA_TYPE_TAR_GZIP, LockLayer, WeightEntry

MIB = 1 << 20
ENVELOPE_REVISION = 1
PRODUCER = "cogw"
# The compressor identity of cogw/_goflate.c, whose DEFLATE bytes are Go compress/flate's
# (the algorithm Go used up to 1.26), so its gzip layers are the ones Cog packs.
GO_FLATE = "go-compress/flate"

# Cog's list (packer.go ``incompressibleExts``): a large file with one of these
# extensions gets a raw tar layer, any other large file is gzipped.
INCOMPRESSIBLE_EXTS = frozenset(
    {".safetensors", ".bin", ".gguf", ".onnx", ".parquet", ".pt", ".pth"}
)


@dataclass(frozen=True, slots=True)
class PackOptions:
    """Packing knobs; the defaults are Cog's (64 MiB / 256 MiB / 9 / -1, its extensions)."""

    bundle_file_max: int = 64 * MIB  # files smaller than this are bundled
    bundle_size_max: int = 256 * MIB  # cap on file bytes per bundle
    gzip_level_bundle: int = 9
    gzip_level_large: int = -1  # Go's DefaultCompression (flate level 6), as Cog records it
    incompressible_exts: frozenset[str] = INCOMPRESSIBLE_EXTS

    def __post_init__(self) -> None:
        if self.bundle_file_max <= 0 or self.bundle_size_max <= 0:
            raise ValueError("bundle limits must be positive")
        for level in (self.gzip_level_bundle, self.gzip_level_large):
            if not -1 <= level <= 9:
                raise ValueError(f"gzip level {level} is outside -1..9")


@dataclass(frozen=True, slots=True)
class LayerPlan:
    """One layer to build: its files in tar order, media type, gzip level (None = raw tar).

    ``reuse`` is the recorded layer (digest and sizes, from weights.lock) this
    one is known to reproduce, so an import need not pack it to learn its
    digest; None when the import must pack it.
    """

    files: PVector[InventoryFile]
    media_type: str
    gzip_level: int | None
    reuse: LockLayer | None = None

    @property
    def file_bytes(self) -> int:
        return sum(f.size for f in self.files)


DEFAULT_OPTIONS = PackOptions()


def file_ext(path: str) -> str:
    """Go's ``strings.ToLower(filepath.Ext(path))``: from the last "." of the last element.

    >>> file_ext("a/model.Safetensors"), file_ext("a.b/README"), file_ext(".gitattributes")
    ('.safetensors', '', '.gitattributes')
    """
    base = posixpath.basename(path)
    dot = base.rfind(".")
    return base[dot:].lower() if dot >= 0 else ""


def _bundles(small: Sequence[InventoryFile], options: PackOptions) -> list[LayerPlan]:
    """Greedy in path order: start a new bundle when the next file would pass the cap."""
    groups: list[list[InventoryFile]] = []
    current_size = 0
    for f in sorted(small, key=lambda f: f.path):
        if not groups or (current_size > 0 and current_size + f.size > options.bundle_size_max):
            groups.append([])
            current_size = 0
        groups[-1].append(f)
        current_size += f.size
    return [
        LayerPlan(pvector(group), MEDIA_TYPE_TAR_GZIP, gzip_level(group, options))
        for group in groups
    ]


def gzip_level(files: Sequence[InventoryFile], options: PackOptions = DEFAULT_OPTIONS) -> int:
    """Cog's choice: the bundle level for a layer of several files, else the large-file
    level, so a bundle holding one small file gets the large-file level too (§17 #5)."""
    return options.gzip_level_bundle if len(files) > 1 else options.gzip_level_large


def is_standalone_raw(path: str, size: int, options: PackOptions = DEFAULT_OPTIONS) -> bool:
    """True when :func:`plan_layers` gives this file its own uncompressed layer.

    Such a layer's digest is a fixed tar frame around the file bytes, so a
    source can compute it in the same read as the file digest.

    >>> is_standalone_raw("m.safetensors", 64 * MIB), is_standalone_raw("m.json", 64 * MIB)
    (True, False)
    """
    return size >= options.bundle_file_max and file_ext(path) in options.incompressible_exts


def _standalone(f: InventoryFile, options: PackOptions) -> LayerPlan:
    if is_standalone_raw(f.path, f.size, options):
        return LayerPlan(pvector([f]), MEDIA_TYPE_TAR, None)
    return LayerPlan(pvector([f]), MEDIA_TYPE_TAR_GZIP, gzip_level([f], options))


def plan_layers(
    files: Sequence[InventoryFile], options: PackOptions = DEFAULT_OPTIONS
) -> PVector[LayerPlan]:
    """Bundles first (small files, path order), then one layer per large file (path order).

    Deterministic for a given (files, options); an empty input gives an empty plan.
    Duplicate paths are a bug in the caller (the inventory is keyed by path).
    """
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        raise ValueError("plan_layers: duplicate file paths")
    small = [f for f in files if f.size < options.bundle_file_max]
    large = sorted((f for f in files if f.size >= options.bundle_file_max), key=lambda f: f.path)
    return pvector(_bundles(small, options) + [_standalone(f, options) for f in large])


def envelope_fields(options: PackOptions) -> dict[str, object]:
    """Cog's envelope fields for ``options`` (its JSON struct order, which is alphabetical)."""
    return {
        "bundleFileMax": options.bundle_file_max,
        "bundleSizeMax": options.bundle_size_max,
        "gzipLevelBundle": options.gzip_level_bundle,
        "gzipLevelLarge": options.gzip_level_large,
        "incompressibleExts": sorted(options.incompressible_exts),
        "mediaTypeCompressed": MEDIA_TYPE_TAR_GZIP,
        "mediaTypeRaw": MEDIA_TYPE_TAR,
        "revision": ENVELOPE_REVISION,
    }


def envelope_extras(compressor: str) -> dict[str, object]:
    """What cogw adds to Cog's envelope fields for gzip layers from ``compressor``.

    Nothing for ``GO_FLATE``: its layers are byte for byte Cog's, so the envelope is Cog's
    and each tool takes the other's fast path. Any other deflate (zlib's, when the C
    extension could not be built) gives other gzip bytes, so its envelope names it and
    cogw, and neither Cog nor a cogw with another compressor reuses its layers.

    >>> envelope_extras(GO_FLATE)
    {}
    >>> envelope_extras("zlib-1.2.13")
    {'compressor': 'zlib-1.2.13', 'producer': 'cogw'}
    """
    if compressor == GO_FLATE:
        return {}
    return {"compressor": compressor, "producer": PRODUCER}


def envelope_json(options: PackOptions, compressor: str) -> bytes:
    """Compact Go JSON of Cog's fields plus ``envelope_extras``, keys sorted (Cog's order)."""
    fields = envelope_fields(options) | envelope_extras(compressor)
    return go_marshal(dict(sorted(fields.items())))


def envelope_format(options: PackOptions, compressor: str) -> str:
    """The digest stamped as ``envelopeFormat``: it changes whenever layer bytes could.

    ``compressor`` names the deflate implementation (``GO_FLATE``, or e.g.
    "zlib-1.2.13"): under Go's the digest is Cog's own, under another the same
    options give other gzip bytes, so such a lockfile must not take the fast path.
    """
    return sha256_of(envelope_json(options, compressor))


def _layer_key(files: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(files))


def reusable_layers(
    plans: Sequence[LayerPlan], existing: WeightEntry | None, same_envelope: bool
) -> list[LockLayer] | None:
    """Cog's fast path: the recorded layers, in plan order, when this packer made them
    (``same_envelope``) and every planned layer holds exactly the (path, digest) pairs
    and media type of a recorded layer; None when any layer must be packed again."""
    if existing is None or not same_envelope or len(existing.layers) != len(plans):
        return None
    by_key = {
        _layer_key((f.path, f.digest) for f in existing.files if f.layer == layer.digest): layer
        for layer in existing.layers
    }
    reused = []
    for plan in plans:
        found = by_key.get(_layer_key((f.path, f.digest) for f in plan.files))
        if found is None or found.media_type != plan.media_type:
            return None
        reused.append(found)
    return reused
