"""cog.yaml weights section: Cog's rules and messages (import spec §2-3), reported all at once."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pvector
from returns.result import Failure, Success

from cogw.core.config.weights import (
    HFRef,
    ProjectConfig,
    WeightSpec,
    normalize_uri,
    parse_config,
    parse_hf_uri,
    scheme_of,
    spec_from_entry,
    specs_equal,
)
from cogw.core.lock.lockfile import LockSource, WeightEntry

# ---------------------------------------------------------------- URIs

NORMALISED = [
    ("weights", "file://./weights"),
    ("./weights", "file://./weights"),
    ("file://./weights", "file://./weights"),
    ("file://weights/", "file://./weights"),
    ("./weights//models", "file://./weights/models"),
    ("./weights/./models", "file://./weights/models"),
    ("/data/weights", "file:///data/weights"),
    ("/data//weights", "file:///data/weights"),
    ("file:///data/weights", "file:///data/weights"),
    ("file://weights", "file://./weights"),
    ("file://localhost/x", "file://./localhost/x"),
    ("a/../b", "file://./b"),
    ("..weights", "file://./..weights"),
    ("./..foo/bar", "file://./..foo/bar"),
    ("huggingface://org/repo@main", "hf://org/repo"),
    ("hf://org/repo@main", "hf://org/repo"),
    ("hf://org/repo", "hf://org/repo"),
    ("hf://org/repo@v1.0", "hf://org/repo@v1.0"),
    ("hf://org/repo@abc123", "hf://org/repo@abc123"),
    ("hf://Org/Repo@feature/branch", "hf://Org/Repo@feature/branch"),
    ("https://example.com/models/m.bin", "https://example.com/models/m.bin"),
    ("http://127.0.0.1:8080/x/m.pth?sig=a%2Fb&x=1", "http://127.0.0.1:8080/x/m.pth?sig=a%2Fb&x=1"),
    ("https://Example.com/a%20b/m.bin", "https://Example.com/a%20b/m.bin"),
    ("https://h.example/a b/c.bin", "https://h.example/a%20b/c.bin"),
    ("https://h.example/é.bin", "https://h.example/%C3%A9.bin"),
    ("https://h.example/m.bin#frag", "https://h.example/m.bin#frag"),
    ("https://h.example/m.bin#", "https://h.example/m.bin"),
    ("https://[::1]:8443/m.bin", "https://[::1]:8443/m.bin"),
]


@pytest.mark.parametrize(("uri", "canonical"), NORMALISED, ids=[u for u, _ in NORMALISED])
def test_uri_is_normalised_as_cog_does(uri: str, canonical: str) -> None:
    assert normalize_uri(uri) == Success(canonical)


REJECTED = [
    ("", "weight source.uri is required"),
    ("file://", "empty weight source path"),
    (".", "weight source cannot be the project directory itself"),
    ("./", "weight source cannot be the project directory itself"),
    ("a/..", "weight source cannot be the project directory itself"),
    ("../weights", 'weight source "../weights" escapes the project directory'),
    ("..", 'weight source ".." escapes the project directory'),
    ("a/../../b", 'weight source "a/../../b" escapes the project directory'),
    ("file://../w", 'weight source "../w" escapes the project directory'),
    ("hf://", "empty hf:// URI"),
    ("hf://org/repo@", 'empty ref in hf:// URI: "hf://org/repo@"'),
    ("hf://justrepo", 'invalid hf:// repo "justrepo": expected org/repo'),
    ("hf://a/b/c", 'invalid hf:// repo "a/b/c": expected org/repo'),
    ("hf:///repo", 'invalid hf:// repo "/repo": expected org/repo'),
    ("hf://org/", 'invalid hf:// repo "org/": expected org/repo'),
    (
        "s3://b/k",
        'unsupported weight source scheme "s3" in URI "s3://b/k" '
        "(supported: file, hf, huggingface, http, https)",
    ),
    (
        "HTTPS://h/m.bin",
        'unsupported weight source scheme "HTTPS" in URI "HTTPS://h/m.bin" '
        "(supported: file, hf, huggingface, http, https)",
    ),
    ("https://user:pass@h/m.bin", "HTTP URI must not embed credentials (user:pass@host)"),
    ("https://token@h/m.bin", "HTTP URI must not embed credentials (user:pass@host)"),
    ("https://h.example", 'HTTP URI "https://h.example" has no filename in path'),
    ("https://h.example/", 'HTTP URI "https://h.example/" has no filename in path'),
    ("https://h.example/dir/", 'HTTP URI "https://h.example/dir/" has no filename in path'),
    ("https://h.example/a/..", 'HTTP URI "https://h.example/a/.." has no filename in path'),
    ("https://h.example/a/%2E%2E", 'HTTP URI "https://h.example/a/%2E%2E" has no filename in path'),
    ("https://h.example/a%2F", 'HTTP URI "https://h.example/a%2F" has no filename in path'),
    ("https:///m.bin", 'HTTP URI "https:///m.bin" has no host'),
    (
        "https://h:port/m.bin",
        'invalid HTTP URI "https://h:port/m.bin": invalid host or port "h:port"',
    ),
    ("https://h/%zz.bin", 'invalid HTTP URI "https://h/%zz.bin": invalid URL escape "%zz"'),
    (
        "https://h/m\n.bin",
        'invalid HTTP URI "https://h/m\\n.bin": invalid control character in URL',
    ),
]


@pytest.mark.parametrize(("uri", "message"), REJECTED, ids=[repr(u) for u, _ in REJECTED])
def test_bad_uri_is_rejected_with_cogs_message(uri: str, message: str) -> None:
    assert normalize_uri(uri) == Failure(message)


@pytest.mark.parametrize(
    ("uri", "scheme"),
    [("hf://o/r", "hf"), ("weights", ""), ("/abs", ""), ("s3://b", "s3"), ("a/b://c", "a/b")],
    ids=["hf", "bare", "absolute", "s3", "first-separator"],
)
def test_scheme_is_the_text_before_the_first_separator(uri: str, scheme: str) -> None:
    assert scheme_of(uri) == scheme


@pytest.mark.parametrize(
    ("uri", "ref"),
    [
        ("hf://o/m", HFRef("o", "m", "main")),
        ("huggingface://o/m@v2", HFRef("o", "m", "v2")),
        ("hf://o/m@feature/branch", HFRef("o", "m", "feature/branch")),
        ("hf://o/m@a@b", HFRef("o", "m@a", "b")),
    ],
    ids=["default-main", "long-prefix", "ref-with-slash", "last-at-splits"],
)
def test_hf_uri_splits_into_org_repo_and_ref(uri: str, ref: HFRef) -> None:
    assert parse_hf_uri(uri) == Success(ref)


def test_hf_uri_parser_rejects_other_schemes() -> None:
    assert parse_hf_uri("file://x") == Failure('not an hf:// URI: "file://x"')


_uri_text = st.one_of(
    st.text(alphabet="ab./", max_size=12),
    st.text(alphabet="ab./", max_size=12).map(lambda s: "file://" + s),
    st.text(alphabet="ab/@", max_size=12).map(lambda s: "hf://" + s),
    st.text(alphabet="ab./%20", max_size=12).map(lambda s: "https://h.example/" + s),
)


@pytest.mark.slow
@given(_uri_text)
def test_normalising_a_canonical_uri_changes_nothing(uri: str) -> None:
    first = normalize_uri(uri)
    if isinstance(first, Success):
        assert normalize_uri(first.unwrap()) == first


# ---------------------------------------------------------------- cog.yaml


def weight(name: Any = "w", target: Any = "/src/w", **source: Any) -> dict[str, Any]:
    source.setdefault("uri", "weights")
    return {"name": name, "target": target, "source": source}


def summaries(raw: object) -> list[str]:
    result = parse_config(raw)
    assert isinstance(result, Failure), result
    return [d.summary for d in result.failure()]


def test_valid_config_yields_normalised_specs_and_ignores_other_keys() -> None:
    raw = {
        "build": {"gpu": True},
        "predict": "predict.py:Predictor",
        "image": "registry.example.com/acme/model",
        "weights": [
            weight(
                "parakeet",
                "/src/weights/parakeet",
                uri="./weights//p",
                include=[" *.json", "*.bin"],
            ),
            weight(
                "minilm", "/src/weights/minilm/", uri="huggingface://s/m@main", exclude=["onnx/"]
            ),
        ],
    }
    assert parse_config(raw) == Success(
        ProjectConfig(
            image="registry.example.com/acme/model",
            weights=pvector(
                [
                    WeightSpec(
                        "parakeet",
                        "/src/weights/parakeet",
                        "file://./weights/p",
                        pvector(["*.bin", "*.json"]),
                        pvector(),
                    ),
                    WeightSpec(
                        "minilm", "/src/weights/minilm/", "hf://s/m", pvector(), pvector(["onnx/"])
                    ),
                ]
            ),
            repository="registry.example.com/acme/model",
        )
    )


@pytest.mark.parametrize(
    "raw",
    [None, {}, {"image": "x"}, {"weights": None}, {"weights": []}, {"build": {"gpu": True}}],
    ids=["empty-file", "empty-mapping", "image-only", "null-weights", "no-weights", "other-keys"],
)
def test_config_without_weights_needs_no_image(raw: object) -> None:
    result = parse_config(raw)
    assert isinstance(result, Success)
    assert result.unwrap().weights == pvector()


# (cog.yaml data, expected summaries in order) — one row per rule of import spec §2.1-2.2
RULES: list[tuple[str, Any, list[str]]] = [
    ("root-not-mapping", ["a"], ['schema error in "cog.yaml": must be a mapping']),
    ("image-not-string", {"image": 5}, ['schema error in "image": must be a string']),
    (
        "weights-not-list",
        {"image": "x", "weights": {"a": 1}},
        ['schema error in "weights": must be a list'],
    ),
    (
        "item-not-mapping",
        {"image": "x", "weights": ["w"]},
        ['schema error in "weights.0": must be a mapping'],
    ),
    (
        "source-missing",
        {"image": "x", "weights": [{"name": "w", "target": "/w"}]},
        ['schema error in "weights.0": source is required'],
    ),
    (
        "uri-missing",
        {"image": "x", "weights": [{"name": "w", "target": "/w", "source": {}}]},
        ['schema error in "weights.0.source": uri is required'],
    ),
    (
        "unknown-keys",
        {"image": "x", "weights": [{**weight(), "mount": 1}]},
        ['schema error in "weights.0": Additional property mount is not allowed'],
    ),
    (
        "unknown-source-key",
        {"image": "x", "weights": [weight(ref="main")]},
        ['schema error in "weights.0.source": Additional property ref is not allowed'],
    ),
    (
        "mistyped-fields",
        {"image": "x", "weights": [weight(target=3, include="*.bin", exclude=[1])]},
        [
            'schema error in "weights.0.target": must be a string',
            'schema error in "weights.0.source.include": must be a list',
            'schema error in "weights.0.source.exclude.0": must be a string',
        ],
    ),
    (
        "model-required",
        {"weights": [weight()]},
        ["invalid model: weights require 'model' in cog.yaml — rename 'image' to 'model'"],
    ),
    (
        "name-not-string",
        {"image": "x", "weights": [weight(name=7)]},
        ['schema error in "weights.0.name": must be a string'],
    ),
    (
        "name-required",
        {"image": "x", "weights": [weight(name="")]},
        ["invalid weights[0].name: name is required"],
    ),
    (
        "name-pattern",
        {"image": "x", "weights": [weight(name="My_Model")]},
        [
            'invalid weights[0].name "My_Model": must contain only lowercase alphanumeric '
            "characters, "
            'hyphens, dots, or underscores (e.g. "my-model-weights")'
        ],
    ),
    (
        "name-double-separator",
        {"image": "x", "weights": [weight(name="a--b")]},
        [
            'invalid weights[0].name "a--b": must contain only lowercase alphanumeric characters, '
            'hyphens, dots, or underscores (e.g. "my-model-weights")'
        ],
    ),
    (
        "duplicate-name",
        {"image": "x", "weights": [weight("a", "/a"), weight("a", "/b")]},
        ['invalid weights[1].name "a": duplicate weight name'],
    ),
    (
        "empty-pattern",
        {"image": "x", "weights": [weight(include=["  "])]},
        ["invalid weights[0].source.include[0]: pattern must not be empty"],
    ),
    (
        "negation",
        {"image": "x", "weights": [weight(exclude=["*.bin", " !keep.bin"])]},
        [
            'invalid weights[0].source.exclude[1] "!keep.bin": '
            "negation patterns (starting with '!') are not supported"
        ],
    ),
    (
        "backslash",
        {"image": "x", "weights": [weight(include=["onnx\\*.onnx"])]},
        [
            'invalid weights[0].source.include[0] "onnx\\\\*.onnx": '
            "patterns must use forward slashes, not backslashes"
        ],
    ),
    (
        "comment-pattern",
        {"image": "x", "weights": [weight(include=["#x"])]},
        [
            'invalid weights[0].source.include[0] "#x": '
            "patterns must not start with '#' (write [#] to match a literal '#')"
        ],
    ),
    (
        "unbalanced-bracket",
        {"image": "x", "weights": [weight(include=["model["])]},
        [
            'invalid weights[0].source.include[0] "model[": '
            "unbalanced '[' in pattern (write [[] to match a literal '[')"
        ],
    ),
    (
        "target-required",
        {"image": "x", "weights": [weight(target="")]},
        ["invalid weights[0].target: target is required"],
    ),
    (
        "target-relative",
        {"image": "x", "weights": [weight(target="src/w")]},
        ['invalid weights[0].target "src/w": target must be an absolute path'],
    ),
    (
        "target-root",
        {"image": "x", "weights": [weight(target="/src/..")]},
        ['invalid weights[0].target "/src/..": target must not be the container root "/"'],
    ),
    (
        "duplicate-target-after-cleaning",
        {"image": "x", "weights": [weight("a", "/src/w"), weight("b", "/src/w/")]},
        ['invalid weights[1].target "/src/w/": duplicate weight target'],
    ),
    (
        "nested-target",
        {"image": "x", "weights": [weight("a", "/src/w"), weight("b", "/src/w/sub")]},
        [
            'invalid weights[1].target "/src/w/sub": '
            'target overlaps with "/src/w"; weight targets must be disjoint'
        ],
    ),
    (
        "enclosing-target",
        {"image": "x", "weights": [weight("a", "/src/w/sub"), weight("b", "/src//w")]},
        [
            'invalid weights[1].target "/src//w": '
            'target overlaps with "/src/w/sub"; weight targets must be disjoint'
        ],
    ),
    (
        "bad-uri-at-config-time",
        {"image": "x", "weights": [weight(uri="s3://b/k")]},
        [
            "invalid weights[0].source.uri: "
            'unsupported weight source scheme "s3" in URI "s3://b/k" '
            "(supported: file, hf, huggingface, http, https)"
        ],
    ),
]


@pytest.mark.parametrize(("raw", "expected"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_each_rule_reports_cogs_message(raw: object, expected: list[str]) -> None:
    assert summaries(raw) == expected


def test_sibling_targets_sharing_a_prefix_are_disjoint() -> None:
    raw = {"image": "x", "weights": [weight("a", "/src/weights"), weight("b", "/src/weights2")]}
    assert isinstance(parse_config(raw), Success)


def test_every_problem_is_reported_at_once_with_subject_and_hint() -> None:
    raw = {
        "weights": [
            weight("alpha", "/src/a"),
            weight("Beta", "rel", uri="../up", include=["!x"]),
            weight("alpha", "/src/a/b"),
        ]
    }
    result = parse_config(raw, "model.yaml")
    assert isinstance(result, Failure)
    problems = result.failure()
    assert [(d.subject, d.summary.split(":")[0]) for d in problems] == [
        ("model.yaml: model", "invalid model"),
        ('model.yaml: weights[1] "Beta"', 'invalid weights[1].name "Beta"'),
        ('model.yaml: weights[1] "Beta"', 'invalid weights[1].source.include[0] "!x"'),
        ('model.yaml: weights[1] "Beta"', 'invalid weights[1].target "rel"'),
        ('model.yaml: weights[1] "Beta"', "invalid weights[1].source.uri"),
        ('model.yaml: weights[2] "alpha"', 'invalid weights[2].name "alpha"'),
        ('model.yaml: weights[2] "alpha"', 'invalid weights[2].target "/src/a/b"'),
    ]
    assert all(d.hint for d in problems)


def test_schema_error_for_the_root_names_the_real_config_file() -> None:
    result = parse_config(3, "other.yaml")
    assert isinstance(result, Failure)
    assert result.failure()[0].summary == 'schema error in "other.yaml": must be a mapping'


def test_patterns_are_trimmed_and_sorted_bytewise_without_deduplication() -> None:
    raw = {"image": "x", "weights": [weight(include=["b", " a ", "B", "b"])]}
    spec = parse_config(raw).unwrap().weights[0]
    assert spec.include == pvector(["B", "a", "b", "b"])


def test_target_is_kept_verbatim() -> None:
    spec = parse_config({"image": "x", "weights": [weight(target="/src//w/")]}).unwrap().weights[0]
    assert spec.target == "/src//w/"


# ---------------------------------------------------------------- lockfile side


def entry(uri: str, include: list[str], exclude: list[str], target: str = "/w") -> WeightEntry:
    return WeightEntry(
        name="w",
        target=target,
        source=LockSource(
            uri=uri,
            fingerprint="sha256:" + "0" * 64,
            include=pvector(include),
            exclude=pvector(exclude),
        ),
        digest="",
        set_digest="",
        size=0,
        size_compressed=0,
    )


def test_spec_from_entry_copies_the_lock_verbatim_without_normalising() -> None:
    spec = spec_from_entry(entry("./weights", ["b", "a"], [" x"], target="/w/"))
    assert spec == WeightSpec("w", "/w/", "./weights", pvector(["b", "a"]), pvector([" x"]))


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (WeightSpec("a", "/w", "file://./w"), WeightSpec("b", "/w", "file://./w"), True),
        (WeightSpec("a", "/w", "u", pvector()), WeightSpec("a", "/w", "u", pvector([])), True),
        (WeightSpec("a", "/w", "u"), WeightSpec("a", "/w/", "u"), False),
        (WeightSpec("a", "/w", "u"), WeightSpec("a", "/w", "v"), False),
        (
            WeightSpec("a", "/w", "u", pvector(["x", "y"])),
            WeightSpec("a", "/w", "u", pvector(["y", "x"])),
            False,
        ),
        (WeightSpec("a", "/w", "u", exclude=pvector(["x"])), WeightSpec("a", "/w", "u"), False),
    ],
    ids=["name-ignored", "empty-lists", "target-uncleaned", "uri", "include-order", "exclude"],
)
def test_specs_equal_compares_target_uri_and_patterns(
    a: WeightSpec, b: WeightSpec, equal: bool
) -> None:
    assert specs_equal(a, b) is equal
