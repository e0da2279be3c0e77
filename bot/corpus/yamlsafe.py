"""Safe YAML loading: the libyaml C parser, a lean safe constructor, and no alias bombs.

``yaml.load(text, Loader=CSafeLoader)`` parses in C but builds Python objects through PyYAML's
generic constructor (a generator per collection, a state dict per node), which is ~40% of its
time on coverage records. Here libyaml composes the node tree and ``_build`` turns it into
plain values directly, handing anything unusual (explicit tags, ``!!set``, ``!!omap``) back to
``SafeConstructor`` so the result is exactly what safe loading gives. Only safe types are ever
built. The node tree is kept so a problem found later can name the line of the key it is about.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:  # libyaml makes cold ingest several times faster; the pure parser is the same grammar.
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - wheels ship libyaml on every platform we run on
    _BaseLoader = yaml.SafeLoader

# Coverage records never use anchors; a few repeated blocks are harmless, a "billion laughs"
# (aliases of aliases, a few hundred bytes expanding to millions of values) is an attack.
MAX_ALIAS_EXPANSION = 10_000
# libyaml's composer recurses in C: ~40,000 nested brackets overflow the stack and kill the
# process (measured: PyYAML 6.0.3 segfaults on "[" * 40000). Records nest four levels deep.
MAX_DEPTH = 500
# One wording whichever layer refuses (this module's guard, libyaml's own limit in PyYAML >= 6.0.4,
# or Python's recursion limit), so a user reads the same reason for the same file.
_TOO_DEEP = f"YAML nested too deeply (more than {MAX_DEPTH} levels); refused"
_ALIAS = re.compile(r"(?:^|[\s\[{,:-])\*[^\s,\]}]+")
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_SAFE = yaml.constructor.SafeConstructor()


_WILDCARD = tuple(_BaseLoader.yaml_implicit_resolvers.get(None, []))
_BY_FIRST = {
    first: (*resolvers, *_WILDCARD)
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    if first is not None
}
_PLAIN_TAGS: dict[str, str] = {}


class SafeLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """The safe loader with tag resolution trimmed to what safe loading registers.

    PyYAML's ``resolve`` runs in Python for every node (a record has ~170) and spends most of
    its time on path resolvers that safe loading never registers; with those gone it is the
    same lookup: the implicit resolvers for the scalar's first character, in order.
    """

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        """The tag of a node, as ``BaseResolver.resolve`` finds it without path resolvers."""
        if kind is ScalarNode:
            if implicit[0]:
                # Keys and enumerations repeat across records: remember their answers.
                tag = _PLAIN_TAGS.get(value)
                if tag is None:
                    tag = _STR
                    for candidate, regexp in _BY_FIRST.get(value[:1], _WILDCARD):
                        if regexp.match(value):
                            tag = candidate
                            break
                    if len(value) < 40:
                        if len(_PLAIN_TAGS) > 50_000:
                            _PLAIN_TAGS.clear()
                        _PLAIN_TAGS[value] = tag
                return tag
            return _STR
        return _SEQ if kind is SequenceNode else _MAP

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        """No path resolvers are registered: nothing to track."""

    def ascend_resolver(self) -> None:
        """No path resolvers are registered: nothing to track."""


_SCALARS = {
    tag: fn
    for tag, fn in yaml.constructor.SafeConstructor.yaml_constructors.items()
    if tag
    in (
        "tag:yaml.org,2002:null",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:timestamp",
    )
}


class YAMLProblem(ValueError):
    """YAML that could not be loaded; ``line`` is 1-based within the text given, when known."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def load(text: str, offset: int = 0) -> tuple[Any, Node | None]:
    """Load one YAML document safely; returns the value and its node tree (for line numbers).

    ``offset`` is the number of file lines before ``text`` (front matter starts on line 2), so
    every line a ``YAMLProblem`` names is a line of the file.
    """
    values, nodes = load_all(text, offset)
    if len(values) > 1:
        line = nodes[1].start_mark.line + 1 + offset if nodes[1].start_mark else None
        raise YAMLProblem(f"{len(values)} YAML documents where one was expected", line)
    return (values[0], nodes[0]) if values else (None, None)


def load_all(text: str, offset: int = 0) -> tuple[list[Any], list[Node]]:
    """Load every document of a YAML stream safely, with each document's node tree."""
    try:
        return _load_all(text)
    except YAMLProblem as exc:
        raise YAMLProblem(exc.reason, None if exc.line is None else exc.line + offset) from None
    except yaml.MarkedYAMLError as exc:
        problem, context = exc.problem_mark, exc.context_mark
        where = ""
        if context is not None and (problem is None or "end of stream" in str(exc.problem)):
            line = context.line + 1  # an unclosed quote or bracket: where it was opened
        else:
            line = problem.line + 1 if problem is not None else None
            if context is not None and line is not None and context.line + 1 != line:
                where = f" (from line {context.line + 1 + offset})"
        reason = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        if exc.context and where:
            reason = f"{exc.context}{where} {exc.problem}"
        if exc.problem and "maximum nesting depth" in exc.problem:
            # PyYAML >= 6.0.4's libyaml has a depth limit of its own and says so in its words.
            reason = _TOO_DEEP
        else:
            reason = f"malformed YAML: {reason or exc}"
        raise YAMLProblem(reason, None if line is None else line + offset) from None
    except yaml.YAMLError as exc:
        raise YAMLProblem(f"malformed YAML: {exc}") from None
    except RecursionError:
        raise YAMLProblem(_TOO_DEEP) from None


def _load_all(text: str) -> tuple[list[Any], list[Node]]:
    aliases = "*" in text and "&" in text
    openers = text.count("[") + text.count("{") + text.count("- ") + text.count("-\n")
    if openers > MAX_DEPTH or (aliases and _ALIAS.search(text)):
        _refuse_bombs(text)
    nodes = [n for n in yaml.compose_all(text, Loader=SafeLoader) if n is not None]
    memo: dict[int, Any] | None = {} if aliases else None
    return [_build(node, memo) for node in nodes], nodes


def _build(node: Node, memo: dict[int, Any] | None) -> Any:
    """Node tree to plain values; ``memo`` (when the text has aliases) shares, never copies."""
    cls = node.__class__
    if cls is ScalarNode:
        if node.tag == _STR:
            return node.value
        fn = _SCALARS.get(node.tag)
        return fn(_SAFE, node) if fn is not None else _fallback(node)
    if memo is not None and id(node) in memo:
        return memo[id(node)]
    if cls is MappingNode and node.tag == _MAP:
        out: dict[Any, Any] = {}
        if memo is not None:
            memo[id(node)] = out
        return _build_pairs(node, out, memo)
    if cls is SequenceNode and node.tag == _SEQ:
        items: list[Any] = []
        if memo is not None:
            memo[id(node)] = items
        items.extend(_build(item, memo) for item in node.value)
        return items
    return _fallback(node)


def _build_pairs(node: MappingNode, out: dict[Any, Any], memo: dict[int, Any] | None) -> Any:
    for key_node, value_node in node.value:
        # Keys and most values are plain strings: skip the call for those.
        if key_node.__class__ is ScalarNode and key_node.tag == _STR:
            key = key_node.value
        elif key_node.tag == _MERGE:  # "<<: *defaults": let PyYAML fold it in, then start over
            _SAFE.flatten_mapping(node)
            out.clear()
            return _build_pairs(node, out, memo)
        else:
            key = _build(key_node, memo)
        if value_node.__class__ is ScalarNode and value_node.tag == _STR:
            value = value_node.value
        else:
            value = _build(value_node, memo)
        try:
            out[key] = value
        except TypeError:
            line = key_node.start_mark.line + 1
            raise YAMLProblem("malformed YAML: a mapping key is a list or mapping", line) from None
    return out


def _fallback(node: Node) -> Any:
    """Explicitly tagged or unusual nodes: PyYAML's own safe constructor decides."""
    return yaml.constructor.SafeConstructor().construct_document(node)


def _refuse_bombs(text: str) -> None:
    """Refuse alias bombs and crash-deep nesting before composing anything.

    The parser's events are walked flat (no recursion, nothing built).

    An alias bomb is measured by what its aliases would expand to, counting each anchored
    subtree's values (aliases inside it included), not by how many aliases there are.
    """
    sizes: dict[str, int] = {}
    stack: list[list[Any]] = []  # [values so far, anchor] per open collection
    expanded = 0
    try:
        for event in yaml.parse(text, Loader=SafeLoader):
            cls = event.__class__
            if cls is yaml.ScalarEvent:
                n, anchor = 1, event.anchor
            elif cls is yaml.AliasEvent:
                n, anchor = sizes.get(event.anchor, 1), None
                expanded += n
                if expanded > MAX_ALIAS_EXPANSION:
                    raise YAMLProblem(
                        "YAML alias bomb refused: aliases would expand to more than "
                        f"{MAX_ALIAS_EXPANSION:,} values",
                        _event_line(event),
                    )
            elif cls is yaml.SequenceStartEvent or cls is yaml.MappingStartEvent:
                if len(stack) >= MAX_DEPTH:
                    raise YAMLProblem(_TOO_DEEP, _event_line(event))
                stack.append([1, event.anchor])
                continue
            elif cls is yaml.SequenceEndEvent or cls is yaml.MappingEndEvent:
                n, anchor = stack.pop()
            else:
                continue
            if anchor is not None:
                sizes[anchor] = n
            if stack:
                stack[-1][0] += n
    except yaml.YAMLError:
        return  # the real load reports the syntax error with its line


def _event_line(event: yaml.Event) -> int | None:
    return event.start_mark.line + 1 if event.start_mark else None


def line_of(node: Node | None, path: Sequence[str | int], offset: int = 0) -> int | None:
    """The 1-based line of ``path`` (keys and list indexes) under ``node``.

    Stops at the nearest ancestor found when the path leads nowhere; ``offset`` is the number
    of lines in the file before the YAML text starts.
    """
    if node is None:
        return None
    line = node.start_mark.line + 1 + offset if node.start_mark else None
    for step in path:
        nxt: Node | None = None
        if isinstance(node, MappingNode) and isinstance(step, str):
            for key_node, value_node in node.value:
                if isinstance(key_node, ScalarNode) and key_node.value == step:
                    line = key_node.start_mark.line + 1 + offset
                    nxt = value_node
                    break
        elif (
            isinstance(node, SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value)
        ):
            nxt = node.value[step]
            line = nxt.start_mark.line + 1 + offset
        if nxt is None:
            break
        node = nxt
    return line
