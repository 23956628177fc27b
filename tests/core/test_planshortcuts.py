"""The planner's short cuts for the common case give the answer of the general code.

An unchanged weight of 100 000 files is compared file by file with its lock entry, and
a cached one looked up file by file in the store: these short cuts decide that case in
a few C passes. Each property pits one against the general code it skips.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pyrsistent import pvector

from cogw.core.artifact.inventory import InventoryFile
from cogw.core.lock.lockfile import MEDIA_TYPE_TAR, LockFile, LockLayer, make_entry, make_source
from cogw.core.plan import planner
from cogw.core.plan.importplan import file_diff, same_files

DIGESTS = ["sha256:" + c * 64 for c in "abc"]
LAYERS = ["sha256:" + c * 64 for c in "de"]

_rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c/d"]), st.sampled_from([0, 1]), st.sampled_from(DIGESTS)
    ),
    max_size=4,
)


def _entry(files: list[LockFile]):
    layers = [LockLayer(digest, MEDIA_TYPE_TAR, 1, 1) for digest in LAYERS]
    source = make_source("file://./w", "")
    return make_entry(name="w", target="/w", source=source, digest="", files=files, layers=layers)


def _diff_by_dictionaries(files: list[InventoryFile], locked: list[LockFile]) -> tuple[int, ...]:
    old = {f.path: (f.digest, f.size) for f in locked}
    new = {f.path: (f.digest, f.size) for f in files}
    added = sum(1 for p in new if p not in old)
    removed = sum(1 for p in old if p not in new)
    return added, removed, sum(1 for p, v in new.items() if p in old and old[p] != v)


@settings(max_examples=300, deadline=None)
@given(_rows, _rows, st.booleans())
def test_the_file_diff_is_the_diff_of_path_dictionaries(
    ours: list[tuple[str, int, str]], theirs: list[tuple[str, int, str]], same: bool
) -> None:
    files = [InventoryFile(p, n, d) for p, n, d in ours]
    rows = ours if same else theirs  # equal lists are the case the short cut decides
    entry = _entry([LockFile(p, n, d, LAYERS[0]) for p, n, d in rows])
    assert file_diff(files, entry) == _diff_by_dictionaries(files, list(entry.files))


def test_same_files_needs_equal_paths_digests_and_sizes_in_order() -> None:
    files = [InventoryFile("a", 1, DIGESTS[0]), InventoryFile("b", 2, DIGESTS[1])]
    locked = [LockFile(f.path, f.size, f.digest, LAYERS[0]) for f in files]
    assert same_files(files, locked)
    assert not same_files(files[::-1], locked)
    assert not same_files(files, [locked[0], locked[1]._replace(size=3)])
    assert not same_files(files, [locked[0], locked[1]._replace(digest=DIGESTS[2])])
    assert not same_files(files[:1], locked)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c/d", "e"]),
            st.sampled_from(DIGESTS),
            st.sampled_from(LAYERS),
        ),
        max_size=5,
        unique_by=lambda row: row[0],
    ),
    st.sets(st.sampled_from(DIGESTS)),
)
def test_layers_to_fetch_are_those_holding_a_missing_file(
    rows: list[tuple[str, str, str]], present: set[str]
) -> None:
    entry = _entry([LockFile(p, 1, d, layer) for p, d, layer in rows])
    steps = planner._missing_by_layer(entry, frozenset(present))
    expected = []
    for layer in entry.layers:
        files = pvector(f for f in entry.files if f.layer == layer.digest)
        missing = [f.path for f in files if f.digest not in present]
        if missing:
            expected.append((layer.digest, list(files), missing))
    assert [(s.layer.digest, list(s.files), list(s.missing)) for s in steps] == expected
