"""Weights with several sources: cog.yaml's list form, merge by path (last declared wins),
and current Cog's change strings, source by source (drift.go, weight_import_plan.go)."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pvector
from returns.result import Failure

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.config.multisource import (
    count_lines,
    fingerprint_changes,
    merge_sources,
    override_lines,
    source_changes,
    spec_changes,
)
from cogw.core.config.weights import SourceSpec, WeightSpec, parse_config, spec_from_entry
from cogw.core.lock.lockfile import Lockfile, LockSource, Shape, WeightEntry
from cogw.core.plan.drift import DriftKind, check_drift
from cogw.core.plan.importplan import config_changes


def f(path: str, digest: str = "sha256:" + "0" * 64, size: int = 1) -> InventoryFile:
    return InventoryFile(path, size, digest)


def src(uri: str, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> SourceSpec:
    return SourceSpec(uri, pvector(include), pvector(exclude))


# ---------------------------------------------------------------- cog.yaml


def config(source: Any) -> dict[str, Any]:
    return {"model": "a/m", "weights": [{"name": "w", "target": "/w", "source": source}]}


def test_source_may_be_a_list_and_each_source_is_normalised_on_its_own() -> None:
    raw = config(
        [{"uri": "weights//base", "include": ["*.bin", " *.json"]}, {"uri": "hf://o/r@main"}]
    )
    (spec,) = parse_config(raw).unwrap().weights
    assert spec.sources == (src("file://./weights/base", ("*.bin", "*.json")), src("hf://o/r"))
    assert spec.uri == "file://./weights/base"


def test_a_one_item_list_is_the_same_as_a_mapping() -> None:
    assert parse_config(config([{"uri": "w"}])) == parse_config(config({"uri": "w"}))


def test_problems_name_the_source_among_several_and_not_for_one() -> None:
    several = parse_config(config([{"uri": "w"}, {"uri": "s3://x", "include": ["!a"]}]))
    assert isinstance(several, Failure)
    fields = [d.summary.split(" ")[1].rstrip(":") for d in several.failure()]
    assert fields == ["weights[0].source[1].include[0]", "weights[0].source[1].uri"]
    one = parse_config(config([{"uri": "w", "include": ["!a"]}]))
    assert isinstance(one, Failure)
    assert one.failure()[0].summary.startswith('invalid weights[0].source.include[0] "!a"')


def test_an_empty_or_malformed_source_list_is_a_schema_error() -> None:
    for source, where in (([], "weights.0.source"), ([{"uri": "w"}, 3], "weights.0.source.1")):
        result = parse_config(config(source))
        assert isinstance(result, Failure)
        assert result.failure()[0].summary.startswith(f'schema error in "{where}"')


# ---------------------------------------------------------------- merging


def test_files_merge_by_path_and_the_last_declared_source_wins() -> None:
    base = [f("a.json", "sha256:" + "1" * 64), f("model.bin", "sha256:" + "2" * 64)]
    patch = [f("model.bin", "sha256:" + "3" * 64), f("tok.json")]
    merged = merge_sources([base, patch])
    assert [(x.path, x.digest[7:8]) for x in merged.files] == [
        ("a.json", "1"),
        ("model.bin", "3"),
        ("tok.json", "0"),
    ]
    assert merged.owners == (0, 1, 1)
    assert [(o.path, o.winner, o.loser) for o in merged.overrides] == [("model.bin", 1, 0)]
    assert [(c.added, c.overridden, c.lost, c.kept) for c in merged.counts] == [
        (2, 0, 1, 1),
        (1, 1, 0, 2),
    ]


def test_override_and_count_lines_say_which_source_overrides_which() -> None:
    sources = [src("file://./base"), src("hf://o/patch")]
    merged = merge_sources([[f("x"), f("y")], [f("x")]])
    assert override_lines("w", sources, merged) == [
        'weight "w": source[1] (hf://o/patch) overrides x'
    ]
    assert count_lines(sources, merged) == [
        "source[0] (file://./base): 2 added, 0 overriding, 1 overridden by later sources",
        "source[1] (hf://o/patch): 0 added, 1 overriding, 0 overridden by later sources",
    ]
    assert count_lines(sources[:1], merge_sources([[f("x")]])) == []


def test_a_digest_two_sources_provide_is_stored_once() -> None:
    same = "sha256:" + "9" * 64
    merged = merge_sources([[f("a", same)], [f("b", same), f("c")]])
    assert merged.unique_digests() == [same, "sha256:" + "0" * 64]


paths = st.lists(st.sampled_from(["a", "b", "c/d", "e"]), max_size=4, unique=True)


@given(st.lists(paths, min_size=1, max_size=4))
def test_merge_keeps_every_path_once_from_its_last_source(per_source: list[list[str]]) -> None:
    inventories = [[f(p, "sha256:" + str(i) * 64) for p in ps] for i, ps in enumerate(per_source)]
    merged = merge_sources(inventories)
    assert [x.path for x in merged.files] == sorted({p for ps in per_source for p in ps})
    for x, owner in zip(merged.files, merged.owners, strict=True):
        assert owner == max(i for i, ps in enumerate(per_source) if x.path in ps)
        assert x.digest == "sha256:" + str(owner) * 64
    assert sum(c.kept for c in merged.counts) == len(merged.files)
    assert sum(c.overridden for c in merged.counts) == len(merged.overrides)


# ---------------------------------------------------------------- change strings


def test_drift_strings_of_current_cog() -> None:
    one = [src("file://./old")]
    assert source_changes(one, [src("file://./new")], quote=False) == [
        "uri: file://./old → file://./new"
    ]
    assert spec_changes("/old-path", one, "/new-path", [src("file://./new")], quote=False) == [
        "target: /old-path → /new-path",
        "uri: file://./old → file://./new",
    ]
    two = [src("file://./a"), src("hf://o/r", exclude=("x",))]
    changed = [src("file://./a"), src("hf://o/s", exclude=("x", "y"))]
    assert source_changes(two, changed, quote=False) == [
        "source[1].uri: hf://o/r → hf://o/s",
        "source[1].exclude: [x] → [x y]",
    ]
    assert source_changes(one, two, quote=False) == ["source count: 1 → 2"]


def test_import_plan_strings_quote_uris_and_targets() -> None:
    assert spec_changes("/a", [src("u1")], "/b", [src("u1"), src("u2")], quote=True) == [
        'target: "/a" → "/b"',
        "source count: 1 → 2",
    ]
    assert source_changes([src("u1"), src("u2")], [src("u1"), src("u3")], quote=True) == [
        'source[1].uri: "u2" → "u3"'
    ]


def test_fingerprint_strings_source_by_source() -> None:
    assert fingerprint_changes(["commit:1"], ["commit:2"]) == ["fingerprint: commit:1 → commit:2"]
    assert fingerprint_changes(["a", "b"], ["a", "c"]) == ["source[1] fingerprint: b → c"]
    assert fingerprint_changes(["a", "b"], ["a"]) == ["source count: 2 → 1"]


def entry(*sources: LockSource) -> WeightEntry:
    first, *more = sources
    return WeightEntry(
        "w", "/w", first, "sha256:" + "1" * 64, "sha256:" + "2" * 64, 1, 1,
        more_sources=pvector(more),
    )  # fmt: skip


def lock_source(uri: str) -> LockSource:
    return LockSource(uri, "commit:1")


def test_drift_compares_source_by_source_in_the_current_shape() -> None:
    recorded = entry(lock_source("file://./a"), lock_source("hf://o/r"))
    lock = Lockfile(weights=pvector([recorded]), shape=Shape.SOURCES)
    wanted = dataclasses.replace(spec_from_entry(recorded), more_sources=pvector([src("hf://o/s")]))
    (result,) = check_drift(lock, [wanted])
    assert result.kind is DriftKind.CONFIG_CHANGED
    assert result.details == "source[1].uri: hf://o/r → hf://o/s"
    fewer = WeightSpec("w", "/w", "file://./a")
    (result,) = check_drift(lock, [fewer])
    assert result.details == "source count: 2 → 1"
    assert check_drift(lock, [spec_from_entry(recorded)]) == pvector()


def test_a_one_source_current_lockfile_puts_the_target_first_as_current_cog() -> None:
    recorded = entry(lock_source("file://./old"))
    wanted = WeightSpec("w", "/new", "file://./new")
    current = Lockfile(weights=pvector([recorded]), shape=Shape.SOURCES)
    old = Lockfile(weights=pvector([recorded]), shape=Shape.SOURCE)
    assert (
        check_drift(current, [wanted])[0].details
        == "target: /w → /new; uri: file://./old → file://./new"
    )
    assert (
        check_drift(old, [wanted])[0].details
        == "uri: file://./old → file://./new; target: /w → /new"
    )


def test_the_import_plan_names_the_changed_source() -> None:
    recorded = entry(lock_source("file://./a"), lock_source("hf://o/r"))
    wanted = dataclasses.replace(spec_from_entry(recorded), more_sources=pvector([src("hf://o/s")]))
    (drift,) = check_drift(Lockfile(weights=pvector([recorded]), shape=Shape.SOURCES), [wanted])
    assert drift.kind is DriftKind.CONFIG_CHANGED  # only a later source moved
    assert drift.fields == ("sources",)
    locked = spec_from_entry(recorded)
    assert config_changes(drift.fields, locked, wanted) == [
        'source[1].uri: "hf://o/r" → "hf://o/s"'
    ]
