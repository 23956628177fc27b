"""The lockfile reader's short cuts for the common file record give the general answer.

A lockfile of 100 000 files is read file by file; the usual record (Cog's four keys,
ASCII strings, a plain size) skips the general reader and the per-field checks. These
properties say the short cuts only skip work: same record, no problem missed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st
from pyrsistent import pvector

from cogw.core import paths
from cogw.core.diagnostics import Diagnostic
from cogw.core.digest import all_valid, digest_error
from cogw.core.lock.godecode import Reader, decode_json
from cogw.core.lock.lockcheck import (
    _check_file,
    _check_file_set,
    _files_plainly_valid,
    _plainly_valid,
    check_entry,
)
from cogw.core.lock.lockfile import MEDIA_TYPE_TAR, LockLayer, make_entry, make_source
from cogw.core.lock.lockread import _plain_file, _read_file
from cogw.core.lock.lockrecords import LockFile
from cogw.core.paths import path_error, quote
from tests.strategies import digests

_HEX_CHARS = "0123456789abcdef"
DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
BAD_DIGESTS = ["", "sha256:", "sha256:" + "AB" * 32, "md5:" + "a" * 64, DIGEST + "0", "x"]
KEYS = ["path", "size", "digest", "layer", "Path", "SIZE", "dıgest", "layer\u017f", "mode"]
PATHS = ["../x", "/abs", "a//b", "./a", "a\\b", "\x01", "", "é.bin"]


def mostly(good: Any, bad: Sequence[Any]) -> st.SearchStrategy[Any]:
    """The usual value half of the time, so every odd one is met among usual others."""
    return st.one_of(st.just(good), st.sampled_from(bad))


NUMBERS = ["0", "-1", "1.0", "1e2", "9" * 18, "9" * 19, "9" * 25, '"7"', "null", "[1]"]
ANY = st.sampled_from([DIGEST, *BAD_DIGESTS, *PATHS, None, ["x"], 7])


@st.composite
def file_objects(draw: st.DrawFn) -> bytes:
    """A file record as JSON: usually Cog's four keys in order, sometimes anything."""
    if draw(st.booleans()):
        body = ", ".join(
            [
                f'"path": {json.dumps(draw(mostly("a/b.bin", PATHS)))}',
                f'"size": {draw(mostly("7", NUMBERS))}',
                f'"digest": {json.dumps(draw(mostly(DIGEST, BAD_DIGESTS)))}',
                f'"layer": {json.dumps(draw(mostly(OTHER, BAD_DIGESTS)))}',
            ]
        )
    else:
        pairs = draw(st.lists(st.tuples(st.sampled_from(KEYS), ANY), max_size=6))
        body = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in pairs)
    return ("{" + body + "}").encode()


@settings(max_examples=400, deadline=None)
@given(file_objects())
def test_the_short_cut_reads_a_file_record_as_the_general_reader_does(data: bytes) -> None:
    value = decode_json(data).unwrap()
    fast = _plain_file(value)
    problems: list[Diagnostic] = []
    general = _read_file(value, "files[0]", Reader("weights.lock", problems, "hint"))
    if fast is not None:
        assert fast == general
        assert problems == []


def test_the_short_cut_takes_the_record_cog_writes() -> None:
    data = json.dumps({"path": "a/b.bin", "size": 7, "digest": DIGEST, "layer": OTHER})
    assert _plain_file(decode_json(data.encode()).unwrap()) == LockFile("a/b.bin", 7, DIGEST, OTHER)


@settings(max_examples=400, deadline=None)
@given(
    mostly("a/b.bin", PATHS),
    mostly(5, [-1, 0]),
    mostly(DIGEST, BAD_DIGESTS),
    mostly(OTHER, [DIGEST, *BAD_DIGESTS]),
    st.sets(st.sampled_from([DIGEST, OTHER, "sha256:" + "AB" * 32])),
)
def test_a_file_plainly_valid_has_no_problem_and_any_other_is_checked(
    path: str, size: int, digest: str, layer: str, layers: set[str]
) -> None:
    f = LockFile(path, size, digest, layer)
    valid = frozenset(d for d in layers if digest_error(d) is None)  # as check_entry does
    problems = list(_check_file(f, "files[0]", "weights.lock", frozenset(layers)))
    if _plainly_valid(f, valid):
        assert problems == []
    if problems == [] and layer in valid:
        assert _plainly_valid(f, valid)  # it takes every plain case, not only some


_DIGEST_CHARS = "0123456789abcdefABCDEF:g \n٣"


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(st.text(_DIGEST_CHARS, max_size=80), st.text(_HEX_CHARS, min_size=64, max_size=64))
)
def test_a_digest_is_valid_exactly_when_it_is_sha256_and_64_lowercase_hex(tail: str) -> None:
    for value in (tail, "sha256:" + tail):
        is_valid = (
            value.startswith("sha256:") and len(value) == 71 and set(value[7:]) <= set(_HEX_CHARS)
        )
        assert (digest_error(value) is None) == is_valid


_PATH_CHARS = "ab./\\ é\x00\x7f~[]-_\n"


@settings(max_examples=400, deadline=None)
@given(st.text(_PATH_CHARS, max_size=12))
def test_the_plain_path_short_cut_takes_only_safe_paths_and_every_safe_ascii_one(
    path: str,
) -> None:
    with mock.patch.object(paths, "_PLAIN_PATH", lambda _: None):
        by_the_rules = path_error(path)  # the short cut off: every rule checked one by one
    plain = paths._PLAIN_PATH(path) is not None
    if plain:
        assert by_the_rules is None
    if path.isascii() and path.isprintable() and by_the_rules is None:
        assert plain
    assert path_error(path) == by_the_rules


def _file_set_problems_one_by_one(paths: Sequence[str]) -> list[str]:
    """The file set rule checked the plain way: every prefix of every path, in order."""
    out, seen = [], {}
    for index, path in enumerate(paths):
        if path in seen:
            out.append(f"duplicate {path} {seen[path]} {index}")
        seen.setdefault(path, index)
    for path in seen:
        parts = path.split("/")
        out += [
            "/".join(parts[:d]) + " above " + path
            for d in range(1, len(parts))
            if "/".join(parts[:d]) in seen
        ]
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "b", ""]), min_size=1, max_size=4), max_size=10))
def test_the_file_set_check_finds_what_checking_every_prefix_finds(
    parts: list[list[str]],
) -> None:
    paths = ["/".join(p) for p in parts]
    files = pvector(LockFile(p, 1, DIGEST, OTHER) for p in paths)
    found = [(d.summary, d.detail) for d in _check_file_set(files, "weights.lock")]
    expected = _file_set_problems_one_by_one(paths)
    assert len(found) == len(expected)
    for (summary, detail), plain in zip(found, expected, strict=True):
        if plain.startswith("duplicate"):
            _, path, first, index = plain.split(" ")
            assert summary == f"duplicate file path {quote(path)}"
            assert detail == f"files[{first}] and files[{index}] name the same file"
        else:
            parent, _, path = plain.partition(" above ")
            assert summary == f"file path {quote(parent)} is also a directory of {quote(path)}"


def _entry_problems_file_by_file(files: Sequence[LockFile], layers: set[str]) -> list[Diagnostic]:
    """What check_entry reports of its files without the whole-entry short cut."""
    known = frozenset(layers)
    out: list[Diagnostic] = []
    for index, f in enumerate(files):
        out += _check_file(f, f"files[{index}]", "weights.lock", known)
    return out + list(_check_file_set(pvector(files), "weights.lock"))


_ENTRY_PATHS = ["a", "a/b", "a/b/c", "b/c", "c.bin", "../x", "a//b", "é", "d/e f"]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(
            mostly("w/x.bin", _ENTRY_PATHS),
            mostly(5, [-1, 0]),
            mostly(DIGEST, BAD_DIGESTS),
            mostly(OTHER, [DIGEST, *BAD_DIGESTS]),
        ),
        max_size=6,
    ),
    st.sets(st.sampled_from([DIGEST, OTHER, "sha256:" + "AB" * 32])),
)
def test_an_entry_whose_files_are_plainly_valid_has_no_file_problem(
    rows: list[tuple[str, int, str, str]], layers: set[str]
) -> None:
    files = [LockFile(*row) for row in rows]
    valid = frozenset(d for d in layers if digest_error(d) is None)
    problems = _entry_problems_file_by_file(files, layers)
    if _files_plainly_valid(pvector(files), valid):
        assert problems == []
    if problems == [] and all(f.layer in valid and f.path.isascii() for f in files):
        assert _files_plainly_valid(pvector(files), valid)  # not only some plain entries


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b/c", "b/d", "b", "e/f/g", "e/f", "e"]), st.booleans()),
        max_size=8,
    )
)
def test_the_entry_check_reports_what_checking_file_by_file_reports(
    picks: list[tuple[str, bool]],
) -> None:
    files = [LockFile(p, 1, DIGEST if ok else "sha256:x", OTHER) for p, ok in picks]
    entry = make_entry(
        name="w",
        target="/src/w",
        source=make_source("file://./w", ""),
        digest="",
        files=files,
        layers=[LockLayer(OTHER, MEDIA_TYPE_TAR, 1, 1)],
    )
    assert check_entry(entry, "weights.lock") == _entry_problems_file_by_file(entry.files, {OTHER})


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(
            digests(),
            st.text(_DIGEST_CHARS, max_size=80),
            st.text(_DIGEST_CHARS, min_size=64, max_size=64).map("sha256:".__add__),
            st.text("sha256:" + _HEX_CHARS, min_size=71, max_size=71),
        ),
        max_size=5,
    )
)
def test_all_digests_are_valid_exactly_when_each_one_is(values: list[str]) -> None:
    assert all_valid(values) == all(digest_error(v) is None for v in values)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(_PATH_CHARS, max_size=8), max_size=4))
def test_paths_all_plain_are_all_safe_and_safe_ascii_ones_are_all_plain(values: list[str]) -> None:
    safe = all(path_error(v) is None for v in values)
    if paths.all_plain(values):
        assert safe
    if safe and all(v.isascii() and v.isprintable() for v in values):
        assert paths.all_plain(values)
