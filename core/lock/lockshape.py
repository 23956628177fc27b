"""Which of Cog's two weights.lock shapes a write uses, and converting between them.

Cog v0.19.3 writes ``"source": {...}`` with ``importedAt`` inside; current Cog
(v0.20 and later) writes ``"sources": [...]`` with ``importedAt`` on the
entry. Both keep ``"version": 1`` and neither reads the other's shape (each
sees the other's entries as drift), so cogw must write the shape the team's
Cog reads:

* an existing lockfile with entries keeps its shape (the team chose it);
* a new (or empty) one follows the config: ``model:`` is current Cog,
  ``image:`` is v0.19.3;
* a weight with several sources exists only in the current shape, so a
  project pinned to v0.19.3 is refused with the way out.

Cog has no migration between the shapes; :func:`conversion_plan` is cogw's,
shown before it is applied. Pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from returns.result import Failure, Result, Success

from cogw.core.diagnostics import Diagnostic
from cogw.core.digest import go_quote
from cogw.core.lock.lockfile import FILENAME, Lockfile, Shape, render_lockfile

# What users call the shapes (``cogw lock convert --to NAME``).
SHAPE_NAMES = {"current": Shape.SOURCES, "v0.19.3": Shape.SOURCE}
_LABEL = {Shape.SOURCES: "current Cog (sources list)", Shape.SOURCE: "Cog v0.19.3 (source object)"}


def shape_label(shape: Shape) -> str:
    return _LABEL[shape]


def config_shape(uses_model: bool) -> Shape:
    """The shape a config asks for: ``model:`` is current Cog, ``image:`` v0.19.3."""
    return Shape.SOURCES if uses_model else Shape.SOURCE


def choose_shape(
    lock: Lockfile | None, uses_model: bool, source_counts: Iterable[tuple[str, int]] = ()
) -> Result[Shape, Diagnostic]:
    """The shape the next write uses; refused when a weight has more sources than it holds.

    ``source_counts`` are (weight name, number of declared sources).
    """
    if lock is not None and lock.weights:
        shape, why = lock.shape, f"{FILENAME} is in this shape"
        fix = "run 'cogw lock convert --to current' (and use Cog v0.20 or later)"
    else:
        shape = config_shape(uses_model)
        why = "the config uses " + ("model:" if uses_model else "image:")
        fix = "name the repository with model: instead of image: (Cog v0.20 or later)"
    if shape is Shape.SOURCES:
        return Success(shape)
    several = [(name, count) for name, count in source_counts if count > 1]
    if not several:
        return Success(shape)
    name, count = several[0]
    return Failure(
        Diagnostic(
            summary=f"weight {go_quote(name)} has {count} sources, "
            "which only current Cog's weights.lock shape can record",
            detail=f"the project is pinned to {shape_label(shape)} ({why})",
            subject=FILENAME,
            hint=f"{fix}, or declare one source for this weight",
        )
    )


@dataclass(frozen=True, slots=True)
class Conversion:
    """A previewed ``lock convert``: what changes, and the bytes to write (None: nothing)."""

    source: Shape
    target: Shape
    changes: tuple[str, ...]
    notes: tuple[str, ...]
    data: bytes | None


def conversion_plan(
    lock: Lockfile, target: Shape, uses_model: bool
) -> Result[Conversion, Diagnostic]:
    """Rewrite ``lock`` in ``target``'s shape; entries, digests and times are kept."""
    several = [(e.name, len(e.sources)) for e in lock.weights if e.more_sources]
    if target is Shape.SOURCE and several:
        name, count = several[0]
        return Failure(
            Diagnostic(
                summary=f"weight {go_quote(name)} has {count} sources; "
                "Cog v0.19.3's shape records one",
                subject=FILENAME,
                hint="keep the current shape, or give the weight one source and re-import",
            )
        )
    notes = list(_mismatch_note(target, uses_model))
    if not lock.weights:
        notes.append(f"{FILENAME} has no weights: both shapes are the same bytes")
        return Success(Conversion(lock.shape, target, (), tuple(notes), None))
    if lock.shape is target:
        return Success(Conversion(lock.shape, target, (), tuple(notes), None))
    converted = dataclasses.replace(lock, shape=target)
    changes = tuple(_entry_change(e.name, target) for e in lock.weights)
    return Success(
        Conversion(lock.shape, target, changes, tuple(notes), render_lockfile(converted))
    )


def _entry_change(name: str, target: Shape) -> str:
    if target is Shape.SOURCES:
        return f'{go_quote(name)}: "source" object → "sources" list; importedAt moves to the entry'
    return f'{go_quote(name)}: "sources" list → "source" object; importedAt moves into it'


def _mismatch_note(target: Shape, uses_model: bool) -> Sequence[str]:
    if config_shape(uses_model) is target:
        return ()
    key, reader = ("model:", "current Cog") if uses_model else ("image:", "Cog v0.19.3")
    return (
        f"the config uses {key}, which {reader} reads; {reader} will see every entry of "
        f"a {shape_label(target)} {FILENAME} as changed",
    )


def parse_shape_name(name: str) -> Shape:
    """``current`` or ``v0.19.3`` (the CLI restricts the choice)."""
    return SHAPE_NAMES[name]
