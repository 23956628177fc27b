"""Hypothesis strategies for weights.lock values, shared by every test that needs one.

Everything generated here is *canonical and valid*: ``parse_lockfile`` accepts
``render_lockfile(x)`` and gives ``x`` back. Entries come from ``make_entry``,
so set digests and sizes are consistent with the files and layers. Strings
deliberately include HTML characters, U+2028 and non-ASCII text, which Go's
JSON encoder escapes (or not) in its own way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from hypothesis import strategies as st
from pyrsistent import pvector

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.artifact.packing import LayerPlan
from cogw.core.config.weights import WeightSpec
from cogw.core.lock.lockfile import (
    MEDIA_TYPES,
    ZERO_TIME,
    LockFile,
    Lockfile,
    LockLayer,
    LockSource,
    Shape,
    WeightEntry,
    make_entry,
)
from cogw.core.plan.importplan import ImportStatus, ImportWeight

_HEX = "0123456789abcdef"
# Printable text: no lone surrogates (they cannot be UTF-8) and no control characters.
_TEXT_CHARS = st.characters(exclude_categories=("Cs", "Cc"))
_SPICY = st.sampled_from(["<", ">", "&", "\u2028", "\u2029", "é", "😀", '"', "\\", " "])


def digests() -> st.SearchStrategy[str]:
    """Valid ``sha256:<64 lowercase hex>`` digests."""
    return st.text(_HEX, min_size=64, max_size=64).map(lambda h: "sha256:" + h)


def texts(max_size: int = 16) -> st.SearchStrategy[str]:
    """Free text for URIs, fingerprints and patterns, biased towards characters Go escapes."""
    return st.text(st.one_of(_TEXT_CHARS, _SPICY), max_size=max_size)


_NAME_WORDS = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)


def weight_names() -> st.SearchStrategy[str]:
    """Names that satisfy cog.yaml's rule ``^[a-z0-9]+(?:[._-][a-z0-9]+)*$``."""
    tails = st.lists(st.tuples(st.sampled_from("._-"), _NAME_WORDS), max_size=2)
    return st.tuples(_NAME_WORDS, tails).map(lambda t: t[0] + "".join(s + w for s, w in t[1]))


def path_components() -> st.SearchStrategy[str]:
    """One safe path component: no "/", backslash, control character, "." or ".."."""
    chars = st.one_of(
        st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="/\\"),
        st.sampled_from(["<", "&", "é", "😀", " ", "."]),
    )
    return st.text(chars, min_size=1, max_size=10).filter(lambda c: c not in (".", ".."))


def file_paths() -> st.SearchStrategy[str]:
    """Safe weight-relative file paths (``paths.path_error`` accepts them)."""
    return st.lists(path_components(), min_size=1, max_size=3).map("/".join)


@st.composite
def imported_at_strings(draw: st.DrawFn) -> str:
    """RFC 3339 UTC times as Go writes them: fraction trimmed of trailing zeros."""
    if draw(st.booleans()):
        return ZERO_TIME
    year = draw(st.integers(1, 9999))
    month, day = draw(st.integers(1, 12)), draw(st.integers(1, 28))
    hour, minute, second = (
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 59)),
    )
    nanos = draw(st.integers(0, 999_999_999))
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{fraction}Z"


@st.composite
def lock_sources(draw: st.DrawFn) -> LockSource:
    patterns = st.lists(texts(8), max_size=3).map(sorted)
    return LockSource(
        uri=draw(texts()),
        fingerprint=draw(texts()),
        include=pvector(draw(patterns)),
        exclude=pvector(draw(patterns)),
        imported_at=draw(imported_at_strings()),
    )


@st.composite
def lock_layers(draw: st.DrawFn) -> LockLayer:
    return LockLayer(
        digest=draw(digests()),
        media_type=draw(st.sampled_from(sorted(MEDIA_TYPES))),
        size=draw(st.integers(0, 2**40)),
        size_uncompressed=draw(st.integers(0, 2**40)),
    )


def _without_dir_conflicts(paths: Sequence[str]) -> list[str]:
    """Drop paths that would also have to be a directory of another path."""
    chosen = set(paths)
    dirs = {"/".join(p.split("/")[:i]) for p in chosen for i in range(1, p.count("/") + 1)}
    return sorted(chosen - dirs)


@st.composite
def weight_entries(
    draw: st.DrawFn, name: str | None = None, target: str | None = None
) -> WeightEntry:
    """A canonical, valid entry; every file sits in one of the entry's layers."""
    layers = draw(st.lists(lock_layers(), min_size=1, max_size=3, unique_by=lambda la: la.digest))
    paths = _without_dir_conflicts(draw(st.lists(file_paths(), max_size=6, unique=True)))
    files = [
        LockFile(
            path=path,
            size=draw(st.integers(0, 2**40)),
            digest=draw(digests()),
            layer=draw(st.sampled_from(layers)).digest,
        )
        for path in paths
    ]
    entry_name = name if name is not None else draw(weight_names())
    return make_entry(
        name=entry_name,
        target=target if target is not None else f"/src/weights/{entry_name}",
        source=draw(lock_sources()),
        digest=draw(st.one_of(st.just(""), digests())),
        files=files,
        layers=layers,
    )


def _later_sources(draw: st.DrawFn) -> list[LockSource]:
    """Sources after the first: the entry's import time is the first one's."""
    later = draw(st.lists(lock_sources(), max_size=2))
    return [dataclasses.replace(s, imported_at=ZERO_TIME) for s in later]


@st.composite
def lockfiles(draw: st.DrawFn, shape: Shape | None = None, max_weights: int = 3) -> Lockfile:
    """Canonical, valid lockfiles with unique names and unique targets.

    ``shape=Shape.SOURCES`` with an empty draw cannot round-trip (nothing in
    the bytes shows the layout), so callers forcing it should pass max_weights >= 1
    and filter on ``weights``.
    """
    names = draw(st.lists(weight_names(), max_size=max_weights, unique=True))
    root = "/" + draw(st.lists(path_components(), min_size=1, max_size=2).map("/".join))
    entries = [draw(weight_entries(name=n, target=f"{root}/{n}")) for n in names]
    if shape is None:
        # An empty file shows no layout; it reads back as the v0.19.3 one.
        shape = draw(st.sampled_from(list(Shape))) if entries else Shape.SOURCE
    if shape is Shape.SOURCES:
        # Only current Cog's layout holds several sources per weight.
        entries = [
            dataclasses.replace(e, more_sources=pvector(_later_sources(draw))) for e in entries
        ]
    return Lockfile(
        envelope_format=draw(st.one_of(st.just(""), digests())),
        weights=pvector(entries),
        shape=shape,
    )


@st.composite
def import_weights(draw: st.DrawFn) -> ImportWeight:
    """Import steps whose layer plan holds every file exactly once, some layers reused."""
    paths = _without_dir_conflicts(draw(st.lists(file_paths(), min_size=1, max_size=6)))
    files = [InventoryFile(p, draw(st.integers(0, 2**40)), draw(digests())) for p in paths]
    cuts = sorted(draw(st.sets(st.integers(1, len(files) - 1), max_size=3))) if files[1:] else []
    groups = [files[a:b] for a, b in zip([0, *cuts], [*cuts, len(files)], strict=True)]
    layers = [
        LayerPlan(
            pvector(group),
            draw(st.sampled_from(sorted(MEDIA_TYPES))),
            draw(st.one_of(st.none(), st.integers(-1, 9))),
            draw(st.one_of(st.none(), lock_layers())),
        )
        for group in groups
    ]
    name = draw(weight_names())
    spec = WeightSpec(name, f"/src/weights/{name}", draw(texts()))
    return ImportWeight(
        weight=name,
        spec=spec,
        status=draw(st.sampled_from([s for s in ImportStatus if s is not ImportStatus.UNCHANGED])),
        changes=pvector(draw(st.lists(texts(), max_size=2))),
        fingerprint=draw(texts()),
        files=pvector(files),
        layers=pvector(layers),
        added=draw(st.integers(0, 10)),
        removed=draw(st.integers(0, 10)),
        changed=draw(st.integers(0, 10)),
        bytes_to_ingest=draw(st.integers(0, 2**40)),
    )
