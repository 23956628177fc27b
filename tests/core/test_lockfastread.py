"""The canonical-shape reader of weights.lock gives what the general reader gives, or gives up.

``read_canonical`` (core/lock/fastread.py) reads a lockfile with orjson; the general
reader decodes Go's way (folded keys, numbers as text, every type problem recorded).
These properties compare the two on rendered lockfiles, on damaged ones and on inputs
written to sit exactly where the two decoders could disagree: each of those must take
the general path, and the answer must be the general reader's.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cogw.core.lock.fastread import read_canonical
from cogw.core.lock.lockfile import (
    Lockfile,
    _parse,
    _parse_general,
    parse_lockfile_repairable,
    render_lockfile,
)
from tests.strategies import digests, lockfiles

DIGEST = "sha256:" + "ab" * 32
LAYER = "sha256:" + "cd" * 32


def _file(**changes: Any) -> dict[str, Any]:
    return {"path": "a/b.bin", "size": 7, "digest": DIGEST, "layer": LAYER, **changes}


def _entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": "model",
        "target": "/src/weights/model",
        "source": {
            "uri": "weights/model",
            "fingerprint": "sha256:" + "01" * 32,
            "include": [],
            "exclude": [],
            "importedAt": "2026-04-29T17:23:00.414483Z",
        },
        "digest": "sha256:" + "02" * 32,
        "setDigest": "sha256:" + "03" * 32,
        "size": 7,
        "sizeCompressed": 9,
        "files": [_file()],
        "layers": [
            {
                "digest": LAYER,
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "size": 9,
                "sizeUncompressed": 7,
            }
        ],
    }
    entry.update(changes)
    return entry


def _lock(*entries: dict[str, Any], **top: Any) -> bytes:
    value = {"version": 1, "envelopeFormat": "", "weights": list(entries), **top}
    return json.dumps(value).encode()


def _same_answer(data: bytes) -> None:
    assert _parse(data, "weights.lock") == _parse_general(data, "weights.lock")


@settings(max_examples=60, deadline=None)
@given(lockfiles(max_weights=3))
def test_a_rendered_lockfile_takes_the_canonical_path_and_reads_the_same(lock: Lockfile) -> None:
    data = render_lockfile(lock)
    assert read_canonical(data) is not None
    _same_answer(data)


@settings(max_examples=30, deadline=None)
@given(lockfiles(max_weights=2))
def test_an_indented_or_compact_rewrite_reads_the_same(lock: Lockfile) -> None:
    value = json.loads(render_lockfile(lock))
    for data in (json.dumps(value).encode(), json.dumps(value, indent=4).encode()):
        assert read_canonical(data) is not None
        _same_answer(data)


# Values placed anywhere in a lockfile: the types each field takes, and those it refuses.
_ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**65), 2**65),
    st.sampled_from([2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 2**64]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
    st.sampled_from([DIGEST, "2026-04-29T17:23:00Z", "2026-02-30T00:00:00Z", "/src/x", ""]),
    st.lists(st.text(max_size=3), max_size=2),
    st.builds(dict),  # a new {} each time: _damage may fill it in place
)
_KEYS = st.sampled_from(
    ["version", "envelopeFormat", "weights", "name", "target", "source", "sources", "files",
     "layers", "path", "digest", "size", "layer", "importedAt", "include", "exclude",
     "mediaType", "setDigest", "sizeCompressed", "sizeUncompressed", "uri", "fingerprint",
     "Path", "SIZE", "Digest", "ſize", "layerK", "laye\u212a", "unknown"]
)  # fmt: skip


def _damage(value: Any, data: st.DataObject) -> None:
    for _ in range(data.draw(st.integers(1, 3))):
        node: Any = value
        while isinstance(node, (dict, list)) and node and data.draw(st.booleans()):
            keys = sorted(node) if isinstance(node, dict) else range(len(node))
            node = node[data.draw(st.sampled_from(keys))]
        if isinstance(node, dict) and data.draw(st.booleans()):
            node.pop(data.draw(st.sampled_from(sorted(node))), None) if node else None
        elif isinstance(node, dict):
            node[data.draw(_KEYS)] = data.draw(_ODD_VALUES)
        elif isinstance(node, list):
            node.append(data.draw(_ODD_VALUES))


@settings(max_examples=300, deadline=None)
@given(lockfiles(max_weights=2), st.data())
def test_a_damaged_lockfile_reads_as_the_general_reader_reads_it(
    lock: Lockfile, data: st.DataObject
) -> None:
    value = json.loads(render_lockfile(lock))
    _damage(value, data)
    _same_answer(json.dumps(value).encode())


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_KEYS, _ODD_VALUES), max_size=5), digests())
def test_any_file_record_reads_as_the_general_reader_reads_it(
    pairs: list[tuple[str, Any]], digest: str
) -> None:
    # Written by hand, so keys may repeat (the last one wins in Go, orjson and the reader).
    record = "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in pairs) + "}"
    text = json.dumps(_entry(digest=digest, files=["@"])).replace('"@"', record)
    _same_answer(b'{"version": 1, "weights": [' + text.encode() + b"]}")


@pytest.mark.parametrize(
    "data",
    [
        _lock(_entry(files=[_file(Path="x")])),  # Go folds "Path" onto path
        _lock(_entry(files=[{"PATH": "a", "size": 1, "digest": DIGEST, "layer": LAYER}])),
        _lock(_entry(files=[{"path": "a", "ſize": 1, "digest": DIGEST, "layer": LAYER}])),
        _lock(_entry(files=[_file(size=1.0)])),
        _lock(_entry(files=[_file(size=2**63)])),
        _lock(_entry(files=[_file(size=-(2**63) - 1)])),
        _lock(_entry(files=[_file(size=True)])),
        _lock(_entry(files=[_file(mode=420)])),  # unknown: Go ignores it, so does the reader
        _lock(_entry(files=[None])),
        _lock(_entry(Name="other")),
        _lock(_entry(sources=[{"uri": "x", "fingerprint": "y"}])),  # both layouts
        _lock(
            {k: v for k, v in _entry().items() if k != "source"} | {"sources": []}
        ),  # an empty sources list
        _lock(_entry(source={"uri": "x", "importedAt": "2026-02-30T00:00:00Z"})),
        _lock(_entry(), version=2),
        _lock(_entry(), version=1.0),
        _lock(_entry(), Weights=[]),
        _lock(None),
        b"\xef\xbb\xbf" + _lock(_entry()),  # a byte order mark
        _lock(_entry(name="\\ud800")).replace(b"\\\\ud800", b"\\ud800"),  # a lone surrogate
        _lock(_entry(size=1)).replace(b'"size": 1,', b'"size": 1e0,'),
        _lock(_entry(size=1)).replace(b'"size": 1,', b'"size": NaN,'),
        _lock(_entry(size=1)).replace(b'"size": 1,', b'"size": 1e999,'),
        b"[" * 1000 + b"]" * 1000,
        b'{"version": 1, "weights": []} x',
        b"",
    ],
    ids=lambda data: data[:0].decode() or None,
)
def test_input_the_decoders_could_read_differently_takes_the_general_path(data: bytes) -> None:
    assert read_canonical(data) is None
    _same_answer(data)


def test_a_repeated_key_keeps_the_last_value_on_both_paths() -> None:
    text = _lock(_entry()).replace(b'"size": 7, "digest"', b'"size": 6, "size": 7, "digest"', 1)
    assert read_canonical(text) is not None
    _same_answer(text)
    lock, problems = parse_lockfile_repairable(text).unwrap()
    assert (lock.weights[0].files[0].size, problems) == (7, ())


def test_missing_fields_and_null_read_as_zero_values_on_both_paths() -> None:
    data = _lock(_entry(files=[{"path": "a", "size": None, "digest": DIGEST}], setDigest=None))
    canonical = read_canonical(data)
    assert canonical is not None
    entry = canonical[1][0][0]
    assert (entry.files[0].size, entry.files[0].layer, entry.set_digest) == (0, "", "")
    _same_answer(data)


def test_problems_of_the_records_are_found_on_the_canonical_path() -> None:
    data = _lock(_entry(files=[_file(path="../x"), _file(path="a/b.bin", digest="sha256:AB")]))
    assert read_canonical(data) is not None
    _same_answer(data)
    found = [(p.summary, p.detail) for p in parse_lockfile_repairable(data).failure()]
    assert found == [
        ("unsafe file path in files[0]", 'path "../x" escapes the weight directory'),
        (
            'malformed digest in files[1] "a/b.bin"',
            'invalid digest "sha256:AB": expected 64 hex chars, got 2',
        ),
    ]
