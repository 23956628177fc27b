"""Include/exclude patterns: Cog's selections (import spec §5.2) and the quirks cogw fixes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pvector
from returns.result import Failure, Success

from cogw.core.config import parse_config
from cogw.core.filters import (
    MAX_PATTERN_LENGTH,
    MAX_PATTERNS,
    compile_filter,
    filter_inventory,
    pattern_error,
    pattern_regex,
    patterns_error,
)
from cogw.core.inventory import Inventory, InventoryFile


def selects(pattern: str, path: str) -> bool:
    return compile_filter([pattern], []).matches(path)


# (pattern, paths it selects, paths it does not select) — every row of import spec §5.2
# whose behaviour cogw keeps, including the surprising ones Cog users rely on.
COG_TABLE = [
    ("*.bin", ["a.bin", "x/y/a.bin", "dir.bin/readme.md"], ["a.binx"]),
    ("onnx/*", ["onnx/m.onnx", "a/onnx/m.onnx", "onnx/sub/x"], ["onnxx/a"]),
    ("onnx/*.onnx", ["onnx/m.onnx"], ["a/onnx/m.onnx", "onnx/sub/m.onnx"]),
    ("a/b/*.safetensors", ["a/b/d.safetensors"], ["a/b/c.bin", "x/a/b/d.safetensors"]),
    ("openvino/", ["openvino/x.bin", "a/openvino/x.bin"], ["openvino"]),
    ("config.json", ["config.json", "sub/config.json"], ["config.jsonx"]),
    ("/config.json", ["config.json"], ["sub/config.json"]),
    ("**/*.safetensors", ["model.safetensors", "a/b/x.safetensors"], ["model.bin"]),
    ("a/**/b", ["a/b", "a/x/y/b"], ["ab", "a/xb"]),
    ("abc/**", ["abc/x/y", "abc/x"], ["abcd/x"]),
    ("tokenizer", ["tokenizer/vocab.json", "tokenizer"], ["tokenizer.json"]),
    ("README*", ["README.md", "docs/README.md"], ["XREADME.md"]),
    ("*.safetensors", ["model.safetensors"], ["Model.Safetensors"]),
    ("/**/x.bin", ["x.bin", "a/b/x.bin"], ["a/y.bin"]),
    ("**", ["a", "a/b/c"], []),
]


@pytest.mark.parametrize(
    ("pattern", "selected", "not_selected"), COG_TABLE, ids=[row[0] for row in COG_TABLE]
)
def test_pattern_selects_the_same_paths_as_cog(
    pattern: str, selected: list[str], not_selected: list[str]
) -> None:
    assert pattern_error(pattern) is None
    for path in selected:
        assert selects(pattern, path), path
    for path in not_selected:
        assert not selects(pattern, path), path


@pytest.mark.parametrize(
    ("pattern", "regex"),
    [
        ("*.bin", r"(?:|.*/)[^/]*\.bin(?:|/.*)"),
        ("onnx/*", r"(?:|.*/)onnx/[^/]*(?:|/.*)"),
        ("onnx/*.onnx", r"(?:|/)onnx/[^/]*\.onnx(?:|/.*)"),
        ("openvino/", r"(?:|.*/)openvino/(?:|.*)"),
        ("**/*.safetensors", r"(?:|.*/)(?:|.*/)[^/]*\.safetensors(?:|/.*)"),
        ("a/**/b", r"(?:|.*/)a(?:/|/.+/)b(?:|/.*)"),
    ],
    ids=["star-ext", "dir-star", "anchored", "trailing-slash", "double-star", "middle-double-star"],
)
def test_regex_has_the_shape_of_go_gitignore_translation(pattern: str, regex: str) -> None:
    assert pattern_regex(pattern) == regex


# (pattern, path, selected?) for the quirks cogw fixes (import spec §5.3, §17 #10).
FIXES = [
    ("model?.bin", "model1.bin", True),
    ("model?.bin", "model?.bin", True),
    ("model?.bin", "model12.bin", False),
    ("a?b", "a/b", False),
    ("model+1.bin", "model+1.bin", True),
    ("model+1.bin", "model1.bin", False),
    ("(a|b).bin", "(a|b).bin", True),
    ("(a|b).bin", "a.bin", False),
    ("x{2}.bin", "xx.bin", False),
    ("x{2}.bin", "x{2}.bin", True),
    ("^a$", "^a$", True),
    ("shard-[0-9].bin", "shard-3.bin", True),
    ("shard-[0-9].bin", "shard-x.bin", False),
    ("[!a]x", "bx", True),
    ("[!a]x", "ax", False),
    ("a[!x]b", "a/b", False),
    ("a[^x]b", "a/b", False),
    ("a[/]b", "a/b", False),
    ("[#]notes", "#notes", True),
    ("[]]x", "]x", True),
    ("*.bin", "a.bin\n", False),
]


@pytest.mark.parametrize(
    ("pattern", "path", "selected"), FIXES, ids=[f"{p} {s!r}" for p, s, _ in FIXES]
)
def test_fixed_quirks_make_glob_syntax_mean_what_it_says(
    pattern: str, path: str, selected: bool
) -> None:
    assert pattern_error(pattern) is None
    assert selects(pattern, path) is selected


INVALID = [
    ("", "pattern must not be empty"),
    ("   ", "pattern must not be empty"),
    ("!*.bin", "negation patterns (starting with '!') are not supported"),
    (" !x", "negation patterns (starting with '!') are not supported"),
    ("onnx\\*.bin", "patterns must use forward slashes, not backslashes"),
    ("#comment", "patterns must not start with '#' (write [#] to match a literal '#')"),
    ("model[", "unbalanced '[' in pattern (write [[] to match a literal '[')"),
    ("a[!", "unbalanced '[' in pattern (write [[] to match a literal '[')"),
    ("[z-a]", "invalid character class in pattern: bad character range z-a"),
]


@pytest.mark.parametrize(("pattern", "message"), INVALID, ids=[repr(p) for p, _ in INVALID])
def test_invalid_pattern_is_rejected_with_a_reason(pattern: str, message: str) -> None:
    assert pattern_error(pattern) == message


def test_exclude_wins_over_include() -> None:
    path_filter = compile_filter(["*.safetensors", "*.json"], ["onnx/"])
    assert path_filter.matches("model.safetensors")
    assert path_filter.matches("sub/config.json")
    assert not path_filter.matches("onnx/model.safetensors")
    assert not path_filter.matches("README.md")


def test_empty_include_keeps_everything_not_excluded() -> None:
    path_filter = compile_filter([], ["*.onnx"])
    assert path_filter.matches("README.md")
    assert not path_filter.matches("m.onnx")


def inventory(*paths: str) -> Inventory:
    files = pvector(
        InventoryFile(path=p, size=i, digest=f"sha256:{i:064x}") for i, p in enumerate(paths)
    )
    return Inventory(files=files, fingerprint="sha256:" + "f" * 64)


def test_filter_inventory_keeps_order_and_fingerprint() -> None:
    inv = inventory("b.safetensors", "a.json", "onnx/m.onnx", "a.safetensors")
    result = filter_inventory(inv, ["*.safetensors", "*.json"], ["onnx/"])
    assert result == Success(
        Inventory(
            files=pvector([inv.files[0], inv.files[1], inv.files[3]]), fingerprint=inv.fingerprint
        )
    )


@pytest.mark.parametrize("files", [(), ("a.bin",)], ids=["empty", "one-file"])
def test_filter_inventory_without_patterns_returns_the_inventory_unchanged(
    files: tuple[str, ...],
) -> None:
    inv = inventory(*files)
    assert filter_inventory(inv, [], []) == Success(inv)


@pytest.mark.parametrize(
    ("paths", "include", "exclude", "text"),
    [
        (
            ("a.bin", "b.bin"),
            ["*.gguf"],
            [],
            "error: include/exclude patterns matched zero files out of 2 in the source\n"
            '  include: ["*.gguf"]\n'
            "  check your patterns — did you mean a different glob?",
        ),
        (
            ("m.onnx",),
            [],
            ["*.bin", "*.onnx"],
            "error: include/exclude patterns matched zero files out of 1 in the source\n"
            '  exclude: ["*.bin", "*.onnx"]\n'
            "  check your patterns — did you mean a different glob?",
        ),
        (
            ("m.onnx",),
            ["*.bin"],
            ["*.onnx"],
            "error: include/exclude patterns matched zero files out of 1 in the source\n"
            '  include: ["*.bin"]\n'
            '  exclude: ["*.onnx"]\n'
            "  check your patterns — did you mean a different glob?",
        ),
    ],
    ids=["include-only", "exclude-only", "both"],
)
def test_zero_survivors_is_reported_in_cogs_words(
    paths: tuple[str, ...], include: list[str], exclude: list[str], text: str
) -> None:
    result = filter_inventory(inventory(*paths), include, exclude)
    assert isinstance(result, Failure)
    lines = result.failure().lines()
    assert "\n".join(lines[:-1]) == text
    assert lines[-1].startswith("  hint: ")


_segment = st.text(
    alphabet=st.characters(
        blacklist_characters="/\\[]*?!#\n\r", blacklist_categories=("Cs", "Z", "Cc")
    ),
    min_size=1,
    max_size=8,
).filter(lambda s: s.strip() == s)
_paths = st.lists(_segment, min_size=1, max_size=4).map("/".join)


@pytest.mark.slow
@given(_paths)
def test_anchored_literal_path_selects_exactly_itself_and_what_lies_below(path: str) -> None:
    pattern = "/" + path
    assert pattern_error(pattern) is None
    assert selects(pattern, path)
    assert selects(pattern, path + "/child")
    assert not selects(pattern, path + "x")
    assert not selects(pattern, "x" + path)


@pytest.mark.slow
@given(_segment, _paths)
def test_star_extension_pattern_selects_files_with_that_extension_at_any_depth(
    ext: str, directory: str
) -> None:
    pattern = "*." + ext
    assert pattern_error(pattern) is None
    assert selects(pattern, f"{directory}/name.{ext}")
    assert not selects(pattern, f"{directory}/name.{ext}x")


def cog_regex(line: str) -> str:
    """go-gitignore's getPatternFromLine, step by step as import spec §5.1 describes it,
    for comparing selections (the patterns fed to it have no ``?``, ``[`` or metacharacters)."""
    if re.search(r"([^/+])/.*\*\.", line) and not line.startswith("/"):
        line = "/" + line
    line = line.replace(".", r"\.")
    if line.startswith("/**/"):
        line = line[1:]
    line = line.replace("/**/", "(/|/.+/)").replace("**/", "(|.#$~/)").replace("/**", "(|/.#$~)")
    line = line.replace(r"\*", r"\#$~").replace("*", "([^/]*)").replace("?", r"\?")
    line = line.replace("#$~", "*")
    expr = line + ("(|.*)$" if line.endswith("/") else "(|/.*)$")
    return ("^(|/)" + expr[1:]) if expr.startswith("/") else "^(|.*/)" + expr


_glob_text = st.text(alphabet="ab.*/", min_size=1, max_size=10).filter(lambda p: p.strip("/"))
_path_text = st.lists(st.text(alphabet="ab.", min_size=1, max_size=4), min_size=1, max_size=4).map(
    "/".join
)


@pytest.mark.slow
@given(_glob_text, st.lists(_path_text, min_size=1, max_size=8))
def test_patterns_without_fixed_syntax_select_exactly_what_cog_selects(
    pattern: str, paths: list[str]
) -> None:
    cog = re.compile(cog_regex(pattern))
    for path in paths:
        assert selects(pattern, path) == bool(cog.search(path)), (pattern, path)


@pytest.mark.parametrize(
    ("pattern", "path", "selected"),
    [
        ("[+-0]x", "+x", True),
        ("[+-0]x", "0x", True),
        ("[+-0]x", "/x", False),
        ("a[+-0]b", "a/b", False),
        ("[/]", "/", False),
        ("caf\u00e9-?.bin", "caf\u00e9-1.bin", True),
        ("\ue000x", "\ue000x", True),
        ("\ue000x", "y/\ue000x", True),
        ("?.bin", "\udcff.bin", True),
    ],
    ids=[
        "range-low",
        "range-high",
        "range-slash",
        "range-in-path",
        "only-slash",
        "utf8",
        "pua",
        "pua-floats",
        "non-utf8-name",
    ],
)
def test_classes_and_odd_characters_match_without_lookahead(
    pattern: str, path: str, selected: bool
) -> None:
    assert pattern_error(pattern) is None
    assert selects(pattern, path) is selected


def test_patterns_compile_to_re2_which_cannot_backtrack() -> None:
    matcher = compile_filter(["a*a*a*b"], []).include_re
    assert type(matcher).__module__.startswith("re2")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("a" * (MAX_PATTERN_LENGTH + 1), f"at most {MAX_PATTERN_LENGTH} are allowed"),
        ("a\x00b", "patterns must not contain control characters"),
        ("a\tb", "patterns must not contain control characters"),
        ("a\x85b", "patterns must not contain control characters"),
        ("a\ud800b", "pattern is not valid UTF-8"),
    ],
    ids=["too-long", "nul", "tab", "c1", "surrogate"],
)
def test_overlong_and_control_patterns_are_rejected(pattern: str, message: str) -> None:
    problem = pattern_error(pattern)
    assert problem is not None and message in problem


def test_a_pattern_at_the_length_limit_is_accepted() -> None:
    assert pattern_error("a" * MAX_PATTERN_LENGTH) is None


def test_too_many_patterns_are_one_config_error_naming_the_list() -> None:
    raw = {
        "image": "r.example.com/a/b",
        "weights": [
            {
                "name": "w",
                "target": "/src/w",
                "source": {"uri": "./w", "exclude": [f"*.x{i}" for i in range(MAX_PATTERNS + 1)]},
            }
        ],
    }
    result = parse_config(raw)
    assert isinstance(result, Failure)
    (problem,) = result.failure()
    text = "\n".join(problem.lines())
    assert "weights[0].source.exclude" in text
    assert f"{MAX_PATTERNS + 1} patterns given; at most {MAX_PATTERNS} are allowed" in text
    assert patterns_error([f"*.x{i}" for i in range(MAX_PATTERNS)]) is None
