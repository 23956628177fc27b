"""Cache-dir resolution: Cog's precedence, Go's path joining, and the fixed bugs."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from cogw.core.cache.cachedir import go_clean, go_join, resolve_weights_dir

HOME = "/home/user"
CWD = "/work/project"


@pytest.mark.parametrize(
    ("env", "flag", "expected"),
    [
        pytest.param({}, None, "/home/user/.cache/cog/weights", id="default: home"),
        pytest.param({"XDG_CACHE_HOME": "/xdg"}, None, "/xdg/cog/weights", id="xdg beats home"),
        pytest.param(
            {"XDG_CACHE_HOME": "/xdg", "COG_CACHE_DIR": "/cog"},
            None,
            "/cog/weights",
            id="COG_CACHE_DIR beats xdg",
        ),
        pytest.param(
            {"COG_CACHE_DIR": "/cog"}, "/flag", "/flag/weights", id="flag beats COG_CACHE_DIR"
        ),
        pytest.param({"COG_CACHE_DIR": ""}, None, HOME + "/.cache/cog/weights", id="empty = unset"),
        pytest.param({"COG_CACHE_DIR": "/cog"}, "", "/cog/weights", id="empty flag = unset"),
        pytest.param(
            {"XDG_CACHE_HOME": ""}, None, HOME + "/.cache/cog/weights", id="empty xdg = unset"
        ),
        pytest.param(
            {"COG_CACHE_DIR": "cache"}, None, "/work/project/cache/weights", id="relative cog dir"
        ),
        pytest.param({}, "../c", "/work/c/weights", id="relative flag resolved against cwd"),
        pytest.param(
            {"XDG_CACHE_HOME": "rel/xdg"},
            None,
            HOME + "/.cache/cog/weights",
            id="relative xdg ignored",
        ),
        pytest.param(
            {"COG_CACHE_DIR": "//c//d/./e/"}, None, "/c/d/e/weights", id="go clean of cog dir"
        ),
        pytest.param({"XDG_CACHE_HOME": "/x/../y/"}, None, "/y/cog/weights", id="go clean of xdg"),
    ],
)
def test_weights_dir_follows_cog_precedence(
    env: dict[str, str], flag: str | None, expected: str
) -> None:
    assert resolve_weights_dir(env, HOME, CWD, flag) == Success(expected)


@pytest.mark.parametrize("home", [None, ""], ids=["no home", "empty home"])
def test_missing_home_is_a_diagnostic_that_names_the_fix(home: str | None) -> None:
    result = resolve_weights_dir({}, home, CWD)
    assert isinstance(result, Failure)
    diagnostic = result.failure()
    assert diagnostic.summary == "resolve user home dir: $HOME is not defined"
    assert "COG_CACHE_DIR" in diagnostic.hint


def test_missing_home_does_not_matter_when_a_cache_dir_is_set() -> None:
    assert resolve_weights_dir({"COG_CACHE_DIR": "/c"}, None, CWD) == Success("/c/weights")


def test_relative_xdg_without_home_is_still_an_error() -> None:
    assert isinstance(resolve_weights_dir({"XDG_CACHE_HOME": "x"}, None, CWD), Failure)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        pytest.param(("/a", "b"), "/a/b", id="plain"),
        pytest.param(("/a", "/b"), "/a/b", id="absolute part is not re-rooted"),
        pytest.param(("a/", "", "b/"), "a/b", id="empty parts skipped, trailing slash dropped"),
        pytest.param(("//a",), "/a", id="leading double slash collapsed"),
        pytest.param(("a", ".."), ".", id="dotdot to dot"),
        pytest.param(("/..", "a"), "/a", id="dotdot above root"),
        pytest.param(("",), "", id="all empty gives empty"),
        pytest.param(("../a", "b"), "../a/b", id="leading dotdot kept"),
    ],
)
def test_go_join_matches_filepath_join(parts: tuple[str, ...], expected: str) -> None:
    assert go_join(*parts) == expected


paths = st.lists(st.sampled_from(["a", "b", ".", "..", "", "/"]), max_size=8).map("".join)


@given(paths)
def test_go_clean_is_idempotent_and_has_no_double_slash(path: str) -> None:
    cleaned = go_clean(path)
    assert go_clean(cleaned) == cleaned
    assert "//" not in cleaned


@given(paths, paths)
def test_resolved_dir_is_always_absolute_and_clean(cog_dir: str, xdg: str) -> None:
    result = resolve_weights_dir({"COG_CACHE_DIR": cog_dir, "XDG_CACHE_HOME": xdg}, HOME, CWD)
    resolved = result.unwrap()
    assert posixpath.isabs(resolved)
    assert go_clean(resolved) == resolved
    assert resolved.endswith("/weights")


def test_the_cross_filesystem_problem_names_each_path_once_on_short_lines() -> None:
    from cogw.core.cache.cachedir import cross_filesystem_problem

    problem = cross_filesystem_problem("/mnt/cache/weights", "/work/project")
    text = "\n".join(problem.lines())
    assert text.count("/mnt/cache/weights") == 1 and text.count("/work/project") == 1
    assert all(len(line) <= 100 for line in problem.lines())
    assert "--link-mode copy" in problem.hint
    assert "--cache-dir" in problem.hint and "COG_CACHE_DIR" in problem.hint
