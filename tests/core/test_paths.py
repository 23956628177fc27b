"""Weight-relative path rules and Go's lexical path functions."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cogw.core import paths
from cogw.core.paths import go_clean, go_join, is_subpath, path_error, quote, safe_join
from tests.strategies import file_paths

# Go's own path/filepath Clean test table (Unix cases).
GO_CLEAN_CASES = [
    ("abc", "abc"),
    ("abc/def", "abc/def"),
    ("a/b/c", "a/b/c"),
    (".", "."),
    ("..", ".."),
    ("../..", "../.."),
    ("../../abc", "../../abc"),
    ("/abc", "/abc"),
    ("/", "/"),
    ("", "."),
    ("abc/", "abc"),
    ("abc/def/", "abc/def"),
    ("a/b/c/", "a/b/c"),
    ("./", "."),
    ("../", ".."),
    ("../../", "../.."),
    ("/abc/", "/abc"),
    ("abc//def//ghi", "abc/def/ghi"),
    ("//abc", "/abc"),
    ("///abc", "/abc"),
    ("//abc//", "/abc"),
    ("abc//", "abc"),
    ("abc/./def", "abc/def"),
    ("/./abc/def", "/abc/def"),
    ("abc/.", "abc"),
    ("abc/def/ghi/../jkl", "abc/def/jkl"),
    ("abc/def/../ghi/../jkl", "abc/jkl"),
    ("abc/def/..", "abc"),
    ("abc/def/../..", "."),
    ("/abc/def/../..", "/"),
    ("abc/def/../../..", ".."),
    ("/abc/def/../../..", "/"),
    ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
    ("/../abc", "/abc"),
    ("abc/./../def", "def"),
    ("abc//./../def", "def"),
    ("abc/../../././../def", "../../def"),
]


@pytest.mark.parametrize(
    ("path", "want"), GO_CLEAN_CASES, ids=[c[0] or "empty" for c in GO_CLEAN_CASES]
)
def test_go_clean_matches_go_filepath_clean(path: str, want: str) -> None:
    assert go_clean(path) == want


@pytest.mark.parametrize(
    ("elems", "want"),
    [
        (("a", "b"), "a/b"),
        (("a", ""), "a"),
        (("", "b"), "b"),
        (("/", "a"), "/a"),
        (("/", ""), "/"),
        (("a/", "b"), "a/b"),
        (("a/", ""), "a"),
        (("", ""), ""),
        (("/m", "/etc/passwd"), "/m/etc/passwd"),
    ],
    ids=lambda v: repr(v),
)
def test_go_join_matches_go_filepath_join(elems: tuple[str, ...], want: str) -> None:
    assert go_join(*elems) == want


SAFE_PATHS = [
    "config.json",
    "1_Pooling/config.json",
    "onnx/model.onnx",
    "a b/é 😀.txt",
    "..weights/file",  # a name that merely starts with ".." is a name
    "dir/.hidden",
    "a/b/c/d/e",
    "<&>",
]


@pytest.mark.parametrize("path", SAFE_PATHS)
def test_safe_weight_file_paths_are_accepted(path: str) -> None:
    assert path_error(path) is None


UNSAFE_PATHS = [
    ("empty", "", "file path is empty"),
    ("absolute", "/etc/passwd", 'path "/etc/passwd" is absolute; weight file paths are relative'),
    ("parent", "../x", 'path "../x" escapes the weight directory'),
    ("parent only", "..", 'path ".." escapes the weight directory'),
    ("climbs out", "a/../../x", 'path "a/../../x" escapes the weight directory'),
    ("dotdot inside", "a/../b", 'path "a/../b" is not clean'),
    ("double slash", "a//b", 'path "a//b" is not clean'),
    ("leading dot", "./a", 'path "./a" is not clean'),
    ("trailing slash", "a/", 'path "a/" is not clean'),
    ("dot", ".", 'path "." is not clean'),
    ("dot component", "a/./b", 'path "a/./b" is not clean'),
    ("backslash", "a\\b", 'path "a\\\\b" contains a backslash'),
    ("nul", "a\x00b", 'path "a\\x00b" contains control character U+0000'),
    ("newline", "a\nb", 'path "a\\nb" contains control character U+000A'),
    ("unit separator", "a\x1fb", "contains control character U+001F"),
    ("delete", "a\x7fb", 'path "a\\x7fb" contains control character U+007F'),
    ("lone surrogate", "a\udc80b", 'path "a\\udc80b" is not valid UTF-8'),
]


@pytest.mark.parametrize(
    ("path", "message"), [c[1:] for c in UNSAFE_PATHS], ids=[c[0] for c in UNSAFE_PATHS]
)
def test_unsafe_weight_file_paths_are_rejected_with_a_reason(path: str, message: str) -> None:
    error = path_error(path)
    assert error is not None
    assert message in error


SAFE_JOINS = [
    ("child", "/m/w", "child", "/m/w/child"),
    ("nested", "/m/w", "a/b/c", "/m/w/a/b/c"),
    ("absolute is re-rooted", "/m/w", "/etc/passwd", "/m/w/etc/passwd"),
    ("dot slash", "/m/w", "./a", "/m/w/a"),
    ("inner dotdot", "/m/w", "a/../b", "/m/w/b"),
    ("dot is the base", "/m/w", ".", "/m/w"),
    ("unclean base", "/m//w/", "a", "/m/w/a"),
    ("root base", "/", "a", "/a"),
    ("relative base", "rel", "a", "rel/a"),
    ("empty base", "", "a", "a"),
]


@pytest.mark.parametrize(
    ("base", "rel", "want"), [c[1:] for c in SAFE_JOINS], ids=[c[0] for c in SAFE_JOINS]
)
def test_safe_join_keeps_the_path_under_its_base(base: str, rel: str, want: str) -> None:
    assert safe_join(base, rel) == want


ESCAPING_JOINS = [
    ("parent", "/m/w", "../outside"),
    ("grandparent", "/m/w", "../../etc"),
    ("empty", "/m/w", ""),
    ("sibling prefix", "/m/w", "../w2/x"),
    ("empty base parent", "", "../x"),
]


@pytest.mark.parametrize(
    ("base", "rel"), [c[1:] for c in ESCAPING_JOINS], ids=[c[0] for c in ESCAPING_JOINS]
)
def test_safe_join_refuses_a_path_that_escapes_or_is_empty(base: str, rel: str) -> None:
    assert safe_join(base, rel) is None


SUBPATHS = [
    ("inside", "/src/weights/a", "/src/weights", True),
    ("deep inside", "/src/weights/a/b", "/src/weights", True),
    ("sibling with common prefix", "/src/weights2", "/src/weights", False),
    ("itself", "/src/weights", "/src/weights", False),
    ("itself after cleaning", "/src/weights/", "/src/weights", False),
    ("parent of it", "/src", "/src/weights", False),
    ("unclean child", "/src//weights/./a/", "/src/weights", True),
    ("under root", "/a", "/", True),
]


@pytest.mark.parametrize(
    ("child", "parent", "want"), [c[1:] for c in SUBPATHS], ids=[c[0] for c in SUBPATHS]
)
def test_is_subpath_compares_cleaned_paths(child: str, parent: str, want: bool) -> None:
    assert is_subpath(child, parent) is want


def test_quote_escapes_like_go_percent_q() -> None:
    assert quote('a"b\\c\td\x01') == '"a\\"b\\\\c\\td\\x01"'


_ANY_PATH = st.lists(st.sampled_from(["a", "b", ".", "..", "/", "é"]), max_size=12).map("".join)


@given(_ANY_PATH)
def test_go_clean_is_idempotent(path: str) -> None:
    assert go_clean(go_clean(path)) == go_clean(path)


@given(file_paths())
def test_a_safe_path_is_already_clean_and_joins_without_change(path: str) -> None:
    assert path_error(path) is None
    assert go_clean(path) == path
    assert safe_join("/mnt/w", path) == "/mnt/w/" + path


@given(_ANY_PATH)
def test_safe_join_never_leaves_its_base(rel: str) -> None:
    joined = safe_join("/mnt/w", rel)
    if joined is not None:
        assert joined == "/mnt/w" or is_subpath(joined, "/mnt/w")


def _cleaning_join(base: str, rel: str) -> str | None:
    """safe_join without its shortcut for plain paths: clean the join, check the base."""
    clean_base = go_clean(base)
    joined = go_clean(clean_base + "/" + rel)
    return joined if rel and paths._is_within(joined, clean_base) else None


@given(
    st.sampled_from(["/mnt/w", "/", ".", "rel/base", "/mnt//w/../v/"]),
    _ANY_PATH | file_paths(),
)
def test_safe_join_of_a_plain_path_is_what_cleaning_the_join_gives(base: str, rel: str) -> None:
    assert safe_join(base, rel) == _cleaning_join(base, rel)


@given(_ANY_PATH)
def test_path_error_accepts_only_paths_that_stay_inside(path: str) -> None:
    if path_error(path) is None:
        assert is_subpath(safe_join("/mnt/w", path) or "", "/mnt/w")


def test_the_docstring_examples_hold() -> None:
    assert doctest.testmod(paths).failed == 0
