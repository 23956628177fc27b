"""Matching include/exclude patterns takes time linear in the path, whatever the pattern.

Python's ``re`` backtracks: ``a*a*…a*b`` against a long run of ``a`` ran for minutes.
The filters compile to RE2, whose matching work is bounded by (compiled program size) ×
(path length). These tests hold both factors: every pattern class the fuzzing of
cog.yaml found, at the largest accepted size, compiles to a program linear in the
pattern's length, and matches adversarial 64 KiB paths under a generous timeout (a
backtracking engine needs hours on them). No wall-clock time is asserted; each class's
time is printed (``pytest -s``) for docs/reliability.md.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cogw.core.filters import (
    MAX_PATTERN_LENGTH,
    MAX_PATTERNS,
    compile_filter,
    pattern_error,
    pattern_regex,
)

#: RE2 instructions per pattern character, generously: a "?" costs ~8, a class ~1.
STEPS_PER_CHAR = 40


def _fill(unit: str, tail: str = "") -> str:
    """``unit`` repeated up to the length limit, then ``tail``."""
    return (unit * MAX_PATTERN_LENGTH)[: MAX_PATTERN_LENGTH - len(tail)] + tail


# The backtracking shapes the cog.yaml fuzzer hit, and every other construct of the language.
PATTERN_CLASSES = {
    "star-chain": _fill("a*", "b"),
    "question-marks": _fill("?", "b"),
    "double-stars": _fill("a/**/", "b"),
    "leading-double-star": "**/" + _fill("*a", "b")[3:],
    "classes": _fill("[a-z]", "b"),
    "negated-classes": _fill("[!b]*", "b"),
    "anchored": "/" + _fill("a*/")[1:],
    "trailing-slash": _fill("*a?", "/"),
    "path-shaped": "x/" + _fill("*a", "*.bin")[2:],
    "unicode": _fill("é*ü?", "b"),
}

ADVERSARIAL_PATHS = [
    "a" * 65536,
    ("a" * 255 + "/") * 256,
    "a/" * 32768,
    ("é" * 100 + "ü/") * 300,
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("pattern", PATTERN_CLASSES.values(), ids=PATTERN_CLASSES.keys())
def test_every_pattern_class_at_its_largest_matches_long_paths_in_linear_time(
    pattern: str,
) -> None:
    assert pattern_error(pattern) is None
    path_filter = compile_filter([pattern], [pattern[:-1] + "c"])
    assert path_filter.include_re is not None
    assert path_filter.include_re.programsize <= STEPS_PER_CHAR * len(pattern_regex(pattern))
    started = time.perf_counter()
    for path in ADVERSARIAL_PATHS:
        path_filter.matches(path)
        path_filter.matches(path + "b")
    print(f"{pattern[:12]!r}…: {time.perf_counter() - started:.4f} s for 8 paths of ≥ 64 KiB")


@pytest.mark.timeout(300)
def test_the_largest_accepted_lists_match_long_paths_in_linear_time() -> None:
    """MAX_PATTERNS patterns of MAX_PATTERN_LENGTH characters each, in both lists."""
    patterns = [_fill("a*", f"b{i}") for i in range(MAX_PATTERNS)]
    path_filter = compile_filter(patterns, patterns)
    total = sum(len(pattern_regex(p)) for p in patterns)
    assert path_filter.include_re is not None
    assert path_filter.include_re.programsize <= STEPS_PER_CHAR * total
    started = time.perf_counter()
    for path in ADVERSARIAL_PATHS[:2]:
        assert not path_filter.matches(path)
    print(f"{MAX_PATTERNS} star chains: {time.perf_counter() - started:.4f} s")


_pieces = st.sampled_from(["a", "b", "*", "**", "/", "?", "[a-c]", "[!a]", ".", "é", "/**/"])
_patterns = (
    st.lists(_pieces, min_size=1, max_size=80)
    .map("".join)
    .filter(lambda p: pattern_error(p) is None)
)


@pytest.mark.slow
@pytest.mark.timeout(600)
@settings(max_examples=1000, deadline=None)
@given(_patterns, st.sampled_from(["a", "a/", "ab", "é"]), st.integers(1000, 20000))
def test_fuzzed_patterns_compile_small_and_match_long_paths(
    pattern: str, unit: str, repeat: int
) -> None:
    path_filter = compile_filter([pattern], [])
    assert path_filter.include_re is not None
    assert path_filter.include_re.programsize <= STEPS_PER_CHAR * len(pattern_regex(pattern))
    path_filter.matches(unit * repeat)
    path_filter.matches(unit * repeat + "c")
