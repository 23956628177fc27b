"""The lockfile reader's short cuts for the common file record give the general answer.

A lockfile of 100 000 files is read file by file; the usual record (Cog's four keys,
ASCII strings, a plain size) skips the general reader and the per-field checks. These
properties say the short cuts only skip work: same record, no problem missed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cogw.core.diagnostics import Diagnostic
from cogw.core.digest import digest_error
from cogw.core.lock.godecode import Reader, decode_json
from cogw.core.lock.lockcheck import _check_file, _plainly_valid
from cogw.core.lock.lockread import _plain_file, _read_file
from cogw.core.lock.lockrecords import LockFile

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
