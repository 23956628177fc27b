"""Drift between config and lockfile: Cog's drift_test.go cases, plus the orphan fix."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pvector

from cogw.core.config import WeightSpec
from cogw.core.drift import DriftKind, DriftResult, check_drift
from cogw.core.lockfile import Lockfile, LockSource, WeightEntry

PENDING, ORPHANED, CHANGED = DriftKind.PENDING, DriftKind.ORPHANED, DriftKind.CONFIG_CHANGED


def locked(
    name: str, target: str, uri: str, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()
) -> WeightEntry:
    return WeightEntry(
        name=name,
        target=target,
        source=LockSource(
            uri=uri,
            fingerprint="sha256:" + "0" * 64,
            include=pvector(include),
            exclude=pvector(exclude),
        ),
        digest="sha256:" + "1" * 64,
        set_digest="sha256:" + "2" * 64,
        size=1,
        size_compressed=1,
    )


def lockfile(*entries: WeightEntry) -> Lockfile:
    return Lockfile(weights=pvector(entries))


def spec(
    name: str, uri: str, target: str, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()
) -> WeightSpec:
    return WeightSpec(name, target, uri, pvector(include), pvector(exclude))


# Ported from replicate/cog pkg/weights/lockfile/drift_test.go (TestCheckDrift).
COG_CASES = [
    (
        "no drift when config matches lockfile",
        lockfile(
            locked("model-a", "/weights/a", "file://./a"),
            locked("model-b", "/weights/b", "file://./b", ("*.bin",), ("README*",)),
        ),
        [
            spec("model-a", "file://./a", "/weights/a"),
            spec("model-b", "file://./b", "/weights/b", ("*.bin",), ("README*",)),
        ],
        [],
    ),
    (
        "orphaned: lockfile entry not in config",
        lockfile(
            locked("kept", "/kept", "file://./kept"),
            locked("removed", "/removed", "file://./removed"),
        ),
        [spec("kept", "file://./kept", "/kept")],
        [DriftResult("removed", ORPHANED, "", "/removed")],
    ),
    (
        "pending: config weight not in lockfile",
        lockfile(locked("existing", "/existing", "file://./existing")),
        [
            spec("existing", "file://./existing", "/existing"),
            spec("new-weight", "file://./new", "/new"),
        ],
        [DriftResult("new-weight", PENDING, "", "/new")],
    ),
    (
        "config-changed: URI differs",
        lockfile(locked("w", "/w", "file://./old")),
        [spec("w", "file://./new", "/w")],
        [DriftResult("w", CHANGED, "uri: file://./old → file://./new", "/w", ("uri",))],
    ),
    (
        "config-changed: target differs",
        lockfile(locked("w", "/old-path", "file://./w")),
        [spec("w", "file://./w", "/new-path")],
        [DriftResult("w", CHANGED, "target: /old-path → /new-path", "/new-path", ("target",))],
    ),
    (
        "config-changed: include differs",
        lockfile(locked("w", "/w", "file://./w", ("*.bin",))),
        [spec("w", "file://./w", "/w", ("*.safetensors",))],
        [DriftResult("w", CHANGED, "include: [*.bin] → [*.safetensors]", "/w", ("include",))],
    ),
    (
        "config-changed: exclude differs",
        lockfile(locked("w", "/w", "file://./w")),
        [spec("w", "file://./w", "/w", (), ("README*",))],
        [DriftResult("w", CHANGED, "exclude: [] → [README*]", "/w", ("exclude",))],
    ),
    (
        "config-changed: multiple fields differ",
        lockfile(locked("w", "/old-path", "file://./old")),
        [spec("w", "file://./new", "/new-path")],
        [
            DriftResult(
                "w",
                CHANGED,
                "uri: file://./old → file://./new; target: /old-path → /new-path",
                "/new-path",
                ("uri", "target"),
            )
        ],
    ),
    ("nil lockfile with no config weights", None, [], []),
    (
        "nil lockfile with config weights: all pending",
        None,
        [spec("a", "file://./a", "/a"), spec("b", "file://./b", "/b")],
        [DriftResult("a", PENDING, "", "/a"), DriftResult("b", PENDING, "", "/b")],
    ),
    (
        "empty lockfile with config weights: all pending",
        lockfile(),
        [spec("a", "file://./a", "/a")],
        [DriftResult("a", PENDING, "", "/a")],
    ),
    (
        "multiple drift types in one check",
        lockfile(
            locked("ok", "/ok", "file://./ok"),
            locked("stale", "/stale", "file://./old-uri"),
            locked("orphan", "/orphan", "file://./orphan"),
        ),
        [
            spec("ok", "file://./ok", "/ok"),
            spec("stale", "file://./new-uri", "/stale"),
            spec("brand-new", "file://./brand-new", "/brand-new"),
        ],
        [
            DriftResult(
                "stale", CHANGED, "uri: file://./old-uri → file://./new-uri", "/stale", ("uri",)
            ),
            DriftResult("brand-new", PENDING, "", "/brand-new"),
            DriftResult("orphan", ORPHANED, "", "/orphan"),
        ],
    ),
    # Cases beyond Cog's table.
    (
        "orphans are reported even when the config declares no weights",
        lockfile(locked("a", "/a", "file://./a"), locked("b", "/b", "file://./b")),
        [],
        [DriftResult("a", ORPHANED, "", "/a"), DriftResult("b", ORPHANED, "", "/b")],
    ),
    (
        "all four fields differ, in Cog's order",
        lockfile(locked("w", "/a", "file://./a", ("x", "y"), ())),
        [spec("w", "file://./b", "/b", ("y",), ("z",))],
        [
            DriftResult(
                "w",
                CHANGED,
                "uri: file://./a → file://./b; target: /a → /b; "
                "include: [x y] → [y]; exclude: [] → [z]",
                "/b",
                ("uri", "target", "include", "exclude"),
            )
        ],
    ),
    (
        "an uncleaned target is a change",
        lockfile(locked("w", "/w/", "file://./w")),
        [spec("w", "file://./w", "/w")],
        [DriftResult("w", CHANGED, "target: /w/ → /w", "/w", ("target",))],
    ),
    (
        "a non-canonical lockfile uri is a change",
        lockfile(locked("w", "/w", "./w")),
        [spec("w", "file://./w", "/w")],
        [DriftResult("w", CHANGED, "uri: ./w → file://./w", "/w", ("uri",))],
    ),
    (
        "unsorted lockfile patterns are a change",
        lockfile(locked("w", "/w", "file://./w", ("b", "a"))),
        [spec("w", "file://./w", "/w", ("a", "b"))],
        [DriftResult("w", CHANGED, "include: [b a] → [a b]", "/w", ("include",))],
    ),
]


@pytest.mark.parametrize(
    ("lock", "specs", "want"), [c[1:] for c in COG_CASES], ids=[c[0] for c in COG_CASES]
)
def test_drift_matches_cog(
    lock: Lockfile | None, specs: list[WeightSpec], want: list[DriftResult]
) -> None:
    assert check_drift(lock, specs) == pvector(want)


def test_drift_kinds_spell_as_cog_does() -> None:
    assert [k.value for k in DriftKind] == ["pending", "orphaned", "config-changed"]


_names = st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), unique=True, max_size=6)
_uris = st.sampled_from(["file://./x", "file://./y"])
_targets = st.sampled_from(["/x", "/y"])
_patterns = st.lists(st.sampled_from(["*.bin", "*.json"]), max_size=2).map(tuple)


@st.composite
def _world(draw: st.DrawFn) -> tuple[list[WeightEntry], list[WeightSpec]]:
    entries = [
        locked(n, draw(_targets), draw(_uris), draw(_patterns), draw(_patterns))
        for n in draw(_names)
    ]
    specs = [
        spec(n, draw(_uris), draw(_targets), draw(_patterns), draw(_patterns)) for n in draw(_names)
    ]
    return entries, specs


@pytest.mark.slow
@given(_world(), st.randoms())
def test_drift_results_do_not_depend_on_the_order_of_entries_or_specs(
    world: tuple[list[WeightEntry], list[WeightSpec]], rnd: object
) -> None:
    entries, specs = world
    shuffled_entries, shuffled_specs = list(entries), list(specs)
    rnd.shuffle(shuffled_entries)  # type: ignore[attr-defined]
    rnd.shuffle(shuffled_specs)  # type: ignore[attr-defined]
    before = set(check_drift(lockfile(*entries), specs))
    after = set(check_drift(lockfile(*shuffled_entries), shuffled_specs))
    assert before == after


@pytest.mark.slow
@given(_world())
def test_every_name_is_reported_at_most_once_and_only_if_it_differs(
    world: tuple[list[WeightEntry], list[WeightSpec]],
) -> None:
    entries, specs = world
    results = check_drift(lockfile(*entries), specs)
    names = [r.name for r in results]
    assert len(names) == len(set(names))
    lock_names, spec_names = {e.name for e in entries}, {s.name for s in specs}
    assert {r.name for r in results if r.kind is PENDING} == spec_names - lock_names
    assert {r.name for r in results if r.kind is ORPHANED} == lock_names - spec_names
