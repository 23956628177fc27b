"""Which weights.lock shape a write uses, and converting between Cog's two shapes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from returns.result import Failure, Success

from cogw.core.lock.lockfile import Lockfile, Shape, entries_equal, parse_lockfile, render_lockfile
from cogw.core.lock.lockshape import choose_shape, config_shape, conversion_plan
from tests.strategies import lockfiles

GOLDEN = Path(__file__).parent / "golden"
OLD = GOLDEN / "resnet.weights.lock"
CURRENT = GOLDEN / "cog-head-managed-weights.sources.weights.lock"


def read(path: Path) -> Lockfile:
    return parse_lockfile(path.read_bytes()).unwrap()


def test_a_new_lockfile_follows_the_config() -> None:
    assert config_shape(uses_model=True) is Shape.SOURCES
    assert config_shape(uses_model=False) is Shape.SOURCE
    assert choose_shape(None, uses_model=True) == Success(Shape.SOURCES)
    assert choose_shape(None, uses_model=False) == Success(Shape.SOURCE)
    # An empty lockfile shows no shape: the config decides.
    assert choose_shape(Lockfile(shape=Shape.SOURCE), uses_model=True) == Success(Shape.SOURCES)


@pytest.mark.parametrize("uses_model", [True, False])
def test_an_existing_lockfile_keeps_its_shape(uses_model: bool) -> None:
    assert choose_shape(read(OLD), uses_model) == Success(Shape.SOURCE)
    assert choose_shape(read(CURRENT), uses_model) == Success(Shape.SOURCES)


def test_several_sources_need_the_current_shape() -> None:
    counts = [("one", 1), ("multi", 3)]
    assert choose_shape(None, True, counts) == Success(Shape.SOURCES)
    assert choose_shape(read(CURRENT), False, counts) == Success(Shape.SOURCES)
    refused = choose_shape(read(OLD), True, counts)
    assert isinstance(refused, Failure)
    problem = refused.failure()
    assert '"multi" has 3 sources' in problem.summary
    assert "weights.lock is in this shape" in problem.detail
    assert "cogw lock convert --to current" in problem.hint
    pinned = choose_shape(None, False, counts)
    assert isinstance(pinned, Failure)
    assert "image:" in pinned.failure().detail


def test_converting_v0_19_3_to_current_moves_imported_at_and_keeps_everything_else() -> None:
    old = read(OLD)
    conversion = conversion_plan(old, Shape.SOURCES, uses_model=True).unwrap()
    assert conversion.source is Shape.SOURCE and conversion.target is Shape.SOURCES
    assert conversion.changes == (
        '"resnet50": "source" object → "sources" list; importedAt moves to the entry',
    )
    assert conversion.notes == ()
    assert conversion.data is not None
    entry = orjson.loads(conversion.data)["weights"][0]
    assert list(entry) == [
        "name", "target", "sources", "importedAt", "digest", "setDigest",
        "size", "sizeCompressed", "files", "layers",
    ]  # fmt: skip
    assert entry["importedAt"] == old.weights[0].source.imported_at
    converted = parse_lockfile(conversion.data).unwrap()
    assert converted.shape is Shape.SOURCES
    assert converted.weights == old.weights  # times included


def test_converting_there_and_back_gives_the_original_bytes() -> None:
    for path, there in ((OLD, Shape.SOURCES), (CURRENT, Shape.SOURCE)):
        original = read(path)
        forth = conversion_plan(original, there, uses_model=True).unwrap()
        assert forth.data is not None
        back = conversion_plan(parse_lockfile(forth.data).unwrap(), original.shape, True).unwrap()
        assert back.data == path.read_bytes()


def test_the_v0_19_3_golden_converted_equals_current_cogs_file_of_the_same_weight() -> None:
    converted = conversion_plan(read(OLD), Shape.SOURCES, True).unwrap()
    assert converted.data is not None
    ours = parse_lockfile(converted.data).unwrap().weights[0]
    cogs = read(GOLDEN / "resnet-managed-weights.sources.weights.lock").weights[0]
    assert entries_equal(ours, cogs)


def test_converting_to_the_shape_it_has_writes_nothing() -> None:
    conversion = conversion_plan(read(CURRENT), Shape.SOURCES, uses_model=True).unwrap()
    assert conversion.data is None and conversion.changes == ()


def test_an_empty_lockfile_has_nothing_to_convert() -> None:
    conversion = conversion_plan(Lockfile(), Shape.SOURCES, uses_model=True).unwrap()
    assert conversion.data is None
    assert "no weights" in conversion.notes[0]


def test_converting_against_the_config_says_which_cog_will_see_drift() -> None:
    conversion = conversion_plan(read(CURRENT), Shape.SOURCE, uses_model=True).unwrap()
    (note,) = conversion.notes
    assert "model:" in note and "current Cog" in note


def test_several_sources_cannot_go_to_v0_19_3() -> None:
    lock = read(CURRENT)
    multi = dataclasses.replace(
        lock.weights[0], more_sources=lock.weights[0].more_sources.append(lock.weights[1].source)
    )
    refused = conversion_plan(
        dataclasses.replace(lock, weights=lock.weights.set(0, multi)), Shape.SOURCE, True
    )
    assert isinstance(refused, Failure)
    assert "has 2 sources" in refused.failure().summary


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lockfiles())
def test_any_lockfile_converts_without_loss(lock: Lockfile) -> None:
    target = Shape.SOURCE if lock.shape is Shape.SOURCES else Shape.SOURCES
    result = conversion_plan(lock, target, uses_model=False)
    if any(e.more_sources for e in lock.weights) and target is Shape.SOURCE:
        assert isinstance(result, Failure)
        return
    conversion = result.unwrap()
    data = conversion.data if conversion.data is not None else render_lockfile(lock)
    assert parse_lockfile(data).unwrap().weights == lock.weights
