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
    SafeLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - wheels ship libyaml on every platform we run on
    SafeLoader = yaml.SafeLoader

# Coverage records never use anchors; a few repeated blocks are harmless, a "billion laughs"
# (aliases of aliases, a few hundred bytes expanding to millions of values) is an attack.
MAX_ALIAS_EXPANSION = 10_000
# libyaml's composer recurses in C: ~40,000 nested brackets overflow the stack and kill the
# process (measured: PyYAML 6.0.3 segfaults on "[" * 40000). Records nest four levels deep.
MAX_DEPTH = 500
_ALIAS = re.compile(r"(?:^|[\s\[{,:-])\*[^\s,\]}]+")
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_SAFE = yaml.constructor.SafeConstructor()
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


def load(text: str) -> tuple[Any, Node | None]:
    """Load one YAML document safely; returns the value and its node tree (for line numbers)."""
    values, nodes = load_all(text)
    if len(values) > 1:
        line = nodes[1].start_mark.line + 1 if nodes[1].start_mark else None
        raise YAMLProblem(f"{len(values)} YAML documents where one was expected", line)
    return (values[0], nodes[0]) if values else (None, None)


def load_all(text: str) -> tuple[list[Any], list[Node]]:
    """Load every document of a YAML stream safely, with each document's node tree."""
    aliases = "*" in text and "&" in text
    openers = text.count("[") + text.count("{") + text.count("- ") + text.count("-\n")
    if openers > MAX_DEPTH or (aliases and _ALIAS.search(text)):
        _refuse_bombs(text)
    try:
        nodes = [n for n in yaml.compose_all(text, Loader=SafeLoader) if n is not None]
        memo: dict[int, Any] | None = {} if aliases else None
        return [_build(node, memo) for node in nodes], nodes
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise YAMLProblem(f"malformed YAML: {reason or exc}", line) from None
    except yaml.YAMLError as exc:
        raise YAMLProblem(f"malformed YAML: {exc}") from None
    except RecursionError:
        raise YAMLProblem("malformed YAML: nested too deeply") from None


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
        pairs = node.value
        if any(k.tag == _MERGE for k, _ in pairs):
            _SAFE.flatten_mapping(node)
            pairs = node.value
        for key_node, value_node in pairs:
            key = _build(key_node, memo)
            value = _build(value_node, memo)
            try:
                out[key] = value
            except TypeError:
                line = key_node.start_mark.line + 1
                raise YAMLProblem(
                    "malformed YAML: a mapping key is a list or mapping", line
                ) from None
        return out
    if cls is SequenceNode and node.tag == _SEQ:
        items: list[Any] = []
        if memo is not None:
            memo[id(node)] = items
        items.extend(_build(item, memo) for item in node.value)
        return items
    return _fallback(node)


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
                    raise YAMLProblem(
                        f"YAML nested more than {MAX_DEPTH} levels deep; refused",
                        _event_line(event),
                    )
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
