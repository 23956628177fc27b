"""The set digest: Cog's DirHash over (path, digest) pairs."""

from __future__ import annotations

import doctest
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cogw.core.digest import EMPTY_SHA256, sha256_of
from cogw.core.lock import setdigest
from cogw.core.lock.lockfile import LockFile
from cogw.core.lock.setdigest import dir_hash, set_digest_of
from tests.strategies import digests, file_paths


def _content_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


VECTORS = [
    ("empty set", [], EMPTY_SHA256),
    (
        "hello and world",
        [("a.txt", _content_digest(b"hello")), ("b.txt", _content_digest(b"world"))],
        "sha256:892a7d1d43a7fc681ff45ee421748c50186c29c88a50e23607d410de5e0fd6fd",
    ),
    (
        "short fake digests",
        [("a.txt", "sha256:aaa"), ("b.txt", "sha256:bbb")],
        "sha256:6c46bc683f95fa25454439dd1dce3929f897cd0d4f2e211342576bff38d9569d",
    ),
]


@pytest.mark.parametrize(("pairs", "want"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS])
def test_dir_hash_matches_cogs_test_vectors(pairs: list[tuple[str, str]], want: str) -> None:
    assert dir_hash(pairs) == want


def test_dir_hash_sorts_whole_lines_not_paths() -> None:
    # "b" has the smaller digest, so its line comes first although "a" < "b".
    pairs = [("a", "sha256:ff"), ("b", "sha256:00")]
    assert dir_hash(pairs) == sha256_of(b"00  b\nff  a")


def test_dir_hash_uses_everything_after_the_first_colon_and_nothing_without_one() -> None:
    assert dir_hash([("p", "sha256:ab:cd")]) == sha256_of(b"ab:cd  p")
    assert dir_hash([("p", "nocolon")]) == sha256_of(b"  p")


def test_set_digest_ignores_which_layer_holds_a_file() -> None:
    digest = _content_digest(b"x")
    one = [LockFile("x.bin", 1, digest, "sha256:" + "1" * 64)]
    other = [LockFile("x.bin", 1, digest, "sha256:" + "2" * 64)]
    assert set_digest_of(one) == set_digest_of(other) == dir_hash([("x.bin", digest)])


_PAIRS = st.lists(st.tuples(file_paths(), digests()), max_size=8, unique_by=lambda p: p[0])


@given(_PAIRS.flatmap(lambda pairs: st.tuples(st.just(pairs), st.permutations(pairs))))
def test_dir_hash_does_not_depend_on_input_order(
    case: tuple[list[tuple[str, str]], list[tuple[str, str]]],
) -> None:
    pairs, shuffled = case
    assert dir_hash(shuffled) == dir_hash(pairs)


@given(_PAIRS, file_paths(), digests())
def test_adding_a_file_changes_the_set_digest(
    pairs: list[tuple[str, str]], path: str, digest: str
) -> None:
    if any(p == path for p, _ in pairs):
        return
    assert dir_hash([*pairs, (path, digest)]) != dir_hash(pairs)


@given(_PAIRS.filter(bool), digests())
def test_changing_a_files_content_changes_the_set_digest(
    pairs: list[tuple[str, str]], digest: str
) -> None:
    (path, old), *rest = pairs
    if digest == old:
        return
    assert dir_hash([(path, digest), *rest]) != dir_hash(pairs)


def test_the_docstring_examples_hold() -> None:
    assert doctest.testmod(setdigest).failed == 0
