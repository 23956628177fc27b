"""Reading cog.yaml's YAML safely: every bad document is a located problem, never a crash.

PyYAML's ``safe_load`` is not enough on hostile input: deep nesting overflows its
recursive composer (``RecursionError``), some scalars fail in their constructors
(``int`` of more than 4 300 digits, a timestamp with day 31 of February: ``ValueError``),
and a repeated mapping key silently overwrites the first one. Cog's loader (Go's
yaml) rejects repeated keys with both line numbers; so does this one, in the same words.

The document is first walked as an event stream, which PyYAML parses without
recursion, to refuse nesting deeper than :data:`MAX_DEPTH` before anything is built.

Where PyYAML has libyaml (its wheels ship it), a document is read with libyaml's parser
first, about ten times faster on a cog.yaml of thousands of weights; the same checks run
on its events and the same constructor builds the values. Anything it refuses is read
again by the pure-Python loader, so every refusal keeps its exact words and position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

#: Deepest nesting of mappings and sequences accepted; cog.yaml needs about five.
MAX_DEPTH = 64
#: Most aliases accepted in one document; cog.yaml needs none (this stops alias bombs).
MAX_ALIASES = 1000


@dataclass(frozen=True, slots=True)
class YamlProblem(Exception):
    """Why the document was refused, with the 1-based position when one is known."""

    message: str
    line: int | None = None
    column: int | None = None


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        _refuse_duplicate_keys(self, node)
        return super().construct_mapping(node, deep=deep)


_FastLoader: type[Any] | None = None
# Where libyaml accepts what PyYAML refuses (a tab in a plain scalar, "?" in a flow
# collection, "!," as a tag, "|#" as a block scalar header, a directive with a comment),
# only the pure loader reads the document, so both agree (tests/shell/test_yamlload.py).
_PURE_ONLY = re.compile(rb"[\t?!]|[|>][-+0-9]*#|^%", re.MULTILINE)
if yaml.__with_libyaml__:

    class _CStrictLoader(yaml.CSafeLoader):
        """libyaml's parser and composer, SafeLoader's constructor, the same refusals."""

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            _refuse_duplicate_keys(self, node)
            return super().construct_mapping(node, deep=deep)

    _FastLoader = _CStrictLoader


def _refuse_duplicate_keys(
    loader: yaml.constructor.SafeConstructor, node: yaml.MappingNode
) -> None:
    first_lines: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # "<<" merges may repeat keys by design; the explicit key wins
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            first = first_lines.get(key)
        except TypeError:
            continue  # an unhashable key: construct_mapping reports it
        if first is None:
            first_lines[key] = line
        else:
            raise YamlProblem(
                f"mapping key {_go_quote(key)} already defined at line {first}",
                line,
                key_node.start_mark.column + 1,
            )


def _go_quote(key: Any) -> str:
    text = str(key)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_shape(data: bytes, loader: type[Any] = yaml.SafeLoader) -> int:
    """Refuse too deep nesting and too many aliases, reading events only; the aliases."""
    depth = 0
    aliases = 0
    for event in yaml.parse(data, Loader=loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _at(f"nested deeper than {MAX_DEPTH} levels", event)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _at(f"more than {MAX_ALIASES} aliases", event)
    return aliases


def _at(message: str, event: yaml.Event) -> YamlProblem:
    mark = event.start_mark
    if mark is None:
        return YamlProblem(message)
    return YamlProblem(message, mark.line + 1, mark.column + 1)


def load_yaml(data: bytes) -> object:
    """The one document in ``data`` as Python values; YamlProblem for anything wrong."""
    if _FastLoader is not None and not _PURE_ONLY.search(data):
        try:
            aliases = _check_shape(data, _FastLoader)
            return _load_fast(data, _FastLoader, aliases == 0)
        except Exception:  # the pure loader below says why, in its own words
            pass
    return _load_pure(data)


def _load_fast(data: bytes, loader_type: type[Any], tree: bool) -> object:
    """libyaml's nodes, built by :func:`_build` when ``tree`` (the document has no alias,
    so every node has one parent), else (or when it gives up) by the constructor."""
    loader = loader_type(data)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if tree:
            try:
                return _build(loader, node)
            except _Unusual:
                pass
        return loader.construct_document(node)
    finally:
        loader.dispose()


_STR, _SEQ, _MAP = (f"tag:yaml.org,2002:{kind}" for kind in ("str", "seq", "map"))


class _Unusual(Exception):
    """A node the constructor must build: another tag, a merge, a repeated or complex key."""


def _build(loader: Any, node: yaml.Node) -> Any:
    """The value SafeConstructor builds for ``node``, for strings, lists and dicts without
    the constructor's per-node bookkeeping (about three times faster on a cog.yaml of
    thousands of weights); other scalars are the constructor's. A repeated key gives up,
    so the loader refuses it in its own words."""
    if isinstance(node, yaml.ScalarNode):
        return node.value if node.tag == _STR else loader.construct_object(node, deep=True)
    if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
        return [_build(loader, child) for child in node.value]
    if not isinstance(node, yaml.MappingNode) or node.tag != _MAP:
        raise _Unusual
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag in _MERGE_TAGS:
            raise _Unusual
        key = _build(loader, key_node)
        if key in mapping:
            raise _Unusual
        mapping[key] = _build(loader, value_node)
    return mapping


# Keys SafeConstructor.flatten_mapping rewrites: "<<" merges and "=" (the value key).
_MERGE_TAGS = frozenset({"tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})


def _load_pure(data: bytes) -> object:
    try:
        _check_shape(data)
        return yaml.load(data, Loader=_StrictLoader)  # a SafeLoader subclass
    except YamlProblem:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        problem = exc.problem or str(exc)
        if mark is None:
            raise YamlProblem(problem) from None
        raise YamlProblem(problem, mark.line + 1, mark.column + 1) from None
    except yaml.reader.ReaderError as exc:
        if exc.encoding != "unicode":  # PyYAML's mark for "decoded, but not allowed"
            raise YamlProblem(f"not {exc.encoding} at byte {exc.position}: {exc.reason}") from None
        raise YamlProblem(
            f"character #x{exc.character:04x} at byte {exc.position}: {exc.reason}"
        ) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(str(exc)) from None
    except (ValueError, OverflowError, RecursionError) as exc:
        # A scalar its constructor cannot build (a 5 000-digit int, February 31st);
        # Python's own advice after ";" (set_int_max_str_digits) is not for users.
        raise YamlProblem(f"cannot read a value: {str(exc).split(';')[0]}") from None
