"""weights.lock: byte-identical round trips with Cog, validation, and entry operations."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyrsistent import pvector
from returns.pipeline import is_successful
from returns.result import Failure, Success

from cogw.core.diagnostics import Diagnostic
from cogw.core.lock.lockfile import (
    MEDIA_TYPE_TAR,
    MEDIA_TYPE_TAR_GZIP,
    ZERO_TIME,
    LockFile,
    Lockfile,
    LockLayer,
    Shape,
    WeightEntry,
    canonicalize,
    entries_equal,
    find_weight,
    make_entry,
    make_source,
    parse_lockfile,
    parse_lockfile_repairable,
    render_lockfile,
    retain,
    runtime_manifest,
    to_json_value,
    upsert,
)
from cogw.core.lock.setdigest import set_digest_of
from tests.strategies import lockfiles, weight_entries

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.lock"))

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
L1 = "sha256:" + "a" * 64
L2 = "sha256:" + "b" * 64


def _ok(data: bytes) -> Lockfile:
    result = parse_lockfile(data)
    assert is_successful(result), result
    return result.unwrap()


def _problems(data: bytes) -> tuple[Diagnostic, ...]:
    result = parse_lockfile(data)
    assert not is_successful(result), result
    return result.failure()


# ---------------------------------------------------------------------------
# Golden files: Cog's checked-in example lockfiles


@pytest.mark.parametrize("path", GOLDEN, ids=[p.name for p in GOLDEN])
def test_cog_example_lockfile_renders_back_byte_identically(path: Path) -> None:
    data = path.read_bytes()
    assert render_lockfile(_ok(data)) == data


@pytest.mark.parametrize("path", GOLDEN, ids=[p.name for p in GOLDEN])
def test_cog_example_set_digests_and_sizes_recompute_to_the_recorded_values(path: Path) -> None:
    lock = _ok(path.read_bytes())
    assert lock.weights
    for entry in lock.weights:
        assert set_digest_of(entry.files) == entry.set_digest
        assert sum(layer.size_uncompressed for layer in entry.layers) == entry.size
        assert sum(layer.size for layer in entry.layers) == entry.size_compressed


def test_golden_files_record_which_layout_they_use() -> None:
    shapes = {p.name: _ok(p.read_bytes()).shape for p in GOLDEN}
    assert shapes["resnet-managed-weights.sources.weights.lock"] is Shape.SOURCES
    assert shapes["resnet.weights.lock"] is Shape.SOURCE


def test_both_layouts_of_the_same_weight_parse_to_equal_entries() -> None:
    golden = Path(__file__).parent / "golden"
    old = _ok((golden / "resnet.weights.lock").read_bytes()).weights[0]
    new = _ok((golden / "resnet-managed-weights.sources.weights.lock").read_bytes()).weights[0]
    assert old.source.imported_at != new.source.imported_at
    assert entries_equal(old, new)


# ---------------------------------------------------------------------------
# A small valid lockfile, mutated by the rejection table


def _entry_json(name: str = "alpha", target: str = "/src/weights/alpha") -> dict[str, Any]:
    return {
        "name": name,
        "target": target,
        "source": {
            "uri": "file://./weights",
            "fingerprint": "sha256:" + "f" * 64,
            "include": [],
            "exclude": [],
            "importedAt": "2026-04-29T17:23:00.414483Z",
        },
        "digest": "sha256:" + "d" * 64,
        "setDigest": set_digest_of([LockFile("a.bin", 3, D1, L1), LockFile("b/c.txt", 4, D2, L2)]),
        "size": 7,
        "sizeCompressed": 9,
        "files": [
            {"path": "a.bin", "size": 3, "digest": D1, "layer": L1},
            {"path": "b/c.txt", "size": 4, "digest": D2, "layer": L2},
        ],
        "layers": [
            {"digest": L1, "mediaType": MEDIA_TYPE_TAR, "size": 5, "sizeUncompressed": 3},
            {"digest": L2, "mediaType": MEDIA_TYPE_TAR_GZIP, "size": 4, "sizeUncompressed": 4},
        ],
    }


def _lock_json(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "envelopeFormat": "", "weights": list(entries) or [_entry_json()]}


def _bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2).encode()


def test_the_small_valid_lockfile_is_canonical() -> None:
    data = _bytes(_lock_json())
    assert render_lockfile(_ok(data)) == data


def _set(path: str, value: Any) -> Any:
    """A mutation of the first entry: dotted path, "-" deletes the key."""

    def apply(lock: dict[str, Any]) -> None:
        node: Any = lock["weights"][0]
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        key: Any = int(last) if last.isdigit() else last
        if value == "-":
            del node[key]
        else:
            node[key] = value

    return apply


def _second_entry(**changes: Any) -> Any:
    def apply(lock: dict[str, Any]) -> None:
        entry = _entry_json("beta", "/src/weights/beta")
        entry.update(changes)
        lock["weights"].append(entry)

    return apply


ALPHA = 'weights.lock: weights[0] "alpha"'
BETA = 'weights.lock: weights[1] "beta"'

REJECTIONS = [
    (
        "duplicate name",
        _second_entry(name="alpha"),
        'weights.lock: weights[1] "alpha"',
        'duplicate weight name "alpha"',
        "weights[0] has the same name",
    ),
    (
        "duplicate cleaned target",
        _second_entry(target="/src/weights/alpha/"),
        BETA,
        'duplicate weight target "/src/weights/alpha/"',
        'the same directory as weights[0] "alpha"',
    ),
    (
        "malformed manifest digest",
        _set("digest", "sha256:xyz"),
        ALPHA,
        "malformed manifest digest",
        'invalid digest "sha256:xyz": expected 64 hex chars, got 3',
    ),
    (
        "malformed set digest",
        _set("setDigest", "md5:00"),
        ALPHA,
        "malformed set digest",
        'invalid digest "md5:00": only sha256 is supported',
    ),
    (
        "empty file digest",
        _set("files.0.digest", ""),
        ALPHA,
        'malformed digest in files[0] "a.bin"',
        'invalid digest "": missing algorithm prefix',
    ),
    (
        "uppercase file digest",
        _set("files.0.digest", "sha256:" + "A" * 64),
        ALPHA,
        'malformed digest in files[0] "a.bin"',
        "non-lowercase hex",
    ),
    (
        "empty file layer",
        _set("files.1.layer", ""),
        ALPHA,
        'malformed layer in files[1] "b/c.txt"',
        'invalid digest "": missing algorithm prefix',
    ),
    (
        "empty layer digest",
        _set("layers.0.digest", ""),
        ALPHA,
        "malformed digest in layers[0]",
        'invalid digest "": missing algorithm prefix',
    ),
    (
        "escaping file path",
        _set("files.0.path", "../x"),
        ALPHA,
        "unsafe file path in files[0]",
        'path "../x" escapes the weight directory',
    ),
    (
        "absolute file path",
        _set("files.0.path", "/etc/passwd"),
        ALPHA,
        "unsafe file path in files[0]",
        'path "/etc/passwd" is absolute',
    ),
    (
        "unclean file path",
        _set("files.0.path", "a//b"),
        ALPHA,
        "unsafe file path in files[0]",
        'path "a//b" is not clean',
    ),
    (
        "backslash in file path",
        _set("files.0.path", "a\\b"),
        ALPHA,
        "unsafe file path in files[0]",
        "contains a backslash",
    ),
    (
        "control character in file path",
        _set("files.0.path", "a\x01"),
        ALPHA,
        "unsafe file path in files[0]",
        "contains control character U+0001",
    ),
    (
        "lone surrogate in file path",
        _set("files.0.path", "a\udc80"),
        ALPHA,
        "files[0].path holds an invalid \\u escape (a lone UTF-16 surrogate)",
        "",
    ),
    (
        "duplicate file path",
        _set("files.1.path", "a.bin"),
        ALPHA,
        'duplicate file path "a.bin"',
        "files[0] and files[1] name the same file",
    ),
    (
        "file is also a directory",
        _set("files.0.path", "b"),
        ALPHA,
        'file path "b" is also a directory of "b/c.txt"',
        "",
    ),
    (
        "file in unknown layer",
        _set("files.1.layer", "sha256:" + "c" * 64),
        ALPHA,
        'files[1] "b/c.txt" is in layer sha256:cccccccccccc, which is not in layers',
        "",
    ),
    ("negative file size", _set("files.0.size", -1), ALPHA, "files[0].size is negative (-1)", ""),
    (
        "negative layer size",
        _set("layers.1.size", -4),
        ALPHA,
        "layers[1].size is negative (-4)",
        "",
    ),
    (
        "negative uncompressed size",
        _set("layers.1.sizeUncompressed", -2),
        ALPHA,
        "layers[1].sizeUncompressed is negative (-2)",
        "",
    ),
    ("negative entry size", _set("size", -7), ALPHA, "size is negative (-7)", ""),
    (
        "negative compressed size",
        _set("sizeCompressed", -9),
        ALPHA,
        "sizeCompressed is negative (-9)",
        "",
    ),
    (
        "duplicate layer",
        _set("layers.1.digest", L1),
        ALPHA,
        "duplicate layer sha256:aaaaaaaaaaaa",
        "layers[1]",
    ),
    (
        "unknown media type",
        _set("layers.0.mediaType", "application/zip"),
        ALPHA,
        'layers[0] has unsupported media type "application/zip"',
        "application/vnd.oci.image.layer.v1.tar",
    ),
    (
        "non-string importedAt",
        _set("source.importedAt", 12),
        ALPHA,
        "source.importedAt must be an RFC 3339 time string, not the number 12",
        "",
    ),
    (
        "empty importedAt",
        _set("source.importedAt", ""),
        ALPHA,
        'source.importedAt "" is not an RFC 3339 time',
        "Cog writes e.g.",
    ),
    (
        "impossible importedAt",
        _set("source.importedAt", "2026-02-30T00:00:00Z"),
        ALPHA,
        'source.importedAt "2026-02-30T00:00:00Z" is not an RFC 3339 time',
        "",
    ),
    ("empty name", _set("name", ""), "weights.lock: weights[0]", "weight name is empty", ""),
    (
        "name with uppercase",
        _set("name", "Alpha"),
        'weights.lock: weights[0] "Alpha"',
        'invalid weight name "Alpha"',
        "lowercase alphanumeric",
    ),
    (
        "relative target",
        _set("target", "weights"),
        ALPHA,
        "target must be an absolute path",
        'target is "weights"',
    ),
    ("string size", _set("size", "7"), ALPHA, "size must be an integer, not a string", ""),
    (
        "fractional size",
        _set("files.0.size", 1.5),
        ALPHA,
        "files[0].size must be an integer, not 1.5",
        "",
    ),
    (
        "size too large",
        _set("size", 2**63),
        ALPHA,
        "size is out of range",
        "9223372036854775808 does not fit in 64 bits",
    ),
    ("files is an object", _set("files", {}), ALPHA, "files must be an array, not an object", ""),
    (
        "source is a string",
        _set("source", "x"),
        ALPHA,
        "source must be an object, not a string",
        "",
    ),
    (
        "include holds a number",
        _set("source.include", ["a", 1]),
        ALPHA,
        "source.include[1] must be a string, not the number 1",
        "",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "subject", "summary", "detail"),
    [r[1:] for r in REJECTIONS],
    ids=[r[0] for r in REJECTIONS],
)
def test_invalid_lockfile_is_rejected_with_a_diagnostic_naming_the_entry(
    mutate: Any, subject: str, summary: str, detail: str
) -> None:
    lock = _lock_json()
    mutate(lock)
    problems = _problems(json.dumps(lock).encode())
    assert [(p.subject, p.summary) for p in problems if summary in p.summary] == [
        (subject, summary)
    ]
    found = next(p for p in problems if summary in p.summary)
    assert detail in found.detail
    assert "cogw import" in found.hint


def test_every_problem_in_a_lockfile_is_reported_at_once() -> None:
    lock = _lock_json()
    _set("files.0.path", "../x")(lock)
    _set("layers.0.size", -1)(lock)
    _second_entry(name="alpha")(lock)
    summaries = [p.summary for p in _problems(json.dumps(lock).encode())]
    assert summaries == [
        "unsafe file path in files[0]",
        "layers[0].size is negative (-1)",
        'duplicate weight name "alpha"',
    ]


VERSION_CASES = [
    ("wrong integer", b'{"version": 2}', "unsupported weights.lock version 2 (want 1)"),
    ("missing", b'{"weights": []}', "unsupported weights.lock version 0 (want 1)"),
    ("null document", b"null", "unsupported weights.lock version 0 (want 1)"),
    ("string", b'{"version": "v1"}', "version must be an integer, not a string"),
    ("float", b'{"version": 1.0}', "version must be an integer, not 1.0"),
    ("exponent", b'{"version": 1e0}', "version must be an integer, not 1e0"),
]


@pytest.mark.parametrize(
    ("data", "summary"), [c[1:] for c in VERSION_CASES], ids=[c[0] for c in VERSION_CASES]
)
def test_a_lockfile_version_other_than_1_is_refused_alone(data: bytes, summary: str) -> None:
    assert [p.summary for p in _problems(data)] == [summary]


def test_a_wrong_version_hides_the_rest_of_the_file() -> None:
    problems = _problems(b'{"version": 2, "weights": [{"name": "BAD"}]}')
    assert [p.summary for p in problems] == ["unsupported weights.lock version 2 (want 1)"]


SYNTAX_CASES = [
    ("not json", b"not json", "at line 1, column 1"),
    ("truncated", b'{\n  "version": 1,\n  "weights": [', "at line 3, column 15"),
    ("trailing comma", b'{"version": 1,}', "at line 1, column 15"),
    ("NaN", b'{"version": NaN}', "invalid literal NaN"),
    ("invalid UTF-8", b'{\n "envelopeFormat": "\xff"}', "invalid UTF-8 at line 2, column 21"),
    ("byte order mark", b'\xef\xbb\xbf{"version": 1}', "BOM"),
    ("deep nesting", b"[" * 100_000, "nested too deeply"),
    ("control character in string", b'{"envelopeFormat": "a\x01"}', "Invalid control character"),
]


@pytest.mark.parametrize(
    ("data", "detail"), [c[1:] for c in SYNTAX_CASES], ids=[c[0] for c in SYNTAX_CASES]
)
def test_invalid_json_is_reported_with_its_position(data: bytes, detail: str) -> None:
    (problem,) = _problems(data)
    assert problem.summary == "invalid JSON"
    assert problem.subject == "weights.lock"
    assert problem.detail.startswith("parse weights.lock: ")
    assert detail in problem.detail


def test_merge_conflict_markers_are_named_in_the_diagnostic() -> None:
    data = b'{\n<<<<<<< HEAD\n  "version": 1,\n=======\n  "version": 1,\n>>>>>>> b\n}'
    (problem,) = _problems(data)
    assert "merge-conflict markers" in problem.detail


def test_diagnostics_name_the_file_they_were_given() -> None:
    (problem,) = _problems(
        b"{",
    )
    assert problem.subject == "weights.lock"
    result = parse_lockfile(b"{", "proj/weights.lock")
    assert isinstance(result, Failure)
    assert result.failure()[0].subject == "proj/weights.lock"


def test_a_top_level_array_is_rejected() -> None:
    assert [p.summary for p in _problems(b"[]")] == ["weights.lock must be an object, not an array"]


def test_an_entry_without_manifest_or_set_digest_is_accepted() -> None:
    entry = _entry_json()
    entry["digest"] = ""
    entry["setDigest"] = ""
    got = _ok(_bytes(_lock_json(entry))).weights[0]
    assert (got.digest, got.set_digest) == ("", "")


def test_a_malformed_envelope_format_is_rejected() -> None:
    lock = _lock_json()
    lock["envelopeFormat"] = "sha256:nothex"
    (problem,) = _problems(_bytes(lock))
    assert (problem.subject, problem.summary) == ("weights.lock", "malformed envelopeFormat")
    assert problem.detail == 'invalid digest "sha256:nothex": expected 64 hex chars, got 6'


# ---------------------------------------------------------------------------
# Go decoding quirks that cogw keeps


def test_keys_match_case_insensitively_and_unknown_keys_are_ignored() -> None:
    entry = _entry_json()
    entry["NAME"] = entry.pop("name")
    entry["SetDigest"] = entry.pop("setDigest")
    entry["comment"] = "ignored"
    data = json.dumps({"Version": 1, "ENVELOPEFORMAT": "", "weights": [entry], "x": [1]}).encode()
    assert _ok(data) == _ok(_bytes(_lock_json()))


def test_keys_fold_like_go_including_the_long_s_and_kelvin_sign() -> None:
    entry = _entry_json()
    entry["\u017fize"] = entry.pop("size")  # "ſize" folds to "SIZE"
    entry["\u212aey"] = "unknown"  # folds to "KEY": still not a field
    assert _ok(_bytes(_lock_json(entry))).weights[0].size == 7


def test_a_later_duplicate_key_wins_like_go() -> None:
    data = b'{"version": 1, "envelopeFormat": "sha256:' + b"0" * 64 + b'", "envelopeformat": ""}'
    assert _ok(data).envelope_format == ""


def test_missing_keys_and_nulls_give_zero_values() -> None:
    entry = _entry_json()
    entry["source"] = {"uri": "file://./w", "fingerprint": None}
    entry["digest"] = None
    del entry["setDigest"]
    lock = _ok(json.dumps({"version": 1, "weights": [entry]}).encode())
    got = lock.weights[0]
    assert lock.envelope_format == ""
    assert (got.digest, got.set_digest) == ("", "")
    assert got.source == make_source("file://./w", "", imported_at=ZERO_TIME)


def test_importedAt_is_kept_as_the_exact_string_read() -> None:
    entry = _entry_json()
    entry["source"]["importedAt"] = "2026-04-29T17:23:00.414483123+02:00"
    lock = _ok(_bytes(_lock_json(entry)))
    assert lock.weights[0].source.imported_at == "2026-04-29T17:23:00.414483123+02:00"
    assert b'"importedAt": "2026-04-29T17:23:00.414483123+02:00"' in render_lockfile(lock)


# ---------------------------------------------------------------------------
# The later "sources" layout


def _sources_entry(*sources: dict[str, Any]) -> dict[str, Any]:
    entry = _entry_json()
    source = entry.pop("source")
    imported_at = source.pop("importedAt")
    rebuilt: dict[str, Any] = {"name": entry.pop("name"), "target": entry.pop("target")}
    rebuilt["sources"] = list(sources) if sources else [source]
    rebuilt["importedAt"] = imported_at
    rebuilt.update(entry)
    return rebuilt


def test_sources_layout_is_read_and_written_back_in_the_same_layout() -> None:
    data = _bytes(_lock_json(_sources_entry()))
    lock = _ok(data)
    assert lock.shape is Shape.SOURCES
    assert lock.weights[0].source.imported_at == "2026-04-29T17:23:00.414483Z"
    assert render_lockfile(lock) == data


def test_a_weight_with_several_sources_reads_all_of_them_and_renders_back() -> None:
    first = {"uri": "hf://a/b", "fingerprint": "commit:1", "include": [], "exclude": []}
    second = {
        "uri": "file://./extra",
        "fingerprint": "sha256:" + "3" * 64,
        "include": ["*.json"],
        "exclude": [],
    }
    data = _bytes(_lock_json(_sources_entry(first, second)))
    lock = _ok(data)
    (entry,) = lock.weights
    assert [s.uri for s in entry.sources] == ["hf://a/b", "file://./extra"]
    assert list(entry.sources[1].include) == ["*.json"]
    assert render_lockfile(lock) == data


def test_several_sources_cannot_be_rendered_in_the_v0_19_3_shape() -> None:
    source = {"uri": "hf://a/b", "fingerprint": "commit:1", "include": [], "exclude": []}
    lock = _ok(_bytes(_lock_json(_sources_entry(source, source))))
    with pytest.raises(ValueError, match="several sources"):
        render_lockfile(dataclasses.replace(lock, shape=Shape.SOURCE))


@pytest.mark.parametrize("sources", [[], None], ids=["empty list", "null"])
def test_a_weight_with_no_sources_is_refused(sources: Any) -> None:
    entry = _sources_entry()
    entry["sources"] = sources
    assert [p.summary for p in _problems(_bytes(_lock_json(entry)))] == ["holds no source"]


def test_an_entry_with_both_source_and_sources_is_refused() -> None:
    entry = _sources_entry()
    entry["source"] = _entry_json()["source"]
    summaries = [p.summary for p in _problems(_bytes(_lock_json(entry)))]
    assert summaries == ['has both "source" and "sources"']


def test_a_file_mixing_both_layouts_is_refused() -> None:
    data = _bytes(_lock_json(_entry_json(), _sources_entry() | {"name": "beta", "target": "/b"}))
    assert [p.summary for p in _problems(data)] == ['mixes the "source" and "sources" layouts']


# ---------------------------------------------------------------------------
# Rendering


def test_an_empty_lockfile_renders_like_cog() -> None:
    assert (
        render_lockfile(Lockfile())
        == b'{\n  "version": 1,\n  "envelopeFormat": "",\n  "weights": []\n}'
    )


def test_version_0_is_written_as_1() -> None:
    assert render_lockfile(Lockfile(version=0)).startswith(b'{\n  "version": 1,')


def _entry(files: list[LockFile], layers: list[LockLayer], **kw: Any) -> WeightEntry:
    return WeightEntry(
        name=kw.get("name", "alpha"),
        target="/w",
        source=kw.get("source", make_source("u", "f", imported_at="")),
        digest="",
        set_digest="",
        size=0,
        size_compressed=0,
        files=pvector(files),
        layers=pvector(layers),
    )


def test_render_sorts_files_by_path_and_layers_by_digest_bytewise() -> None:
    files = [LockFile("b", 1, D1, L2), LockFile("Z", 1, D1, L1), LockFile("a", 1, D1, L1)]
    layers = [LockLayer(L2, MEDIA_TYPE_TAR, 1, 1), LockLayer(L1, MEDIA_TYPE_TAR, 1, 1)]
    value = to_json_value(Lockfile(weights=pvector([_entry(files, layers)])))
    entry = value["weights"][0]
    assert [f["path"] for f in entry["files"]] == ["Z", "a", "b"]
    assert [layer["digest"] for layer in entry["layers"]] == [L1, L2]


def test_render_keeps_include_and_exclude_in_the_order_given() -> None:
    source = make_source("u", "f", include=["b", "a"], exclude=[])
    value = to_json_value(Lockfile(weights=pvector([_entry([], [], source=source)])))
    assert value["weights"][0]["source"]["include"] == ["b", "a"]
    assert value["weights"][0]["source"]["exclude"] == []


def test_an_empty_import_time_is_written_as_gos_zero_time() -> None:
    value = to_json_value(Lockfile(weights=pvector([_entry([], [])])))
    assert value["weights"][0]["source"]["importedAt"] == ZERO_TIME


def test_render_escapes_strings_like_go() -> None:
    source = make_source("hf://a/b?x=<1>&y=\u2028é", "f")
    data = render_lockfile(Lockfile(weights=pvector([_entry([], [], source=source)])))
    assert b'"uri": "hf://a/b?x=\\u003c1\\u003e\\u0026y=\\u2028\xc3\xa9"' in data
    assert not data.endswith(b"\n")


def test_sources_layout_renders_in_the_later_cog_key_order() -> None:
    lock = Lockfile(weights=pvector([_entry([], [])]), shape=Shape.SOURCES)
    entry = to_json_value(lock)["weights"][0]
    assert list(entry) == [
        "name", "target", "sources", "importedAt", "digest", "setDigest",
        "size", "sizeCompressed", "files", "layers",
    ]  # fmt: skip
    assert list(entry["sources"][0]) == ["uri", "fingerprint", "include", "exclude"]


# ---------------------------------------------------------------------------
# Operations


def test_make_entry_computes_set_digest_and_sizes_and_sorts() -> None:
    files = [LockFile("b", 4, D2, L2), LockFile("a", 3, D1, L1)]
    layers = [LockLayer(L2, MEDIA_TYPE_TAR_GZIP, 4, 4), LockLayer(L1, MEDIA_TYPE_TAR, 5, 3)]
    entry = make_entry(
        name="alpha",
        target="/w",
        source=make_source("u", "f"),
        digest="",
        files=files,
        layers=layers,
    )
    assert entry.set_digest == set_digest_of(files)
    assert (entry.size, entry.size_compressed) == (7, 9)
    assert [f.path for f in entry.files] == ["a", "b"]
    assert [layer.digest for layer in entry.layers] == [L1, L2]


def _named(*names: str) -> Lockfile:
    return Lockfile(weights=pvector(_entry([], [], name=n) for n in names))


def test_find_weight_returns_the_named_entry_or_none() -> None:
    lock = _named("a", "b")
    found = find_weight(lock, "b")
    assert found is not None and found.name == "b"
    assert find_weight(lock, "c") is None


def test_upsert_replaces_in_place_and_appends_new_names() -> None:
    lock = _named("a", "b", "c")
    changed = dataclasses.replace(lock.weights[1], target="/new")
    assert upsert(lock, changed).weights == lock.weights.set(1, changed)
    added = _entry([], [], name="d")
    assert [e.name for e in upsert(lock, added).weights] == ["a", "b", "c", "d"]
    assert [e.name for e in lock.weights] == ["a", "b", "c"]  # input untouched


@pytest.mark.parametrize(
    ("keep", "want"),
    [
        (["c", "a"], ["a", "c"]),
        (["a", "zzz"], ["a"]),
        ([], []),
        (["a", "b", "c"], ["a", "b", "c"]),
    ],
    ids=["lock order kept", "unknown names harmless", "empty keep removes all", "all kept"],
)
def test_retain_keeps_named_entries_in_lock_order(keep: list[str], want: list[str]) -> None:
    assert [e.name for e in retain(_named("a", "b", "c"), keep).weights] == want


def test_retaining_nothing_writes_an_empty_list() -> None:
    assert render_lockfile(retain(_named("a"), [])).endswith(b'"weights": []\n}')


_BASE = _entry([LockFile("a", 1, D1, L1)], [LockLayer(L1, MEDIA_TYPE_TAR, 1, 1)])
ENTRY_CHANGES = [
    ("name", {"name": "other"}),
    ("target", {"target": "/other"}),
    ("digest", {"digest": D2}),
    ("set digest", {"set_digest": D2}),
    ("size", {"size": 5}),
    ("compressed size", {"size_compressed": 5}),
    ("file size", {"files": pvector([LockFile("a", 2, D1, L1)])}),
    ("file layer", {"files": pvector([LockFile("a", 1, D1, L2)])}),
    ("layer media type", {"layers": pvector([LockLayer(L1, MEDIA_TYPE_TAR_GZIP, 1, 1)])}),
    ("uri", {"source": make_source("u2", "f", imported_at="")}),
    ("fingerprint", {"source": make_source("u", "f2", imported_at="")}),
    ("include", {"source": make_source("u", "f", include=["x"], imported_at="")}),
    ("exclude", {"source": make_source("u", "f", exclude=["x"], imported_at="")}),
]


@pytest.mark.parametrize("change", [c[1] for c in ENTRY_CHANGES], ids=[c[0] for c in ENTRY_CHANGES])
def test_entries_differing_in_any_field_but_import_time_are_not_equal(
    change: dict[str, Any],
) -> None:
    assert not entries_equal(_BASE, dataclasses.replace(_BASE, **change))


def test_entries_equal_ignores_import_time_and_is_none_safe() -> None:
    later = dataclasses.replace(
        _BASE, source=make_source("u", "f", imported_at="2030-01-01T00:00:00Z")
    )
    assert entries_equal(_BASE, later)
    assert not entries_equal(_BASE, None)
    assert not entries_equal(None, _BASE)
    assert not entries_equal(None, None)


def test_runtime_manifest_lists_name_target_and_set_digest_in_lock_order() -> None:
    lock = _ok(_bytes(_lock_json(_entry_json(), _entry_json("beta", "/b"))))
    set_digest = lock.weights[0].set_digest
    want = "\n".join(
        [
            "{",
            '  "weights": [',
            "    {",
            '      "name": "alpha",',
            '      "target": "/src/weights/alpha",',
            f'      "setDigest": "{set_digest}"',
            "    },",
            "    {",
            '      "name": "beta",',
            '      "target": "/b",',
            f'      "setDigest": "{set_digest}"',
            "    }",
            "  ]",
            "}",
        ]
    )
    assert runtime_manifest(lock) == want.encode()
    assert runtime_manifest(Lockfile()) == b'{\n  "weights": []\n}'


# ---------------------------------------------------------------------------
# Properties


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(lockfiles())
def test_render_then_parse_gives_the_same_lockfile_and_bytes(lock: Lockfile) -> None:
    data = render_lockfile(lock)
    assert _ok(data) == lock
    assert render_lockfile(_ok(data)) == data


@given(lockfiles())
@settings(max_examples=20, deadline=None)
def test_canonicalize_is_idempotent_and_render_depends_only_on_content(lock: Lockfile) -> None:
    reversed_files = Lockfile(
        weights=pvector(
            dataclasses.replace(
                e, files=pvector(reversed(e.files)), layers=pvector(reversed(e.layers))
            )
            for e in lock.weights
        ),
        envelope_format=lock.envelope_format,
        shape=lock.shape,
    )
    assert canonicalize(canonicalize(lock)) == canonicalize(lock)
    assert render_lockfile(reversed_files) == render_lockfile(lock)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_parse_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    assert isinstance(parse_lockfile(data), (Success, Failure))


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
_FIELD_NAMES = st.sampled_from(
    ["version", "weights", "name", "target", "source", "sources", "files", "layers", "path",
     "digest", "size", "layer", "importedAt", "include", "mediaType", "setDigest"]
)  # fmt: skip


@pytest.mark.slow
@settings(max_examples=50, deadline=None)
@given(lockfiles(max_weights=2), st.data())
def test_parse_never_raises_on_damaged_lockfiles(lock: Lockfile, data: st.DataObject) -> None:
    value = json.loads(render_lockfile(lock))
    for _ in range(data.draw(st.integers(1, 3))):
        node: Any = value
        while isinstance(node, (dict, list)) and node and data.draw(st.booleans()):
            node = node[
                data.draw(
                    st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node)))
                )
            ]
        if isinstance(node, dict):
            node[data.draw(_FIELD_NAMES)] = data.draw(_JSONISH)
        elif isinstance(node, list):
            node.append(data.draw(_JSONISH))
    assert isinstance(parse_lockfile(json.dumps(value).encode()), (Success, Failure))


@given(lockfiles(), weight_entries())
@settings(max_examples=20, deadline=None)
def test_upsert_laws(lock: Lockfile, entry: WeightEntry) -> None:
    once = upsert(lock, entry)
    assert upsert(once, entry) == once  # idempotent
    assert find_weight(once, entry.name) == entry
    names = [e.name for e in lock.weights]
    if entry.name in names:
        assert len(once.weights) == len(lock.weights)
        assert [e.name for e in once.weights] == names
    else:
        assert once.weights == lock.weights.append(entry)
    others = [e for e in once.weights if e.name != entry.name]
    assert others == [e for e in lock.weights if e.name != entry.name]


@given(lockfiles(), st.lists(st.text(max_size=4)), st.lists(st.text(max_size=4)))
@settings(max_examples=20, deadline=None)
def test_retain_laws(lock: Lockfile, keep_a: list[str], keep_b: list[str]) -> None:
    names = [e.name for e in lock.weights]
    keep_a += names[::2]
    kept = retain(lock, keep_a)
    assert retain(lock, names) == lock
    assert retain(kept, keep_a) == kept
    assert retain(retain(lock, keep_a), keep_b) == retain(lock, set(keep_a) & set(keep_b))
    assert [e.name for e in kept.weights] == [n for n in names if n in set(keep_a)]


def test_entries_compare_files_positionally_like_cog() -> None:
    files = [LockFile("a", 1, D1, L1), LockFile("b", 1, D2, L1)]
    layers = [LockLayer(L1, MEDIA_TYPE_TAR, 1, 1)]
    one = _entry(files, layers)
    assert not entries_equal(one, _entry(files[::-1], layers))


def test_a_type_problem_is_not_repeated_by_checks_of_the_zero_value_it_left() -> None:
    lock = _lock_json()
    _set("files.0.digest", 5)(lock)
    problems = _problems(_bytes(lock))
    assert [p.summary for p in problems] == ["files[0].digest must be a string, not the number 5"]


def test_two_entries_for_one_target_are_repairable_and_nothing_else_is() -> None:
    data = _bytes(_lock_json(_entry_json(), _entry_json("beta", "/src/weights/alpha/")))
    (problem,) = _problems(data)
    assert problem.summary == 'duplicate weight target "/src/weights/alpha/"'
    assert "'cogw apply prune --yes'" in problem.hint
    lock, repairable = parse_lockfile_repairable(data).unwrap()
    assert [e.name for e in lock.weights] == ["alpha", "beta"]
    assert repairable == (problem,)
    assert parse_lockfile_repairable(_bytes(_lock_json(_entry_json()))).unwrap()[1] == ()
    duplicate_name = _bytes(_lock_json(_entry_json(), _entry_json("alpha", "/src/weights/b")))
    assert not is_successful(parse_lockfile_repairable(duplicate_name))
