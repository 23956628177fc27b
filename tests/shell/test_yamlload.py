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
