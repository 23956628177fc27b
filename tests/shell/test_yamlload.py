"""The YAML reader: libyaml's parser where PyYAML has it, the pure loader's words always.

Every document is read twice, by ``load_yaml`` and by the pure-Python loader alone: they
must agree on the values and, for a refused document, on the exact problem.
"""

from __future__ import annotations

import random

import pytest
import yaml

from cogw.shell import yamlload
from cogw.shell.yamlload import YamlProblem, load_yaml

GOOD = [
    "image: x/y\nweights:\n  - name: a\n    target: /a\n    source: {uri: w}\n",
    "a: &base {x: 1, y: [1, 2.5, true, null, ~, 0x1f, 2001-12-14]}\nb:\n  <<: *base\n  x: 2\n",
    "a: 'quoted'\nb: \"esc\\t\\u00e9\"\nc: |\n  block\n  text\nd: >\n  folded\n",
    "\ufeffkey: value\n",
    "- 1\n- [2, {3: 4}]\n- ? complex\n  : key\n",
    "",
    "# only a comment\n",
]

BAD = [
    "weights: [\n",
    "image: x/y\nweights: " + "[" * 3000 + "]" * 3000 + "\n",
    "a: &a [1]\nb: [" + ", ".join(["*a"] * 1001) + "]\n",
    "image: x/y\nweights:\n  - name: a\n    name: b\n",
    "image: x/y\nsize: " + "9" * 5000 + "\n",
    "when: 2001-02-31\n",
    "a: \x01\n",
    "a: b\n\x7f",
    "{[1]: 2}\n",
    "a: 1\n---\nb: 2\n",
    "a: *missing\n",
    "\tkey: tab\n",
]


SEEDS = [
    GOOD[0].encode(),
    GOOD[1].encode(),
    b'%YAML 1.1\n---\na: "\\x41\\u00e9"\nb: >-\n  f\n\n  g\n...\n',
    b"- ? a\n  : b\n- |\n  t\n- !!str 5\n- !!binary aGk=\n",
]
ALPHABET = b" \t\r\n:-[]{},&*!|>'\"#%@`?\x00\x01\x7f\xc3\xa9\xff\x85\xe2\x80\xa8ab1.\\<=~+"


def _mutants(count: int) -> list[bytes]:
    """Documents a few bytes away from valid ones: where the two parsers' edges are."""
    rnd = random.Random(11)
    found = []
    for _ in range(count):
        doc = bytearray(rnd.choice(SEEDS))
        for _ in range(rnd.randint(1, 6)):
            pos = rnd.randrange(len(doc))
            doc[pos : pos + rnd.randint(0, 1)] = bytes([rnd.choice(ALPHABET)])
        found.append(bytes(doc))
    return found


def _pure(data: bytes) -> object:
    return yamlload._load_pure(data)


def _outcome(load: object, data: bytes) -> object:
    try:
        return ("value", load(data))  # type: ignore[operator]
    except YamlProblem as problem:
        return ("problem", problem)


@pytest.mark.parametrize("text", GOOD)
def test_a_good_document_reads_as_the_pure_loader_reads_it(text: str) -> None:
    data = text.encode()
    assert _outcome(load_yaml, data) == _outcome(_pure, data)
    assert _outcome(load_yaml, data)[0] == "value"


@pytest.mark.parametrize("text", BAD)
def test_a_refused_document_has_the_pure_loaders_exact_problem(text: str) -> None:
    data = text.encode()
    outcome = _outcome(load_yaml, data)
    assert outcome[0] == "problem"
    assert outcome == _outcome(_pure, data)


def test_documents_near_valid_ones_read_alike_by_both_paths() -> None:
    differ = [d for d in _mutants(3000) if _outcome(load_yaml, d) != _outcome(_pure, d)]
    assert differ == []


def test_invalid_utf8_is_refused_with_its_byte_position() -> None:
    problem = _outcome(load_yaml, b"a: \xff\xfe\n")[1]
    assert isinstance(problem, YamlProblem)
    assert problem == _outcome(_pure, b"a: \xff\xfe\n")[1]
    assert "utf-8" in problem.message


def test_libyaml_is_used_where_pyyaml_has_it() -> None:
    assert (yamlload._FastLoader is not None) == bool(yaml.__with_libyaml__)


def test_without_libyaml_the_pure_loader_reads_and_refuses_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(yamlload, "_FastLoader", None)
    assert load_yaml(GOOD[0].encode()) == _pure(GOOD[0].encode())
    with pytest.raises(YamlProblem, match="already defined at line 3"):
        load_yaml(BAD[3].encode())


def test_a_refusal_by_libyaml_goes_to_the_pure_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path never answers for a document it refused: the pure loader does."""
    if yamlload._FastLoader is None:
        pytest.skip("PyYAML without libyaml")
    calls: list[bytes] = []
    monkeypatch.setattr(yamlload, "_load_pure", lambda data: calls.append(data) or "pure")
    assert load_yaml(b"a: 1\n") == {"a": 1} and calls == []
    assert load_yaml(b"a: [\n") == "pure" and calls == [b"a: [\n"]


# Where building the node tree directly must hand over to the constructor, or agree with it.
EDGES = [
    "a: !!set {x, y}\n",
    "a: !!omap [{x: 1}, {y: 2}]\n",
    "a: !!pairs [{x: 1}, {x: 2}]\n",
    "=: 1\n",
    "{1: a, 1.0: b}\n",
    "{true: a, 1: b}\n",
    ".nan: 1\n.nan: 2\n",
    "a: !!binary aGk=\n",
    "? [a, b]\n: c\n",
    "a: &x [1]\nb: *x\n",
    "a: {b: {c: [1, {d: e}]}}\n",
    "a: !custom x\n",
    "a: !!python/name:os.system x\n",
    "a: 1\nb: 2\na: 3\n",
    "- 0o17\n- 0x1F\n- 1_000\n- 2001-12-14t21:59:43.10-05:00\n- .inf\n",
    "k: !!str 12\n!!str 1: v\n",
]


@pytest.mark.parametrize("text", EDGES)
def test_edge_documents_read_as_the_pure_loader_reads_them(text: str) -> None:
    data = text.encode()
    assert _outcome(load_yaml, data) == _outcome(_pure, data)


def test_a_plain_cog_yaml_is_built_from_its_nodes_without_the_constructor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if yamlload._FastLoader is None:
        pytest.skip("PyYAML without libyaml")

    def refuse(self: object, node: object) -> object:
        raise AssertionError("the constructor built the document")

    data = GOOD[0].encode() + b"build:\n  gpu: true\n  python_version: '3.11'\n"
    expected = _pure(data)
    monkeypatch.setattr(yamlload._FastLoader, "construct_document", refuse)
    monkeypatch.setattr(yamlload, "_load_pure", lambda data: "pure")
    assert load_yaml(data) == expected


@pytest.mark.parametrize("text", [t for t in [*GOOD, *EDGES] if "&" not in t])
def test_the_node_builder_builds_what_the_constructor_builds_or_gives_up(text: str) -> None:
    # Called directly: "!" and "?" send a whole document to the pure loader, so tags and
    # complex keys never reach the builder through load_yaml. (Aliases never reach it.)
    if yamlload._FastLoader is None:
        pytest.skip("PyYAML without libyaml")

    def node_and_loader() -> tuple[object, object]:
        loader = yamlload._FastLoader(text.encode())
        return loader.get_single_node(), loader

    node, loader = node_and_loader()
    if node is None:
        return
    try:
        built = yamlload._build(loader, node)
    except yamlload._Unusual:
        return
    except Exception as exc:  # a scalar its constructor refuses: it refuses alike
        with pytest.raises(type(exc)):
            node, loader = node_and_loader()
            loader.construct_document(node)  # type: ignore[attr-defined]
        return
    node, loader = node_and_loader()
    assert built == loader.construct_document(node)  # type: ignore[attr-defined]
